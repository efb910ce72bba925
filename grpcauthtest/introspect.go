package grpcauthtest

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/internal/expheap"
	"github.com/grpcauth/grpcauth/internal/jwsalg"
)

// introspection is the state of the introspection endpoint (RFC 7662):
// the opaque tokens the issuer has minted and the tokens it has revoked.
type introspection struct {
	requests atomic.Int64

	mu     sync.Mutex
	opaque map[string]map[string]any // opaque token → its claims
	// expiries holds the opaque tokens with a numeric exp, soonest
	// first: each mint forgets those that have expired (see
	// MintOpaqueClaims).
	expiries expheap.Heap[float64, string]
	// revoked maps the SHA-256 of each of the issuer's own JWTs revoked
	// to its exp, "" when it has none (see Revoke). Entries whose exp has passed are
	// swept out when the map reaches sweepAt entries.
	revoked map[[sha256.Size]byte]json.Number
	sweepAt int
}

// minRevokedSweep is the size of the revoked set at which Revoke first
// sweeps out the entries of expired tokens; after a sweep the next one
// comes when the set has doubled, so sweeping costs O(1) per Revoke.
const minRevokedSweep = 64

// IntrospectionURL returns URL()+"/v1/introspect", the token introspection
// endpoint (RFC 7662; Okta's layout). It is advertised as
// "introspection_endpoint" in the metadata documents.
func (i *Issuer) IntrospectionURL() string { return i.url + "/v1/introspect" }

// IntrospectionRequests returns how many POST requests the introspection
// endpoint has received, answered or refused, so tests can assert how often
// a resource server introspected.
func (i *Issuer) IntrospectionRequests() int64 { return i.intro.requests.Load() }

// MintOpaque issues an opaque access token to clientID for scopes, as Token
// does for JWTs (the same rules for configured and unknown clients, and for
// scopes), and stores it so that the introspection endpoint reports it
// active until it expires (Now + TokenLifetime) or is revoked. The token is
// 43 random base64url characters: not a JWT, so it can only be verified by
// introspection.
func (i *Issuer) MintOpaque(clientID string, scopes ...string) (string, error) {
	scopes, err := i.clientScopes(clientID, scopes)
	if err != nil {
		return "", err
	}
	claims := map[string]any{"sub": clientID, "client_id": clientID}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	return i.MintOpaqueClaims(claims)
}

