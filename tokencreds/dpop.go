package tokencreds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/ascii"
	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/localpeer"
)

// ErrNotDPoPToken is the cause of a call failing because Credentials made
// by NewDPoP got a token whose token_type is not DPoP: the authorization
// server ignored the proof of the token request (or the TokenSource sent
// none, see NewDPoPTransport), so the token is not bound to the key and a
// server would refuse it with the DPoP scheme. A DPoPTransport fails a token
// request with it when the answer is such a token, so that the token source
// does not keep it; Credentials do not keep such a token either, and treat
// it as a failure of the source (codes.Unauthenticated, and the backoff of
// GetRequestMetadata).
var ErrNotDPoPToken = errors.New("tokencreds: the token source returned a token whose type is not DPoP")

// ErrInsecureTokenEndpoint is the cause of a DPoPTransport refusing to send
// a request over plain http to a host that is not loopback (or with any
// scheme but https and http): a token request carries the client's
// credentials or a refresh token, and its answer the access token. A call
// of Credentials whose TokenSource failed so fails with
// codes.Unauthenticated and this error's text.
var ErrInsecureTokenEndpoint = errors.New("tokencreds: refusing a token request over plain http to a host other than loopback")

// ErrCrossOriginRedirect is the cause of a DPoPTransport refusing to send a
// redirected request to another origin (scheme, host or port) than the
// first request of its redirect chain: net/http sends a 307 or 308
// redirect's POST body again, with the client's secret
// (client_secret_post), a client assertion, a refresh token or an
// authorization code. The error wrapping it names both origins. A call of
// Credentials whose TokenSource failed so fails with
// codes.Unauthenticated and this error's text.
var ErrCrossOriginRedirect = errors.New("tokencreds: refusing a token request redirected to another origin")

// ErrDPoPToken is the cause of a call failing because Credentials made by
// New got a DPoP-bound token (token_type DPoP): sent without a proof, every
// server would refuse it. Use NewDPoP with the key the token is bound to.
// Credentials do not keep such a token, and treat it as a failure of the
// source (codes.Unauthenticated with this error's text, and the backoff of
// GetRequestMetadata).
var ErrDPoPToken = errors.New("tokencreds: the token source returned a DPoP-bound token; New sends no proof, use NewDPoP")

// errProof is the cause of a failure to sign a DPoP proof, of a call or of
// a DPoPTransport's request: a call fails with codes.Internal and its text.
// A proof given up because the call's or the request's context ended is
// not one (see dpopMetadata and DPoPTransport.send).
var errProof = errors.New("tokencreds: could not sign the DPoP proof")

// errNilTransport is the cause of every request of a nil *DPoPTransport
// failing, unsent: a call of Credentials whose TokenSource failed so fails
// with codes.Internal and its text, as one whose proof cannot be signed.
var errNilTransport = errors.New("tokencreds: nil *DPoPTransport")

// The metadata keys of DPoP (grpcauth's MetadataDPoP, MetadataDPoPNonce
// and MetadataWWWAuthenticate), repeated here so that a client does not
// link the server package in.
const (
	mdDPoP            = "dpop"
	mdDPoPNonce       = "dpop-nonce"
	mdWWWAuthenticate = "www-authenticate"
)

// grpcauth's ErrorInfo domain and the reason of a refusal for the proof's
// nonce (grpcauth.ErrorDomain and grpcauth.ReasonUseDPoPNonce).
const (
	errorDomain        = "grpcauth"
	reasonUseDPoPNonce = "USE_DPOP_NONCE"
)

// maxNonceOrigins bounds the servers whose nonces one Credentials or
// DPoPTransport remembers; past it they are all forgotten.
const maxNonceOrigins = 1024

// maxServerLen bounds the name (authority or origin) of a server whose
// nonce is remembered: a token endpoint's redirect chooses the origin, and
// a URL's port may have any number of leading zeros. With dpop.MaxNonceLen and
// maxNonceOrigins it keeps a nonceMap within a few megabytes. No real
// server has a longer name (a DNS name has at most 253 bytes); a token
// request to one that requires a nonce is sent twice every time, and a
// gRPC call to one is refused.
const maxServerLen = 1024

