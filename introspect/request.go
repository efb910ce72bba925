package introspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/httpheader"
	"github.com/grpcauth/grpcauth/internal/jitter"
	"github.com/grpcauth/grpcauth/internal/provenance"
	"github.com/grpcauth/grpcauth/verifier"
)

// post sends one introspection request for token, sent at backoff
// generation gen (see backoff.sent), bounded by
// Config.Timeout, and returns the body of a 200 answer, which it leaves
// to its caller to count as usable (backoff.reset) once interpreted. Every
// failure, including the timeout, is ErrUnavailable and logged; one of
// the network (see networkError), or a status that says the endpoint is
// overloaded or down (see statusError), backs off. Except that ctx's own
// error is returned, unlogged, when ctx ended (the request was abandoned by
// its callers or by Close). The text of a failure is clipped, and holds
// neither the token nor the client credentials, as written or in any
// other form endpoint.RedactSecrets seeks (%q-quoted, JSON-escaped,
// percent-encoded by several encoders: endpoint.RequestErrorText; the token as a value of the
// request's form, so that one of fewer than 4 bytes, which is no
// credential, stays: a caller's "e" would otherwise have every "e" of
// the text read [REDACTED]; a client secret that short withholds a text
// holding it whole, endpoint.WithheldText):
// net/http may quote what the server sent at length, the request echoed
// included, and the error reaches every refused call's decision. The body of an
// answer refused by its status (but 401 and 403: see refused) or, on a
// 200, by its Content-Type is discarded (see discard), never kept.
func (v *Verifier) post(ctx context.Context, token string, gen uint64) ([]byte, error) {
	reqCtx, cancel := context.WithTimeout(ctx, v.s.Timeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if v.s.AuthMethod == ClientSecretPost {
		form.Set("client_id", v.s.ClientID)
		form.Set("client_secret", v.s.clientSecret())
	}
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, v.s.Endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, unavailable("building the request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if v.s.AuthMethod == ClientSecretBasic {
		// RFC 6749 §2.3.1: form-urlencode id and secret, then Basic.
		req.SetBasicAuth(url.QueryEscape(v.s.ClientID), url.QueryEscape(v.s.clientSecret()))
	}
	resp, err := v.s.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, v.fail(ctx, failNetwork, v.networkError(gen, "request failed: %s", endpoint.RequestErrorText(err, req, v.s.clientSecret())))
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		// Not a usable answer yet: the backoff starts again only once
		// its body has been read and interpreted (Verifier.introspect).
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, v.refused(ctx, resp, cancel, gen)
	default:
		// A 429's or 503's pause is recorded (statusError) as soon as its
		// status and headers are in, before the body is read: while a
		// slow body was read first, every other caller's request went out
		// meanwhile, to a server that had said it would refuse them.
		err := v.fail(ctx, statusKind(resp.StatusCode), v.statusError(resp, gen))
		v.discard(resp, cancel)
		return nil, err
	}
	// The label first: a body refused for it is not worth its memory. Its
	// media type decides, not its parameters (see jsonLabel).
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if !jsonLabel(ct) {
			err := v.fail(ctx, failMalformed, unavailable("response is not application/json"))
			v.discard(resp, cancel)
			return nil, err
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.s.MaxResponseSize+1))
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, v.fail(ctx, failNetwork, v.networkError(gen, "reading the response: %s", endpoint.RequestErrorText(err, req, v.s.clientSecret())))
	case int64(len(body)) > v.s.MaxResponseSize:
		return nil, v.fail(ctx, failOversized, unavailable("response larger than MaxResponseSize"))
	}
	return body, nil
}

// jsonLabel reports whether a 200 answer's Content-Type, ct, names the
// media type application/json (in any case), whatever its parameters: one
// whose parameters do not parse ("application/json; charset",
// "application/json;charset=") is read as its media type, which
// mime.ParseMediaType returns with ErrInvalidMediaParameter. The label is
// looked at only to refuse, before reading it, a body that says it is not
// JSON (a proxy's HTML page); the body is then parsed strictly whatever
// its label, no parameter is used (JSON is UTF-8), and an answer without
// a Content-Type is read too, so a broken parameter, which says no more
// than a missing label, refused every token's answer for nothing (before,
// such an answer was ErrUnavailable). A label for which
// mime.ParseMediaType returns no media type (it does with no error or
// with ErrInvalidMediaParameter only) is refused: one that is not one
// media type ("application/json, text/html"), or names a parameter twice
// with two values.
func jsonLabel(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json"
}