// MintOpaqueClaims issues an opaque token whose introspection response
// carries claims merged over the defaults, as Mint merges them: iss, aud, sub
// and client_id (DefaultClientID), iat, exp (Now + TokenLifetime) and a
// random jti; nil removes a claim, a time.Time becomes a NumericDate. Scopes
// go in "scope" as a space-separated string, as RFC 7662 has them. The
// endpoint reports the token active until its exp, if any, passes (by
// Config.Now) or Revoke is called (an exp that is not a number, such as
// "soon", never passes: the answer carries it as it is, for a test of a
// malformed answer), and adds "active": true and, unless claims set
// token_type, "token_type": "DPoP" when claims bind the token to a DPoP
// key (a cnf with a jkt), "Bearer" otherwise.
//
// Each call first forgets every stored token whose exp has passed (by
// Config.Now; the endpoint answers inactive for it anyway), soonest first,
// at O(log n) a token: however fast tokens are minted, the issuer stores
// the unexpired ones alone (a revoked one's exp, about 60 bytes, until it
// passes), and those without a numeric exp, which are kept for its
// lifetime (as many as the test minted so).
func (i *Issuer) MintOpaqueClaims(claims map[string]any) (string, error) {
	payload := i.defaultClaims(ShapeRFC9068)
	mergeClaims(payload, claims)
	// Round-trip through JSON so that the stored claims are what the
	// endpoint will serve, and fail here on values JSON cannot encode.
	b, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("grpcauthtest: encode claims: %w", err)
	}
	var stored map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&stored); err != nil {
		return "", fmt.Errorf("grpcauthtest: encode claims: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(randomBytes())
	now := i.cfg.Now()
	in := &i.intro
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.opaque == nil {
		in.opaque = make(map[string]map[string]any)
	}
	for in.expiries.Len() > 0 {
		_, t := in.expiries.Min()
		if c, ok := in.opaque[t]; ok && !expired(c, now) {
			break
		}
		delete(in.opaque, in.expiries.Pop()) // if not revoked already
	}
	in.opaque[token] = stored
	if exp, ok := stored["exp"].(json.Number); ok {
		at, err := exp.Float64()
		if err != nil {
			at = math.Inf(-1)
		}
		in.expiries.Push(at, token) // -Inf, expired, when no float64 holds exp (see numericDatePassed)
	}
	return token, nil
}

func randomBytes() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

// Revoke makes the introspection endpoint report token inactive from now
// on: an opaque token minted by this issuer, or a JWT (which still verifies
// locally, as with a real authorization server: only introspection sees a
// revocation). Any string is accepted.
//
// Only what the endpoint could report active is remembered: an opaque
// token is taken out of the store of minted ones, and a JWT is remembered
// when it is the issuer's own (a JWS whose signature verifies under a key
// the issuer publishes, with the issuer's iss; not yet valid or not, since
// its nbf may come). Any other string (no token, an opaque token the
// issuer did not mint or has forgotten, a JWT under another key, a
// removed one, which is never published again, unsigned or of another
// issuer) is answered inactive anyway, and its revocation is ignored, so
// revoking strings a client made up costs no memory.
//
// The issuer remembers a revocation only while the token could otherwise
// be reported active: once the JWT's exp is not after Config.Now, the
// endpoint answers inactive for it anyway, and the revocation may be
// forgotten. No clock skew is added: the endpoint is the authority and
// judges exp by its own clock with none, and a resource server that
// introspects asks it (a verifier's leeway applies to its local JWT
// checks, which never see a revocation). So the revoked set holds at most
// about twice the issuer's own JWTs revoked and not yet expired, plus 64,
// and a long-running issuer (the items example's development server, whose
// reused authorization codes revoke tokens) does not grow with time. Its
// own JWT without exp (minted with "exp": nil) stays revoked for the
// issuer's lifetime: as many as the test minted and revoked. A clock
// (Config.Now) set back before the exp of a token whose revocation was
// forgotten makes that token active again.
func (i *Issuer) Revoke(token string) {
	exp, own := i.ownJWTExp(token)
	now := i.cfg.Now()
	in := &i.intro
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, ok := in.opaque[token]; ok {
		delete(in.opaque, token) // never minted again: 32 random bytes
		return
	}
	if !own {
		return
	}
	if in.revoked == nil {
		in.revoked = make(map[[sha256.Size]byte]json.Number)
	}
	in.revoked[sha256.Sum256([]byte(token))] = exp
	if len(in.revoked) < max(in.sweepAt, minRevokedSweep) {
		return
	}
	for h, exp := range in.revoked {
		if exp != "" && numericDatePassed(exp, now) {
			delete(in.revoked, h)
		}
	}
	in.sweepAt = 2 * len(in.revoked)
}

// ownJWTExp reports whether token is one of the issuer's own JWTs, which
// the introspection endpoint may report active now or later (see
// ownClaims), and its numeric exp, "" when it has none.
func (i *Issuer) ownJWTExp(token string) (json.Number, bool) {
	claims, ok := i.ownClaims(token)
	exp, _ := claims["exp"].(json.Number)
	return exp, ok
}

// decodeClaims decodes a JWT payload, numbers as json.Number.
func decodeClaims(payload []byte) (map[string]any, bool) {
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if dec.Decode(&claims) != nil || claims == nil {
		return nil, false
	}
	return claims, true
}

// expired reports whether claims carry a numeric exp that is not after
// now, or one that no float64 holds. An exp of another JSON type is not
// expired: MintOpaqueClaims serves it as it is, for a test of how a
// resource server takes a malformed answer.
func expired(claims map[string]any, now time.Time) bool {
	exp, ok := claims["exp"].(json.Number)
	return ok && numericDatePassed(exp, now)
}

// numericDatePassed reports whether exp, a NumericDate, is not after now,
// or is one that no float64 holds.
func numericDatePassed(exp json.Number, now time.Time) bool {
	c, ok := compareNumericDate(exp, now)
	return !ok || c <= 0
}

// compareNumericDate compares n, a NumericDate (RFC 7519, section 2:
// seconds since the epoch, possibly fractional), with now: -1 when n is
// before now, 0 when equal, +1 when after. It reports false when n is not
// a number a float64 holds.
func compareNumericDate(n json.Number, now time.Time) (int, bool) {
	if i, err := n.Int64(); err == nil { // exact, whatever its size
		if c := cmp.Compare(i, now.Unix()); c != 0 || now.Nanosecond() == 0 {
			return c, true
		}
		return -1, true // i is now's second, which has begun
	}
	f, err := n.Float64()
	if err != nil {
		return 0, false
	}
	return cmp.Compare(f, float64(now.Unix())+float64(now.Nanosecond())/1e9), true
}

// inactive is the whole answer for any token that is not active: RFC 7662
// §2.2 says to reveal nothing else.
var inactive = map[string]any{"active": false}

// serveIntrospect implements RFC 7662 token introspection for any
// configured client, authenticated as at the token endpoint.
func (i *Issuer) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		i.intro.requests.Add(1)
	}
	resp, f := i.handleIntrospect(w, r)
	writeOAuth(w, resp, f)
}