// NewDPoP returns Credentials that send ts's DPoP-bound tokens (RFC 9449)
// with "authorization: DPoP <access token>" and, on every call, a new
// proof signed by signer in the dpop metadata: htm POST, htu
// "scheme://authority/package.Service/Method" as grpcauth's server builds
// it (https on a TLS connection: its AuthInfo a credentials.TLSInfo, or a
// type of the transport credentials' own that embeds one, as credentials
// wrapping gRPC's TLS credentials may return; http otherwise; the
// authority the connection dialled; the call's method), ath the token's hash and, once
// the server has sent one, its latest nonce; a call whose authority makes
// no URL (docs/dpop.md) fails with codes.Internal, and one whose proof
// cannot be signed fails with codes.Internal too, or, when the call's
// context ends while a KMS or HSM key signs (dpop.Signer.ProofContext),
// with the context's code, its error wrapping the context's, and no
// backoff (a key whose Sign has failed by the time the call finds its
// context ended failed: codes.Internal). The proof is the call's
// only dpop value: a call whose context already carries one fails with
// ErrDPoPInMetadata. They send a token only over
// the connections New's do (GetRequestMetadata), and only a token whose
// token_type is DPoP (else ErrNotDPoPToken, without keeping the token):
// get it with a proof of signer's key, the token source's HTTP client using
// NewDPoPTransport.
//
// Server nonces (RFC 9449, section 9) are learned only through the
// interceptors UnaryClientInterceptor and StreamClientInterceptor, which
// read the dpop-nonce header and trailer of the calls; without them, a
// server that requires nonces refuses every call (USE_DPOP_NONCE). See
// docs/clients.md.
func NewDPoP(ts oauth2.TokenSource, signer *dpop.Signer) *Credentials {
	c := New(ts)
	c.isDPoP, c.signer = true, signer
	return c
}

// dpopMetadata returns the metadata of a DPoP call with tok in ctx (a
// connection safeConnection accepted), whose audience URI grpc-go passes
// as uri.
func (c *Credentials) dpopMetadata(ctx context.Context, tok *oauth2.Token, uri []string) (map[string]string, error) {
	if !strings.EqualFold(tok.Type(), "DPoP") {
		return nil, &tokenError{codes.Unauthenticated, ErrNotDPoPToken.Error(), ErrNotDPoPToken}
	}
	if c.signer == nil {
		err := errors.New("tokencreds: NewDPoP without a dpop.Signer")
		return nil, &tokenError{codes.Internal, err.Error(), err}
	}
	ri, _ := credentials.RequestInfoFromContext(ctx)
	authority := ""
	if len(uri) > 0 {
		authority = authorityOf(uri[0])
	}
	if authority == "" || !strings.HasPrefix(ri.Method, "/") {
		err := errors.New("tokencreds: no authority or method for the DPoP proof's htu")
		return nil, &tokenError{codes.Internal, err.Error(), err}
	}
	scheme := "http"
	if _, isTLS := localpeer.TLS(ri.AuthInfo); isTLS { // as the server decides it
		scheme = "https"
	}
	htu := scheme + "://" + authority + ri.Method
	if u, err := url.Parse(htu); err != nil || u.Host == "" || strings.ContainsAny(authority, "?#@") {
		// No server could match it (an IPv6 zone not written "%25", a
		// percent-encoded ASCII byte in the host, user info, a query or
		// fragment): fail here, not there.
		err := fmt.Errorf("tokencreds: the authority %q makes no URL for the DPoP proof's htu", authority)
		return nil, &tokenError{codes.Internal, "tokencreds: the call's authority makes no URL for the DPoP proof", err}
	}
	rec, _ := ctx.Value(callKey{}).(*callRecord)
	if rec != nil && rec.method != ri.Method {
		rec = nil // a call of another method made with the call's context
	}
	nonce, demanded := rec.demanded(c, authority)
	if !demanded {
		nonce = c.nonces.get(authority)
	}
	proof, err := c.signer.ProofContext(ctx, http.MethodPost, htu, tok.AccessToken, nonce)
	if err != nil {
		if cerr := proofContextEnded(ctx, err); cerr != nil {
			return nil, contextEnded(cerr, err)
		}
		return nil, &tokenError{codes.Internal, errProof.Error(), err}
	}
	if rec != nil {
		rec.set(c, authority, nonce)
	}
	return map[string]string{"authorization": "DPoP " + tok.AccessToken, mdDPoP: proof}, nil
}

// proofContextEnded returns ctx's error if err, that of
// dpop.Signer.ProofContext(ctx, …), is ctx's end (a KMS or HSM key still
// signing, or no slot free, when ctx ended), and nil otherwise: a key's
// own failure is not, also one ProofContext found as ctx ended (it
// returns a Sign's answer that is ready then).
func proofContextEnded(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return cerr
	}
	return nil
}

// authorityOf returns the authority of grpc-go's per-call audience URI,
// "https://" + authority (without a port 443) + "/package.Service".
func authorityOf(uri string) string {
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return ""
	}
	authority, _, _ := strings.Cut(rest, "/")
	return authority
}