// maxRefusedBody bounds the bytes read of the body of an answer post
// refuses by its status or its Content-Type (see readRefused): 64 KiB, or
// MaxResponseSize when less. An OAuth error response, a proxy's error page
// or Okta's 429 body takes far less; a MaxResponseSize raised for large
// answers does not make the body of every 429 worth reading to its size.
const maxRefusedBody = 64 << 10

// maxRefusedBodyTime bounds how long the body of an answer post refuses is
// read (see readRefused): one second from its headers, or what is left of
// Timeout when that is less. Such a body comes with its headers, or almost:
// one that trickles would otherwise hold its caller, a MaxConcurrent slot
// and a connection for the rest of Timeout, for nothing.
const maxRefusedBodyTime = time.Second

// readRefused copies to w the body of an answer post refuses by its status
// or, on a 200, by its Content-Type, whose only use is a 401's or 403's
// invalid_client (see refused) and letting the connection carry the next
// request: at most maxRefusedBody bytes (MaxResponseSize when less), plus
// the one byte that lets a body of exactly that many bytes show its end (a
// chunked body's end comes after its last byte, and net/http closes a
// connection whose body's end it has not seen), and for at most
// maxRefusedBodyTime, after which cancel ends the request, and with it the
// read and the connection (over HTTP/2, the stream only); cut then reports
// it (when err is not nil). A longer body's connection is closed too (its
// stream reset), when post closes the body; reading it stops at the bound
// without an error.
func (v *Verifier) readRefused(w io.Writer, resp *http.Response, cancel context.CancelFunc) (cut bool, err error) {
	stop := v.afterFunc(maxRefusedBodyTime, cancel)
	_, err = io.Copy(w, io.LimitReader(resp.Body, min(v.s.MaxResponseSize, maxRefusedBody)+1))
	return !stop(), err
}

// discard reads the body of an answer post refuses by its status or its
// Content-Type, of no use, only so that the connection may carry the next
// request: without keeping it, and bounded as readRefused reads it.
func (v *Verifier) discard(resp *http.Response, cancel context.CancelFunc) {
	_, _ = v.readRefused(io.Discard, resp, cancel)
}

// refused is post's error for a 401 or 403 answer, whose body (read as
// readRefused reads it, with cancel ending the request) tells whether the
// server refused this service's client credentials (invalidClient), which
// pauses requests, or something else refused this one request, which
// pauses none. The pause is recorded once the body has been read: its word
// is there, and until then requests sent by other callers meanwhile (at
// most MaxConcurrent at once, and for at most maxRefusedBodyTime) go out.
// The body's Content-Type is not consulted: only a JSON object whose
// "error" is "invalid_client" pauses, and nothing else (an HTML page, a
// caller's token echoed: no b64token holds a '"') parses as one, whatever
// its label. Only invalid_client, the server's own word, starts the
// backoff again (backoff.reset, for a request sent at generation gen):
// another 401 or 403 may be a proxy's or a firewall's, provoked by the
// token, and says nothing of the server's health (before, every 401 or
// 403 started it again, so a caller whose token a firewall refuses could
// hold each pause of an overloaded server at a second). A body cut short
// (by its second, Timeout, or a broken connection) pauses nothing either, and is logged as such, not as one
// without invalid_client; one longer than its bound in bytes is judged by
// the bytes read, which hold no whole JSON object: without invalid_client. When ctx ends while the body is read, it returns
// ctx's error, unlogged, as post does.
func (v *Verifier) refused(ctx context.Context, resp *http.Response, cancel context.CancelFunc, gen uint64) error {
	var b bytes.Buffer
	cut, err := v.readRefused(&b, resp, cancel)
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err() // abandoned: unlogged, as post's other reads
	case err != nil:
		// Cut short (its second, Timeout, a broken connection): what it
		// said is unknown, and pauses nothing, as a body without
		// invalid_client. (Before, it was logged as one.)
		why := "could not be read: " + endpoint.ClipError(err)
		if cut {
			why = fmt.Sprintf("did not come within %v", maxRefusedBodyTime)
		}
		return v.fail(ctx, failRefused, unavailable(
			"the endpoint answered status %d, and its body %s: whether it said invalid_client is unknown; if it refused this service's client credentials, check ClientID, ClientSecret and AuthMethod", resp.StatusCode, why))
	}
	if invalidClient(b.Bytes()) {
		// The server refused this service, not the token (RFC 7662
		// §2.3, RFC 6749 §5.2): every request would be refused alike
		// until the credentials are put right. Pause them, as for a
		// 429, rather than send each caller's on to the server (which
		// may count them against this client, up to locking it out).
		v.backoff.reset(gen)
		d := v.credentialsPause()
		v.pause(d)
		return v.fail(ctx, failCredentials, unavailable(
			"the endpoint refused this service's client credentials (status %d, invalid_client): check ClientID, ClientSecret and AuthMethod; no request for %v", resp.StatusCode, pauseText(d)))
	}
	// Not said to be the credentials: a proxy's or a firewall's refusal of
	// this one request, which the token may have provoked, must not pause
	// the others'.
	return v.fail(ctx, failRefused, unavailable(
		"the endpoint answered status %d, without invalid_client: if it refused this service's client credentials, check ClientID, ClientSecret and AuthMethod", resp.StatusCode))
}