func (i *Issuer) handleIntrospect(w http.ResponseWriter, r *http.Request) (map[string]any, *tokenFailure) {
	form, f := readForm(w, r, "the introspection endpoint", introspectParams)
	if f != nil {
		return nil, f
	}
	if _, f := i.authenticate(r, form); f != nil {
		return nil, f
	}
	token := form.Get("token")
	if token == "" {
		return nil, fail(http.StatusBadRequest, "invalid_request", "missing token")
	}
	// token_type_hint is only a hint (RFC 7662 §2.1): every kind is looked up.
	return i.introspect(token), nil
}

// introspect answers for token: active with its claims when it is an opaque
// token this issuer minted, or a JWT signed by a key it still publishes with
// its iss, not expired and not yet valid by Config.Now; otherwise inactive.
func (i *Issuer) introspect(token string) map[string]any {
	in := &i.intro
	in.mu.Lock()
	_, revoked := in.revoked[sha256.Sum256([]byte(token))]
	stored, ok := in.opaque[token]
	in.mu.Unlock()
	if revoked {
		return inactive
	}
	// The clock is read after the lookup: a sweep (in Revoke) that forgot
	// this token's revocation before the lookup judged the token expired
	// by a clock read before the sweep, so by this later reading (of a
	// clock that does not go back) it is expired too, never active again.
	now := i.cfg.Now()
	if ok {
		if expired(stored, now) {
			return inactive
		}
		return activeResponse(stored, nil)
	}
	claims, ok := i.verifyOwnJWT(token, now)
	if !ok {
		return inactive
	}
	// Present the JWT's claims as RFC 7662 does: scope as a string and
	// client_id, whatever the token's shape.
	extra := map[string]any{}
	if scp, ok := claims["scp"].([]any); ok {
		parts := make([]string, 0, len(scp))
		for _, s := range scp {
			if s, ok := s.(string); ok {
				parts = append(parts, s)
			}
		}
		extra["scope"], extra["scp"] = strings.Join(parts, " "), nil
	}
	if cid, ok := claims["cid"]; ok {
		if _, has := claims["client_id"]; !has {
			extra["client_id"] = cid
		}
		extra["cid"] = nil
	}
	return activeResponse(claims, extra)
}