// UnaryClientInterceptor returns an interceptor that makes the unary calls
// of Credentials from NewDPoP follow the server's nonces: it remembers
// the latest dpop-nonce the server sent for the call's authority (in a
// successful call's header or a refusal's trailer) for the next proofs,
// and when the server refused the call because its proof had no nonce or
// a stale one (codes.Unauthenticated with a new dpop-nonce, and grpcauth's
// ErrorInfo reason USE_DPOP_NONCE or a www-authenticate challenge carrying
// use_dpop_nonce, in the call's trailer or header: net/http drops
// www-authenticate from HTTP/2 trailers, so a server behind
// grpc.Server.ServeHTTP sends it as a header, and connectauth sends a
// gRPC caller the reason alone), calls again once with a proof carrying
// the new nonce: the one that refusal sent, not the latest remembered for
// the authority, which a concurrent call's answer may have replaced in
// between. The remembered nonce is the one of the answer read last: nonces
// are opaque, so no newer one can be told from an older one, and a call
// whose proof carries a stale one costs a retry. The retry sends the
// request again:
// grpcauth refuses so before it runs the method, which therefore runs once,
// but a server (or proxy) that ran a method and then refused the call so
// would run it twice, so with such a server use the interceptor for
// idempotent methods only.
//
// Install it with grpc.WithUnaryInterceptor next to
// grpc.WithPerRPCCredentials(c). It serves every Credentials from NewDPoP,
// not only c: a call authorized by others, given per call with
// grpc.PerRPCCredentials (on a connection without
// grpc.WithPerRPCCredentials: see New), teaches its nonce to those that
// signed its proof. It does nothing for calls that other kinds of credentials
// authorize. A call made with the intercepted call's context on a
// connection without these interceptors (by an interceptor further down
// the chain) is not taken for it: one of another method changes nothing,
// and one of the same method whose proof names another server or is signed
// by other Credentials makes the interceptor learn no nonce from the call,
// rather than remember one server's nonce for another.
func (c *Credentials) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		// invoke makes one attempt of the call, its proof carrying demand's
		// nonce if it has one, and returns the nonce its refusal demands
		// for a retry, if it was refused so.
		invoke := func(demand *nonceDemand) (*nonceDemand, error) {
			rec := &callRecord{method: method, demand: demand}
			var header, trailer metadata.MD
			// opts may be shared with concurrent calls (grpc-go passes
			// the connection's default call options on as they are):
			// append to a copy, never into its spare capacity.
			err := invoker(context.WithValue(ctx, callKey{}, rec), method, req, reply, cc, append(slices.Clip(opts), grpc.Header(&header), grpc.Trailer(&trailer))...)
			fresh := rec.learnNonce(header, trailer)
			if fresh == nil || !asksForNonce(err, header, trailer) {
				return nil, err
			}
			return fresh, err
		}
		demand, err := invoke(nil)
		if demand != nil {
			// The retry carries the nonce its refusal demanded, not the
			// server's latest in c's map, which a concurrent call's
			// answer may have replaced since.
			_, err = invoke(demand)
		}
		return err
	}
}

// StreamClientInterceptor returns an interceptor that makes the streaming
// calls of Credentials from NewDPoP (c or any other, see
// UnaryClientInterceptor) remember the server's latest dpop-nonce, from
// the stream's header or trailer, for the next proofs. It does not retry a
// stream refused for its nonce: the messages already sent cannot be
// replayed; the caller's next call carries the new nonce. The header's
// nonce is read once, as soon as the caller has the header, never waiting
// for it itself: when the caller's Header returns, or when RecvMsg first
// returns (a message or an error), so that the calls opened while a
// long-lived stream runs carry it. The trailer's is read when the stream
// ends: when RecvMsg first returns an error (io.EOF at the stream's end
// included), or, for a client-streaming call, when it returns the one
// response (CloseAndRecv). A stream whose caller neither receives nor
// calls Header teaches it nothing, and a long-lived client-streaming call
// teaches it only when it ends: a gRPC server sends its header with its
// first message (unless its handler calls SendHeader), which for such a
// call is its one response at the end. Calls made with the stream's
// Context are not taken for the stream, as for UnaryClientInterceptor.
func (c *Credentials) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		rec := &callRecord{method: method}
		s, err := streamer(context.WithValue(ctx, callKey{}, rec), desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &nonceStream{ClientStream: s, rec: rec, single: !desc.ServerStreams}, nil
	}
}

// nonceStream learns the server's nonce from the stream's header once it
// has arrived, and from its trailer when the stream ends.
type nonceStream struct {
	grpc.ClientStream
	rec    *callRecord
	single bool // one response: the first RecvMsg ends the stream, even when it succeeds

	headerOnce, trailerOnce sync.Once
}

// Header learns the nonce of the header the caller waited for.
func (s *nonceStream) Header() (metadata.MD, error) {
	header, err := s.ClientStream.Header()
	s.headerOnce.Do(func() { s.rec.learnNonce(header, nil) })
	return header, err
}