// invalidClient reports whether body is an OAuth 2.0 error response (RFC
// 6749, 5.2) whose error is "invalid_client": the server's word that this
// service's client authentication failed, whatever the token. The member
// is the one named exactly "error" (the last when repeated), as
// parseResponse reads "active": a struct field would also take "Error" or
// "ERROR", so that {"error":"invalid_request","Error":"invalid_client"}
// paused every request.
func invalidClient(body []byte) bool {
	code, ok := stringMember(body, "error")
	return ok && code == "invalid_client"
}

// stringMember returns the value of the member of the JSON object obj
// named exactly name (the last one when repeated, as parseResponse reads
// "active"), and whether obj is one object with such a member whose value
// is a string. A struct field would match a member named in another case
// too ("Error", "JKT"), which no other reader of the answer takes for it.
func stringMember(obj []byte, name string) (string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return "", false
	}
	var s *string // nil for a JSON null
	if json.Unmarshal(m[name], &s) != nil || s == nil {
		return "", false
	}
	return *s, true
}

// credentialsPause is how long a 401 or 403 invalid_client answer pauses
// requests: Cache.NegativeTTL (how long any refusal is reused), at most
// maxRetryAfter.
func (v *Verifier) credentialsPause() time.Duration {
	return min(v.s.Cache.NegativeTTL, maxRetryAfter)
}

// statusError is the error of an answer with a status other than 200,
// 401 and 403, to a request sent at backoff generation gen. A 429 (RFC
// 6585, 4) or 503 with a Retry-After (RFC 9110, 10.2.3), or a 429 without
// one but with an X-Rate-Limit-Reset (Okta's: the Unix time its
// rate-limit window resets, in milliseconds from
// httpheader.MillisecondsFrom on), also pauses the requests, which the
// server would refuse meanwhile: none is sent until it ends, at most
// maxRetryAfter on. A 429 or 503 with neither (or whose Retry-After is
// unparsable, 0 or past, or whose X-Rate-Limit-Reset is not after now),
// and a 502 or 504 whatever its headers (a gateway's Retry-After is not
// read: RFC 9110 gives it meaning on a 503 only), back off (see
// backoff): they pause the requests for a second, doubled for each
// consecutive burst of such answers up to maxRetryAfter, and brought
// forward by up to a tenth at random (jitter.Earlier), so that replicas
// refused together do not all ask again in one instant; one of a burst
// already counted pauses nothing more. Before, a 429 or 503 without a
// wait paused nothing, nor did a 502 or 504 (what a gateway in front of
// the server, Okta's or a CDN's, answers while the server is down), and
// every next call asked the server again at once. A 429 or 503 whose
// wait decides, to a request sent since the last step, starts the
// backoff again from a second (backoff.reset); any other status (a 500,
// a 501, a 400, a 404) neither takes a step nor starts the backoff
// again, as a malformed 200 does not: a server failing, or something on
// the way refusing, one request (the token may provoke either) is no
// sign that the server has recovered, nor that it is down. (Before, it
// started the backoff again, so an overloaded server's 500s, or a
// caller's token a proxy refuses, held each of its pauses at a second.) Config.Now is read once for the answer: the
// time its headers are judged at is the time its backoff step is taken
// at (before, the step read the clock again, so a clock that moved
// between the two readings judged one answer at two times). Recording a
// pause reads it once more, after the pause it may replace (see pause).
func (v *Verifier) statusError(resp *http.Response, gen uint64) error {
	now := v.s.Now()
	if d, header := httpheader.Wait(resp, now); d > 0 {
		v.backoff.reset(gen)
		d = min(d, maxRetryAfter)
		v.pause(d)
		return unavailable("endpoint answered status %d: no request for %v, as its %s says", resp.StatusCode, pauseText(d), header)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return v.backOff(gen, now, false, fmt.Sprintf("endpoint answered status %d without a usable Retry-After or X-Rate-Limit-Reset", resp.StatusCode))
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return v.backOff(gen, now, false, fmt.Sprintf("endpoint answered status %d (a gateway's: the server behind it did not answer)", resp.StatusCode))
	}
	return unavailable("endpoint answered status %d", resp.StatusCode)
}