// activeResponse returns a copy of claims with extra merged over (nil
// removes) and "active": true, and "token_type" unless set: "DPoP" for a
// token bound to a DPoP key (cnf with a jkt; RFC 9449, section 6.2, makes
// that the only value allowed), "Bearer" for any other.
func activeResponse(claims, extra map[string]any) map[string]any {
	out := make(map[string]any, len(claims)+2)
	for k, v := range claims {
		out[k] = v
	}
	mergeClaims(out, extra)
	if _, ok := out["token_type"]; !ok {
		out["token_type"] = "Bearer"
		if cnf, ok := out["cnf"].(map[string]any); ok {
			if jkt, ok := cnf["jkt"].(string); ok && jkt != "" {
				out["token_type"] = "DPoP"
			}
		}
	}
	out["active"] = true
	return out
}

// verifyOwnSignature returns the payload of the compact JWS token when its
// header's kid names a published key, its alg is that key's alg, and its
// signature verifies under that key with jwx's verifier for the alg. Not
// jws.Verify: jwx v2 cannot parse a header whose alg is RFC 9864's Ed25519
// (see internal/jwsalg).
func (i *Issuer) verifyOwnSignature(token string) ([]byte, bool) {
	hdrPart, rest, _ := strings.Cut(token, ".")
	payloadPart, sigPart, _ := strings.Cut(rest, ".")
	hb, err1 := base64.RawURLEncoding.DecodeString(hdrPart)
	payload, err2 := base64.RawURLEncoding.DecodeString(payloadPart)
	sig, err3 := base64.RawURLEncoding.DecodeString(sigPart)
	var h map[string]json.RawMessage
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &h) != nil {
		return nil, false
	}
	var alg, kid string
	if json.Unmarshal(h[jws.AlgorithmKey], &alg) != nil || json.Unmarshal(h[jws.KeyIDKey], &kid) != nil || kid == "" {
		return nil, false
	}
	var key *signingKey
	i.mu.RLock()
	for _, k := range i.published {
		if k.kid == kid {
			key = k
		}
	}
	i.mu.RUnlock()
	if key == nil || alg != key.alg.String() {
		return nil, false
	}
	v, err := jwsalg.NewVerifier(alg)
	if err != nil || v.Verify([]byte(hdrPart+"."+payloadPart), sig, key.private.Public()) != nil {
		return nil, false
	}
	return payload, true
}

// ownClaims returns the claims of token when it is a compact JWS signed by
// one of the currently published keys (see verifyOwnSignature) whose
// payload is a JSON object with this issuer's iss, whatever the time.
func (i *Issuer) ownClaims(token string) (map[string]any, bool) {
	if strings.Count(token, ".") != 2 {
		return nil, false
	}
	payload, ok := i.verifyOwnSignature(token)
	if !ok {
		return nil, false
	}
	claims, ok := decodeClaims(payload)
	if !ok || claims["iss"] != i.url {
		return nil, false
	}
	return claims, true
}

// verifyOwnJWT returns the claims of token when it is a JWS signed by one of
// the currently published keys (kid required, the key's own alg), whose iss
// is this issuer, whose exp (when present) is after now and whose nbf and iat
// (when present) are not after it. No skew: this is the authority.
func (i *Issuer) verifyOwnJWT(token string, now time.Time) (map[string]any, bool) {
	claims, ok := i.ownClaims(token)
	if !ok || expired(claims, now) {
		return nil, false
	}
	for _, name := range []string{"nbf", "iat"} {
		if v, ok := claims[name]; ok {
			n, isNum := v.(json.Number)
			c, valid := compareNumericDate(n, now)
			if !isNum || !valid || c > 0 {
				return nil, false
			}
		}
	}
	if v, ok := claims["exp"]; ok {
		if _, isNum := v.(json.Number); !isNum {
			return nil, false
		}
	}
	return claims, true
}