func (s *nonceStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	// RecvMsg returned: the header has arrived or never will, so Header
	// does not block.
	s.headerOnce.Do(func() {
		header, _ := s.ClientStream.Header()
		s.rec.learnNonce(header, nil)
	})
	if err != nil || s.single {
		s.trailerOnce.Do(func() { s.rec.learnNonce(nil, s.ClientStream.Trailer()) })
	}
	return err
}

// callKey is the context key of a call's callRecord.
type callKey struct{}

// callRecord is what GetRequestMetadata did for one call of an
// interceptor: the Credentials that signed its proof (those installed on
// the connection or given per call, not necessarily the interceptor's),
// the proof's authority and the nonce it carried; and, for a retry, the
// nonce the refusal it answers demanded, which the proof carries if the
// same Credentials sign it for the same authority.
//
// Any call made with the call's context (or its stream's Context) finds the
// record too: a call that an interceptor further down the chain, or the
// caller while a stream runs, makes on another connection, which has no
// interceptor of its own to shadow it. Such a call of another method is not
// recorded. One of the same method that names another server or has other
// Credentials sign makes the record ambiguous: the call then learns no nonce,
// rather than remember one server's for another.
type callRecord struct {
	method string       // the call's, as the interceptor got it
	demand *nonceDemand // for a retry: the nonce its refusal demanded; nil for none

	mu               sync.Mutex
	c                *Credentials
	authority, nonce string
	ambiguous        bool // set by proofs of two Credentials or two authorities
}

func (r *callRecord) set(c *Credentials, authority, nonce string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil && (r.c != c || r.authority != authority) {
		r.ambiguous = true
	}
	r.c, r.authority, r.nonce = c, authority, nonce
}

// nonceDemand is the nonce a server (authority) demanded, in a refusal,
// of the proofs that Credentials c sign for it.
type nonceDemand struct {
	c                *Credentials
	authority, nonce string
}

// demanded returns the nonce the refusal that r retries demanded of c's
// proofs for authority, and whether there is one (false for a nil r).
func (r *callRecord) demanded(c *Credentials, authority string) (string, bool) {
	if r == nil || r.demand == nil || r.demand.c != c || r.demand.authority != authority {
		return "", false
	}
	return r.demand.nonce, true
}

// get returns the record's Credentials (nil for none, or when ambiguous),
// authority and nonce.
func (r *callRecord) get() (c *Credentials, authority, nonce string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ambiguous {
		return nil, "", ""
	}
	return r.c, r.authority, r.nonce
}

// learnNonce remembers, in the Credentials that signed the recorded
// call's proof, the call's dpop-nonce (its trailer's before its
// header's), and returns it, with those Credentials and the proof's
// authority, if it differs from the nonce the proof carried (nil if not).
func (r *callRecord) learnNonce(header, trailer metadata.MD) *nonceDemand {
	c, authority, used := r.get()
	if c == nil {
		return nil // not a DPoP call of Credentials from NewDPoP
	}
	n := lastValid(trailer.Get(mdDPoPNonce))
	if n == "" {
		n = lastValid(header.Get(mdDPoPNonce))
	}
	if n == "" {
		return nil
	}
	c.nonces.set(authority, n)
	if n == used {
		return nil
	}
	return &nonceDemand{c, authority, n}
}

// lastValid returns the last of vs if it is a valid nonce, and "" if not.
func lastValid(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return validNonce(vs[len(vs)-1])
}

// asksForNonce reports whether err, a call's error, refuses it for its
// proof's nonce: codes.Unauthenticated, with grpcauth's ErrorInfo reason
// USE_DPOP_NONCE or with a www-authenticate challenge of the
// use_dpop_nonce error (RFC 9449, section 9) in the call's own trailer or
// header. net/http drops www-authenticate from HTTP/2 trailers (RFC 9110,
// section 6.5.1), so grpcauth in a grpc-go server behind
// grpc.Server.ServeHTTP (vanguard's transcoder) sends a refused unary call
// its challenge as a response header, and connectauth in a connect-go
// server answers a gRPC caller without one, with the reason alone. Reading
// the header serves a server that sends the challenge without grpcauth's
// ErrorInfo: another RFC 9449 implementation, or grpcauth behind a proxy
// or interceptor that rewrites the status without its details.
func asksForNonce(err error, header, trailer metadata.MD) bool {
	st, _ := status.FromError(err)
	if st.Code() != codes.Unauthenticated {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == errorDomain && info.GetReason() == reasonUseDPoPNonce {
			return true
		}
	}
	for _, v := range slices.Concat(trailer.Get(mdWWWAuthenticate), header.Get(mdWWWAuthenticate)) {
		if strings.Contains(v, `error="use_dpop_nonce"`) || strings.Contains(v, "error=use_dpop_nonce") {
			return true
		}
	}
	return false
}