// networkError is the error of a request sent at backoff generation gen
// that got no usable answer from the network (unreachable, refused, timed
// out, its answer broken off), said by format and args, which hold no
// secret (endpoint.RequestErrorText): it backs off (see backoff), but
// for the first burst of such failures since the backoff started again,
// which is forgiven, so that one transient failure pauses nothing. Before,
// no network failure paused anything, so an endpoint that was down was
// asked again by every call, at MaxRequestRate at most.
func (v *Verifier) networkError(gen uint64, format string, args ...any) error {
	return v.backOff(gen, v.s.Now(), true, fmt.Sprintf(format, args...))
}

// backOff takes a backoff step at now, the time the failure's caller read
// once for it, for a failure, said by what, of a request sent at
// generation gen, a network failure when network is set (see
// backoff.step), records the step's pause, jittered, and returns the
// failure's error, which says how long it pauses requests, if it does.
func (v *Verifier) backOff(gen uint64, now time.Time, network bool, what string) error {
	d := v.backoff.step(gen, now, network, func(d time.Duration) time.Duration {
		d = jitter.Earlier(d, v.random())
		v.pause(d)
		return d
	})
	switch {
	case d > 0:
		return unavailable("%s: backing off, no request for %v", what, pauseText(d))
	case network:
		return unavailable("%s", what)
	}
	return unavailable("%s: backing off", what)
}

// pauseText is pause d as an error says it: rounded up to the
// millisecond, so that neither a jittered pause (987.654321ms) nor what is
// left of one is said to the nanosecond, and one that is not over is never
// said to run 0s. (Before, errors said it to the nanosecond.)
func pauseText(d time.Duration) time.Duration {
	if r := d % time.Millisecond; r > 0 {
		d += time.Millisecond - r
	}
	return d
}

// response is a decoded introspection response.
type response struct {
	members map[string]json.RawMessage
	active  bool
}

// parseResponse decodes an RFC 7662 response: exactly one JSON object whose
// "active" member (exact name; the last one when repeated, as everywhere)
// is the JSON literal true or false. Anything else is an error.
func parseResponse(body []byte) (response, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return response{}, errors.New("not a JSON object")
	}
	switch string(bytes.TrimSpace(m["active"])) {
	case "true":
		return response{members: m, active: true}, nil
	case "false":
		return response{members: m}, nil
	}
	return response{}, errors.New(`"active" is missing or not a boolean`)
}

// interpret turns a 200 response body into claims that passed the static
// checks (issuer, audience, client, token type, exp present), or an error.
func (v *Verifier) interpret(ctx context.Context, body []byte) (verifier.Claims, error) {
	r, err := parseResponse(body)
	if err != nil {
		return verifier.Claims{}, v.fail(ctx, failMalformed, unavailable("malformed response: %v", err))
	}
	if !r.active {
		return verifier.Claims{}, ErrInactive
	}
	if raw, ok := r.members["iss"]; !ok || string(bytes.TrimSpace(raw)) == "null" {
		// The server that answered vouches for the token: name it.
		r.members["iss"] = v.issuerJSON
		if body, err = encodeMembers(r.members); err != nil {
			return verifier.Claims{}, unavailable("re-encoding the response: %v", err)
		}
	}
	c, err := parseClaims(body, v.s.ScopeClaims)
	if err != nil {
		// The authorization server's answer, not the caller's token, is
		// at fault: a claim of the wrong type.
		return verifier.Claims{}, v.fail(ctx, failMalformed, unavailable("response claims: %v", err))
	}
	if err := v.checkStatic(c, r.members["token_type"]); err != nil {
		return verifier.Claims{}, err
	}
	return c, nil
}