// validNonce returns n if it is a nonce as RFC 9449, section 8.1, defines
// it (1*NQCHAR: printable ASCII but space, '"' and '\') of at most dpop.MaxNonceLen
// bytes, and "" otherwise.
func validNonce(n string) string {
	if len(n) > dpop.MaxNonceLen || !ascii.IsNQChars(n) {
		return ""
	}
	return n
}

// nonceMap is the latest nonce of each server (authority or origin): the
// one of the answer read last, which set last. Nonces are opaque: an
// answer read later may carry an older one (sent earlier, or by another
// instance behind the same name), but nothing tells which is newer, and
// a proof carrying a stale one is refused and retried once (a stream is
// not retried), the retry's proof carrying the nonce its own refusal
// sent, not the map's.
type nonceMap struct {
	mu sync.Mutex
	m  map[string]string
}

func (m *nonceMap) get(server string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[server]
}

func (m *nonceMap) set(server, nonce string) {
	if len(server) > maxServerLen {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[server]; !ok && len(m.m) >= maxNonceOrigins || m.m == nil {
		m.m = make(map[string]string)
	}
	m.m[server] = nonce
}

// DPoPTransport is an http.RoundTripper that adds a DPoP proof (RFC 9449,
// section 5) to every request it sends: the token requests of a
// golang.org/x/oauth2 TokenSource whose HTTP client uses it, so that the
// authorization server binds the tokens to the signer's key
// (token_type DPoP). Each proof has htm the request's method (GET if
// empty) and htu its URL (with the request's Host, if set) without user
// info, query and fragment, and no ath. When the server answers 400
// with the error use_dpop_nonce and a DPoP-Nonce header (RFC 9449, section
// 8), the request is sent once more with a proof carrying that nonce (the
// refusal's own, whatever other requests learned meanwhile); the latest
// DPoP-Nonce a server sent in any answer goes into its next proofs,
// latest meaning the answer read last (nonces are opaque, so a newer one
// cannot be told from an older one, and a stale one costs a retry);
// nonces are remembered per origin (scheme, host and port), so that each
// server gets its own. A token response whose token_type is not
// DPoP is refused (ErrNotDPoPToken; see RoundTrip). Make a new one with
// NewDPoPTransport; it is safe for concurrent use. A nil *DPoPTransport
// fails every request, unsent, with an error (and closes its body), which
// fails the calls of Credentials whose token source uses it with
// codes.Internal.
//
// It takes its base's answers as net/http's Client takes a RoundTripper's:
// a response with an error as the error alone (it closes that response's
// Body, which net/http leaves open), a response without a Body as one with
// an empty body (http.NoBody; its RoundTrip never returns a response
// without one), unless its ContentLength is positive for a request other
// than HEAD, and neither a response nor an error as an error. Both errors
// name the base's type.
//
// Use the client only for token requests: every request it sends carries
// a proof of the key. It sends them only over https, or plain http to a
// loopback host (localhost, 127.0.0.0/8, ::1, by the request's URL; names
// are not resolved), as Credentials send tokens only over TLS or to this
// host; any other request fails with an error wrapping
// ErrInsecureTokenEndpoint, before it is signed or sent. A URL naming
// localhost in another case ("http://LOCALHOST:8080/token") is sent, and
// named in the proof, as localhost, in lower case, the one case in which
// the environment's proxy (http.ProxyFromEnvironment, which
// http.DefaultTransport and so a base of yours may use) goes direct:
// before, such a base sent the token request, the client's credentials
// with it, to HTTP_PROXY in clear text.
//
// It follows the token endpoint's redirects (those the client's
// CheckRedirect lets through) only within the origin of the redirect
// chain's first request: the same scheme, host and port, a scheme's
// default port being the same as none, and host names compared but for
// the case of ASCII letters only. net/http sends a 307 or 308
// redirect's POST body again, with the client's secret
// (client_secret_post), a client assertion, a refresh token or an
// authorization code, and any redirect's Authorization header
// (client_secret_basic) to another port or scheme of the host or to a
// subdomain. So a redirected request to any other origin, https to http
// on the same host included, fails with an error wrapping
// ErrCrossOriginRedirect that names the two origins (without user info,
// path or query), before it is signed or sent; so does one whose first
// request cannot be found (a RoundTripper between the client and the
// transport that leaves a response's Request unset).
//
// A failure of the request (the base's error) names none of the secrets
// the request carried: the form's values but the public ones (grant_type,
// client_id, scope and the like) and, but a credential's, those under 4
// bytes, so the client secret, a refresh token,
// an authorization code or a client assertion; the Authorization header's
// credentials; the DPoP proof. Each reads "[REDACTED]", as written and
// decoded (a text holding a credential of fewer than 4 bytes reads
// endpoint.WithheldText), in the text, clipped to endpoint.MaxErrorText
// bytes, of every error of the failure's tree, which
// errors.Is and errors.As still search but for the errors so replaced
// (see withoutRequestSecrets). net/http quotes a status or header line it
// cannot parse in its error, so that a token endpoint, or a proxy, that
// echoes the request into one would put them in the token source's error,
// and from there in the cause of the calls' errors, which a program logs.
//
// A proof is signed with the request's context (dpop.Signer.ProofContext):
// a KMS or HSM key that hangs holds the request only until its context
// ends (the http.Client's Timeout included), and the request then fails,
// unsent, with an error wrapping the context's, which Credentials take
// for the context's end while a request is sent (codes.Unavailable past
// a deadline, codes.Unauthenticated for a cancelled source context; see
// GetRequestMetadata), not for a key that failed to sign
// (codes.Internal).
//
// Do not copy a DPoPTransport: a copy shares the original's state, and go
// vet reports it, as it does a copy of a Credentials.
type DPoPTransport struct {
	// noCopy has go vet report a copy of a DPoPTransport (see noCopy).
	_ noCopy
	// transportRef is all of the state, behind two pointers, for the
	// reason Credentials' is (see credRef).
	*transportRef
}

// transportRef holds the pointer to a DPoPTransport's state, for the
// reason credRef holds Credentials': a base holding a secret by value,
// and the nonce map, which every request writes.
type transportRef struct{ *transportState }

// transportState is the state of a DPoPTransport, behind two pointers
// (see transportRef).
type transportState struct {
	signer *dpop.Signer
	base   http.RoundTripper
	nonces nonceMap // by origin
}

// NewDPoPTransport returns a DPoPTransport signing with signer and sending
// through base (nil: http.DefaultTransport, except that the name localhost
// is dialled on 127.0.0.1 then ::1, never looked up, unless the program
// replaced http.DefaultTransport with another type of RoundTripper; a base
// of yours resolves it as it does any name); without a signer every
// request fails.
// Put it in the HTTP client of the token requests:
//
//	hc := &http.Client{Timeout: 10 * time.Second, Transport: tokencreds.NewDPoPTransport(signer, nil)}
//	ts := cc.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, hc))
//	creds := tokencreds.NewDPoP(ts, signer)
func NewDPoPTransport(signer *dpop.Signer, base http.RoundTripper) *DPoPTransport {
	return &DPoPTransport{transportRef: &transportRef{&transportState{signer: signer, base: base}}}
}

// maxErrorBody bounds how much of a 400 answer is read to find its error
// code.
const maxErrorBody = 64 << 10

// RoundTrip sends req with a DPoP proof, and once more with the server's
// nonce if it asks for one (see DPoPTransport), unless req is refused for
// its scheme and host (ErrInsecureTokenEndpoint) or as a redirect to
// another origin (ErrCrossOriginRedirect). It does not change req.
// A successful (2xx) answer that is a token response (RFC 6749, section
// 5.1: an access_token, in JSON whatever the Content-Type, as
// golang.org/x/oauth2/jwt reads it, or form-encoded when the Content-Type
// says so, as golang.org/x/oauth2 also reads it) whose token_type is not
// DPoP is refused: the server did not
// bind the token (RFC 9449, section 5), so RoundTrip closes the answer and
// fails with an error wrapping ErrNotDPoPToken, and the token source
// neither returns nor keeps the token.
func (t *DPoPTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var refusal error
	switch u := req.URL; {
	case t == nil:
		refusal = errNilTransport
	case u == nil || u.Scheme != "https" && (u.Scheme != "http" || !endpoint.IsLoopback(u.Hostname())):
		refusal = ErrInsecureTokenEndpoint
	default:
		refusal = checkRedirect(req)
	}
	if refusal != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, refusal
	}
	if t.transportRef == nil {
		// A zero DPoPTransport: one without a signer, whose requests
		// fail unsent (errProof).
		t = &DPoPTransport{transportRef: &transportRef{&transportState{}}}
	}
	if u := *req.URL; endpoint.LowerLocalhost(&u) {
		req = req.WithContext(req.Context()) // a shallow copy: req stays as it is
		req.URL = &u
	}
	resp, err := t.roundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.Request == nil {
		resp.Request = req // so that checkRedirect can trace a redirect of it
	}
	if err := refuseUnboundToken(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// maxRedirectChain bounds the hops checkRedirect walks back: net/http's
// Client follows at most 10 redirects.
const maxRedirectChain = 64

// checkRedirect returns an error wrapping ErrCrossOriginRedirect if req is
// a hop of a redirect (http.Client sets its Response) whose origin is not
// that of the chain's first request, or whose first request cannot be
// found (a RoundTripper in between that leaves Response.Request unset), and
// otherwise nil.
func checkRedirect(req *http.Request) error {
	first := req
	for i := 0; first.Response != nil; i++ {
		if first.Response.Request == nil || first.Response.Request.URL == nil || i == maxRedirectChain {
			return fmt.Errorf("%w: the redirect's first request is unknown", ErrCrossOriginRedirect)
		}
		first = first.Response.Request
	}
	if from, to := originOf(first.URL), originOf(req.URL); from != to {
		return fmt.Errorf("%w: from %q to %q", ErrCrossOriginRedirect, endpoint.Clip(from, maxServerLen), endpoint.Clip(to, maxServerLen))
	}
	return nil
}

// originOf returns u's origin (RFC 6454, section 4): its scheme and host
// with their ASCII letters in lower case, and its port as a number (a URL's
// port may have leading zeros) unless it is the scheme's default; no user
// info, path or query. Only ASCII letters: DNS names are case-insensitive
// in ASCII alone (RFC 4343), and strings.ToLower would make hosts that
// net/http dials apart equal (it maps U+0130 to "i", where the IDNA
// mapping net/http applies gives "i" and U+0307: "logİn.example" is
// xn--login-bgd.example, not login.example). Hosts that differ otherwise
// than in ASCII case are so different origins, which at worst refuses a
// redirect between two spellings of one name.
func originOf(u *url.URL) string {
	scheme, host := ascii.Lower(u.Scheme), ascii.Lower(u.Hostname())
	port := u.Port()
	if port != "" {
		port = strings.TrimLeft(port, "0")
		if port == "" {
			port = "0"
		}
	}
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if port != "" {
		return scheme + "://" + net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}

// maxTokenResponse is how much of a successful answer is read to find its
// token_type: as much as golang.org/x/oauth2 reads of a token response.
const maxTokenResponse = 1 << 20

// refuseUnboundToken returns an error wrapping ErrNotDPoPToken if resp is
// a token response (see RoundTrip) whose token_type is not DPoP, and
// otherwise nil, leaving the body for the caller to read whole.
func refuseUnboundToken(resp *http.Response) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 || resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if err != nil {
		return nil // the token source fails reading it too
	}
	// JSON whatever the Content-Type, as golang.org/x/oauth2/jwt reads it;
	// also form-encoded when labelled so, as golang.org/x/oauth2 reads it.
	// A body is not both: no reading finds a token the other would miss.
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	unbound := json.Unmarshal(head, &tok) == nil && tok.AccessToken != "" && !strings.EqualFold(tok.TokenType, "DPoP")
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); !unbound && (ct == "application/x-www-form-urlencoded" || ct == "text/plain") {
		if vals, err := url.ParseQuery(string(head)); err == nil {
			unbound = vals.Get("access_token") != "" && !strings.EqualFold(vals.Get("token_type"), "DPoP")
		}
	}
	if unbound {
		return fmt.Errorf("%w: the token endpoint did not bind it to the proof's key", ErrNotDPoPToken)
	}
	return nil
}

// roundTrip is RoundTrip without the check of the token's type.
func (t *DPoPTransport) roundTrip(req *http.Request) (*http.Response, error) {
	// The proof names the request as it goes out (RFC 9110, section 7.1):
	// its Host, if set, is the host the server sees, and no Method is GET.
	u := *req.URL
	if req.Host != "" {
		u.Host = req.Host
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	htu := u.String()
	htm := req.Method
	if htm == "" {
		htm = http.MethodGet
	}
	origin := originOf(&u) // as redirects are compared: ASCII case only
	nonce := t.nonces.get(origin)
	resp, err := t.send(req, req.Body, htm, htu, nonce)
	if err != nil {
		return nil, err
	}
	fresh := t.learnNonce(origin, resp)
	if resp.StatusCode != http.StatusBadRequest || fresh == "" || fresh == nonce || (req.Body != nil && req.GetBody == nil) {
		return resp, nil
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var e struct {
		Error string `json:"error"`
	}
	if err != nil || json.Unmarshal(head, &e) != nil || e.Error != "use_dpop_nonce" {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
		return resp, nil
	}
	resp.Body.Close()
	var body io.ReadCloser
	if req.GetBody != nil {
		if body, err = req.GetBody(); err != nil {
			return nil, fmt.Errorf("tokencreds: DPoP nonce retry: %w", err)
		}
	}
	resp, err = t.send(req, body, htm, htu, fresh)
	if err == nil {
		t.learnNonce(origin, resp)
	}
	return resp, err
}

// learnNonce remembers resp's DPoP-Nonce, if valid, as origin's latest and
// returns it ("" for none).
func (t *DPoPTransport) learnNonce(origin string, resp *http.Response) string {
	n := validNonce(resp.Header.Get("DPoP-Nonce"))
	if n != "" {
		t.nonces.set(origin, n)
	}
	return n
}

// send sends a copy of req with body and a proof for htm, htu and nonce.
func (t *DPoPTransport) send(req *http.Request, body io.ReadCloser, htm, htu, nonce string) (*http.Response, error) {
	proof, err := t.signer.ProofContext(req.Context(), htm, htu, "", nonce)
	if err != nil {
		if body != nil {
			body.Close()
		}
		if proofContextEnded(req.Context(), err) != nil {
			// The request's context (the token source's, or the
			// http.Client's Timeout) ended while a KMS or HSM key
			// signed: the request fails as it would had the context
			// ended while it was sent, not as a key that failed.
			return nil, fmt.Errorf("tokencreds: the token request's context ended before its DPoP proof was signed: %w", err)
		}
		return nil, fmt.Errorf("%w: %w", errProof, err)
	}
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("DPoP", proof)
	base := t.base
	if base == nil {
		base = http.DefaultTransport
		if _, std := base.(*http.Transport); std && strings.EqualFold(r.URL.Hostname(), "localhost") {
			base = localhostBase()
		}
	}
	resp, err := base.RoundTrip(r)
	if err != nil {
		err = withoutRequestSecrets(err, r)
	}
	return baseAnswer(base, r, resp, err)
}

// withoutRequestSecrets returns err, base's failure of r, with every
// secret r carried (endpoint.RequestSecrets: the form's values but the
// public ones, such as the client secret, a refresh token, an
// authorization code or a client assertion; the Authorization header's
// credentials; the DPoP proof), as written and decoded, read
// endpoint.Redacted in the text of each error of its tree
// (withoutTexts), and err as it is when none holds one; a tree too large
// to examine is withheld whole (errTreeWithheld). net/http quotes a
// status or header line it cannot parse in its error, so that a token
// endpoint, or a proxy, that echoes the request into one put them in the
// error the token source returns, and from there in the cause of the
// calls' errors, which a program logs.
func withoutRequestSecrets(err error, r *http.Request) error {
	tree, whole := errorTree(err)
	if !whole {
		return errTreeWithheld
	}
	return withoutTexts(tree, endpoint.RequestSecrets(r), endpoint.Redacted)
}

// baseAnswer returns base's answer resp, err to r as net/http's Client
// takes a RoundTripper's (http.Client.send): a response with an error is
// the error alone, the response's Body closed (net/http ignores such a
// response, leaving its Body, and the connection under it, to nobody); a
// response without a Body is one with an empty body (http.NoBody), unless
// its ContentLength is positive for a request other than HEAD, which is
// an error; and neither a response nor an error is an error. Both errors
// name base's type. So the nonce retry and the check of the token's type
// read a Body that is there, and RoundTrip's caller (not always an
// http.Client) gets one, and never a response with an error.
func baseAnswer(base http.RoundTripper, r *http.Request, resp *http.Response, err error) (*http.Response, error) {
	switch {
	case err != nil:
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, err
	case resp == nil:
		return nil, fmt.Errorf("tokencreds: the base RoundTripper (%T) returned neither a response nor an error", base)
	case resp.Body == nil && resp.ContentLength > 0 && r.Method != http.MethodHead:
		return nil, fmt.Errorf("tokencreds: the base RoundTripper (%T) returned a response with content length %d but no body", base, resp.ContentLength)
	case resp.Body == nil:
		resp.Body = http.NoBody
	}
	return resp, nil
}

// localhostBase is the base of the DPoPTransports made without one for
// their requests to the name localhost, while http.DefaultTransport is an
// *http.Transport (a RoundTripper of the program's there is used as a
// base of the caller's would be, and cannot be cloned): RoundTrip lets
// plain http reach it as loopback, but http.DefaultTransport would look
// it up (the hosts file, then DNS), and a host whose hosts file lacks it
// would send the token request in clear text to whatever DNS answers.
// internal/endpoint's
// transport, the verifier's, dials it on 127.0.0.1 then ::1 without a
// lookup: a clone of http.DefaultTransport (whose proxy is never used for
// localhost) with 5 s dial and TLS timeouts and at most 64 KiB of response
// headers.
var localhostBase = sync.OnceValue(func() http.RoundTripper {
	return endpoint.NewClient(0, http.DefaultMaxIdleConnsPerHost).Transport
})

var _ http.RoundTripper = (*DPoPTransport)(nil)