// parseClaims is verifier.ParseClaims for an answer: the claims are marked
// as built by introspection (internal/provenance), which is how Combined
// tells them from a JWT's, whatever members either has.
func parseClaims(body []byte, scopeClaims []string) (verifier.Claims, error) {
	c, err := provenance.ParseIntrospected(body, scopeClaims)
	claims, _ := c.(verifier.Claims)
	return claims, err
}

// introspected reports whether claims were built by parseClaims: accepted
// by an introspection Verifier.
func introspected(claims verifier.Claims) bool { return provenance.Introspected(claims) }

// encodeMembers encodes the members of a response as a JSON object, each
// value as it was sent: without the HTML escaping json.Marshal adds, which
// would turn "&", "<" and ">" in strings into \u0026 and the like, so that
// a long string claim could become one the claims parser refuses (it
// bounds escaped registered strings to 1 KiB) and the members would not be
// read as the server sent them.
func encodeMembers(members map[string]json.RawMessage) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(members); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// checkStatic runs the checks whose outcome does not change with time.
func (v *Verifier) checkStatic(c verifier.Claims, tokenType json.RawMessage) error {
	if c.Issuer() != v.s.Issuer {
		return errIssuer
	}
	if !v.s.SkipAudienceCheck {
		aud := c.Audience()
		switch {
		case len(aud) == 0:
			return errNoAudience
		case !containsAny(aud, v.s.Audiences):
			return errAudience
		}
	}
	if len(v.s.ClientIDs) > 0 {
		switch {
		case c.ClientID() == "" && namesAClient(c):
			return errClientIDs // see verifier.Claims.ClientID
		case c.ClientID() == "":
			return errNoClientID
		case !containsAny([]string{c.ClientID()}, v.s.ClientIDs):
			return errClientID
		}
	}
	if tokenType != nil && string(bytes.TrimSpace(tokenType)) != "null" {
		var tt string
		if json.Unmarshal(tokenType, &tt) != nil || !v.acceptedType(tt) {
			return errTokenType
		}
		if strings.EqualFold(tt, tokenTypeDPoP) && !hasJKT(c) {
			return errDPoPUnbound
		}
	}
	if c.Expiry().IsZero() && !v.s.SkipExpiryRequirement {
		return errNoExp
	}
	return nil
}

// tokenTypeDPoP is the token_type of a DPoP-bound token (RFC 9449, section
// 6.2).
const tokenTypeDPoP = "DPoP"

// hasJKT reports whether the claims carry cnf with a non-empty string
// member named exactly jkt (the last when repeated: stringMember), the
// binding a DPoP-bound token's introspection response must state (RFC
// 9449, section 6.2). That jkt's form, and the proof, are checked by
// whoever checks the proof (the grpcauth interceptors, which read the
// member by that exact name too). Before, cnf was decoded into a struct
// field, which takes "JKT" or "Jkt" as well: an answer binding nothing
// under the exact name passed as bound.
func hasJKT(c verifier.Claims) bool {
	raw, ok := c.Raw("cnf")
	if !ok {
		return false
	}
	jkt, ok := stringMember(raw, "jkt")
	return ok && jkt != ""
}

func (v *Verifier) acceptedType(tt string) bool {
	for _, t := range v.s.TokenTypes {
		if strings.EqualFold(t, tt) {
			return true
		}
	}
	return false
}

func containsAny(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// issuerJSONValue returns issuer as a JSON string.
func issuerJSONValue(issuer string) json.RawMessage {
	b, _ := json.Marshal(issuer) // a string always encodes
	return b
}

// namesAClient reports whether c has a non-empty string cid, client_id or
// azp: when c.ClientID() is empty all the same, they name different
// clients (see verifier.Claims.ClientID).
func namesAClient(c verifier.Claims) bool {
	for _, name := range [...]string{"cid", "client_id", "azp"} {
		var s string
		if c.Claim(name, &s) == nil && s != "" {
			return true
		}
	}
	return false
}
