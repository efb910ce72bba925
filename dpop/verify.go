package dpop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1" // x5t: a certificate's digest, as RFC 7517 (4.8) defines it
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/cert"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/jwsalg"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/internal/panictext"
	"github.com/grpcauth/grpcauth/internal/redact"
)

// ProofType is the typ header of a DPoP proof.
const ProofType = "dpop+jwt"

// Verifier checks DPoP proofs. It is safe for concurrent use; create one
// with NewVerifier and share it. A Verifier that NewVerifier did not build
// (a zero Verifier, or a nil *Verifier) refuses every proof with a
// "dpop: ... not built with NewVerifier" error wrapping
// ErrReplayCheckUnavailable, logged once per process through
// slog.Default(): it has no algorithms and no ReplayCache, so no proof can
// be checked, and the fault is the server's, not the proof's (a server
// answers it as it answers a failing replay store, as the verifier and
// introspect packages' unbuilt verifiers are answered with
// codes.Unavailable). Its Algorithms and Nonces are nil, and its Nonce
// "". It never panics.
type Verifier struct {
	s         settings
	verifiers map[string]jws.Verifier // one per allowed alg; stateless
}

// NewVerifier validates cfg and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	s, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	v := &Verifier{s: s, verifiers: make(map[string]jws.Verifier, len(s.algorithms))}
	for _, alg := range s.algorithms {
		// Ed25519 gets jwx's EdDSA verifier, and keyFits holds it to
		// Ed25519 keys (see internal/jwsalg: nothing is registered in jwx).
		jv, err := jwsalg.NewVerifier(alg)
		if err != nil {
			return nil, fmt.Errorf("dpop: Config.Algorithms: %q: %w", alg, err)
		}
		v.verifiers[alg] = jv
	}
	if c, ok := s.replay.(RetainingReplayCache); ok {
		// Shared with a Verifier of another MaxAge, a *MemoryReplayCache
		// (also one a type of the caller's embeds) keeps every proof for
		// the longer window, and refuses those it may have forgotten
		// under the shorter: see MemoryReplayCache. Last, so that only a
		// Verifier that is built tells it.
		if err := retain(c, s.replayWindow(), s.now); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// retain is c.Retain(window, now), which NewVerifier calls with the
// caller's code: Config.Now, which Retain reads when window is longer
// than the cache's (a *MemoryReplayCache shared with a Verifier of a
// shorter MaxAge), and a Retain of the caller's own. A panic of either
// (or a panic(nil) under GODEBUG=panicnil=1) is an error naming which,
// with the panic's value (panictext.Run), rather than a crash of the
// process at start-up (NewVerifier runs in grpcauth.New), as a panic of
// the caller's code at construction is elsewhere in the module (a
// ConditionCompiler's in grpcauth.New, a source's Stats in
// otelmetrics.New). A *MemoryReplayCache is left as it was (see
// MemoryReplayCache.Retain): no Verifier is built, so none is told.
func retain(c RetainingReplayCache, window time.Duration, now func() time.Time) error {
	var nowFailed atomic.Bool // now did not return: the panic is Config.Now's
	clock := func() time.Time {
		returned := false
		defer func() {
			if !returned {
				nowFailed.Store(true)
			}
		}()
		t := now()
		returned = true
		return t
	}
	text, panicked := panictext.Run(func() { c.Retain(window, clock) }, endpoint.MaxErrorText)
	switch {
	case !panicked:
		return nil
	case nowFailed.Load():
		return fmt.Errorf("dpop: Config.Now panicked as NewVerifier told Config.ReplayCache the Verifier's MaxAge: %s", text)
	}
	return fmt.Errorf("dpop: Config.ReplayCache: the Retain method of a %T panicked: %s", c, text)
}

// Algorithms returns the accepted proof algorithms, in configuration order:
// what a server advertises in its challenge (algs="ES256 EdDSA Ed25519").
func (v *Verifier) Algorithms() []string {
	if !v.built() {
		return nil
	}
	return append([]string(nil), v.s.algorithms...)
}

// Nonces returns Config.Nonces (nil when nonces are not required). Send a
// client Verifier.Nonce rather than its Nonce: Verifier.Nonce refuses a
// value that is no nonce (ErrBadNonce).
func (v *Verifier) Nonces() NonceSource {
	if !v.built() {
		return nil
	}
	return v.s.nonces
}

// Request describes the request a proof came with.
type Request struct {
	// Method is the HTTP method ("POST" for every gRPC call). The proof's
	// htm must equal it. Verify refuses a Request without one, with an
	// error that wraps none of the package's Err values.
	Method string
	// Scheme ("http" or "https") and Authority (host[:port], the
	// :authority or Host header) of the request as the server received
	// it. The proof's htu must have this origin or one of
	// Config.Origins (only the latter with Config.OnlyOrigins). An empty
	// Authority accepts Config.Origins only.
	Scheme    string
	Authority string
	// Path is the request's path as the client sent it, percent-encoded
	// and without the query, e.g. "/pkg.Service/Method": in net/http,
	// cmp.Or(r.URL.RawPath, r.URL.EscapedPath()) (RawPath is the path as
	// sent when it is not the default encoding of r.URL.Path). Not
	// r.URL.Path, whose decoding makes the path of "/files/a%2Fb" (one
	// segment) the same as that of "/files/a/b" (two), so that a proof
	// for one is accepted at the other; nor r.URL.EscapedPath() alone,
	// which encodes that decoded path anew when the path holds a
	// character it escapes ("/files/a%2Fb|c" is "/files/a/b%7Cc"). The
	// proof's htu must have this path (after normalisation); a path with
	// a "." or ".." segment matches no htu, as a handler served without
	// net/http's ServeMux (which redirects it) routes it as it is. Verify
	// refuses a Request without one, like one without a Method: an empty
	// Path would match the htu of an origin alone ("/").
	Path string
	// AccessToken, when not empty, is the access token the proof came
	// with: the proof's ath must be its base64url SHA-256 (RFC 9449, 4.3,
	// item 12). Empty at a token endpoint, where ath is not checked.
	AccessToken string
	// KeyThumbprint is the cnf jkt of the access token: the proof's key
	// must have this RFC 7638 SHA-256 thumbprint (ErrKeyMismatch
	// otherwise; RFC 9449, 4.3, item 12). It is required with an
	// AccessToken: Verify refuses a Request with an AccessToken and no
	// KeyThumbprint, with an error that wraps none of the package's Err
	// values, since a proof signed by any key would otherwise be
	// accepted, and whoever holds a stolen DPoP-bound token would make
	// one with a key of their own. Empty at a token endpoint (with no
	// AccessToken), where the proof's key is the one to bind; it may be
	// given without an AccessToken, and is then checked alone.
	KeyThumbprint string
}

// Proof is what a verified proof says.
type Proof struct {
	// Thumbprint is the unpadded base64url RFC 7638 SHA-256 thumbprint of
	// the proof's key: the jkt a token bound to it carries.
	Thumbprint string
	// Algorithm is the proof's alg.
	Algorithm string
	// ID is the proof's jti.
	ID string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
	// Nonce is the proof's nonce ("" when it has none).
	Nonce string
}

// b64 decodes the parts of a compact JWS: unpadded base64url with canonical
// trailing bits.
var b64 = base64.RawURLEncoding.Strict()

// invalid wraps ErrInvalidProof with a detail for the server log.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProof}, args...)...)
}

// Fixed rejections.
var (
	errEmpty   = invalid("empty")
	errTooLong = invalid("larger than Config.MaxProofSize")
	errParts   = invalid("not a compact JWS (want 3 dot-separated parts)")
	errB64     = invalid("bad base64url encoding")
	errHeader  = invalid("header is not a JSON object with string members typ and alg")
	errClaims  = invalid("claims are not a JSON object with string jti, htm, htu (and ath, nonce) and numeric iat")
	errSig     = invalid("bad signature")
	errCrit    = invalid("crit header: no extension is understood")
	errNoJWK   = invalid("no jwk header")
	// errKeyRef refuses a proof that names a key besides its jwk: a jku,
	// x5u, x5c, x5t or x5t#S256 header member (see keyRefMembers),
	// refused whatever it holds before the claims, the jwk and the
	// signature are read, or an x5u member of the jwk, refused whatever it
	// holds when the jwk is read. A jwk's x5c is no key reference when
	// its first certificate is of the jwk's own key (checkX5C); errX5C and
	// errX5CKey refuse the others.
	errKeyRef = invalid("a key reference (jku, x5u, x5c, x5t or x5t#S256): a proof's key is its jwk's own members alone")
	// errX5C refuses a proof whose jwk has an x5c (RFC 7517, 4.7) with no
	// first certificate that Verify reads: an empty array or null, a
	// first member that is not standard base64 (padded, without line
	// breaks) of at most maxX5CCertLen bytes, or whose bytes are no DER
	// X.509 certificate. An x5c that is no array of strings fails jwx's
	// parse of the jwk before (a "jwk:" cause naming x5c).
	errX5C = invalid("jwk x5c: its first member is not a base64 DER certificate of at most %d bytes", maxX5CCertLen)
	// errX5CKey refuses a proof whose jwk has an x5c whose first
	// certificate holds another public key than the jwk's (RFC 7517, 4.7:
	// it MUST match).
	errX5CKey = invalid("jwk x5c: its first certificate is not of the jwk's key")
	// errX5T refuses a proof whose jwk has an x5c and an x5t (or
	// x5t#S256) that is not the unpadded base64url SHA-1 (SHA-256) digest
	// of the DER of x5c's first certificate (RFC 7517, 4.8 and 4.9): it
	// names another certificate than the one checkX5C holds to the jwk's
	// key, which nothing here can tie to it.
	errX5T = invalid("jwk x5t or x5t#S256: not the thumbprint of its x5c's first certificate")
)

// maxX5CCertLen bounds the first member of a jwk's x5c that Verify decodes
// and parses, in base64 bytes: 8 KiB, some 6 KiB of DER, several times a
// certificate of an 8192-bit RSA key signed by another such key. The proof
// is bounded by Config.MaxProofSize, which a server may raise; this bounds
// the certificate parsed whatever it is. The chain's other members are
// neither decoded nor parsed.
const maxX5CCertLen = 8 << 10

// keyRefMembers are the members of a JWS header that name a key by URL
// (jku, x5u), carry one in a certificate chain (x5c), or name the
// certificate of the key that signed the JWS by its SHA-1 or SHA-256
// digest (x5t, x5t#S256; RFC 7515, sections 4.1.2 to 4.1.8). A proof's
// key is its jwk header (RFC 9449, section 4.2: "jwk: Representation of
// the public key chosen by the client"; 4.3, item 6: the signature
// "verifies with the public key contained in the jwk JOSE Header
// Parameter"), so Verify refuses a proof holding any of them (errKeyRef)
// rather than leave a second statement of its key in it, which no check
// here would tie to the jwk (that would take fetching the URLs, parsing a
// chain of the sender's next to the jwk, or finding the certificate a
// digest names) and which a JOSE library reading the proof after it might
// take for the key: RFC 7515 (6) makes these members the ways a recipient
// determines the signing key, and a header x5t of another certificate
// would attribute the proof to that certificate's holder. Verify never
// parses, fetches or uses them. A header x5t or x5t#S256 is refused even
// when it is the digest of a certificate of the jwk's key, as a header
// x5c of that certificate is: a certificate and its thumbprints belong in
// the jwk (RFC 7517, 4.7 to 4.9), where they are checked. A jwk's x5u is
// refused likewise when the jwk is read (RFC 7517, 4.6). A jwk's x5c (RFC
// 7517, 4.7) is not: Nimbus's DefaultDPoPProofFactory (Java) sends its
// key's certificate chain there, and RFC 7517 requires its first
// certificate to hold the jwk's key, which checkX5C checks, so it adds no
// second key; an x5t or x5t#S256 beside that x5c must be the thumbprint of
// its first certificate (errX5T). A kid, and a jwk's x5t or x5t#S256
// without x5c, names no key of its own and is left alone: a jwk's members
// describe the jwk (RFC 7517, 4.8: the certificate's key "MUST match the
// public key represented by other members of the JWK"), not the proof's
// signer apart from it; the digest of a certificate that is not in the
// proof adds no key to it (no check here could find that certificate, and
// none uses it), RFC 9449 (4.2, 4.3) asks of the jwk only that it be a
// public key, and RFC 7638 leaves x5t out of the thumbprint a token binds.
var keyRefMembers = [...]string{"jku", "x5u", "x5c", "x5t", "x5t#S256"}

// Refusals of a Request that names no method or path: no request has
// either empty, so an adapter that passes one is broken, and would have a
// proof whose htm is empty, or whose htu is any path's origin alone
// (normalised to "/"), accepted for whatever request it serves.
var (
	errNoMethod = errors.New("dpop: Request.Method is empty: pass the request's HTTP method (POST for gRPC)")
	errNoPath   = errors.New("dpop: Request.Path is empty: pass the request's path (the gRPC method, /pkg.Service/Method)")
	// errNoThumbprint refuses a Request whose access token comes without
	// its cnf jkt: the proof's key would be checked against nothing, and
	// a proof by any key accepted with the token.
	errNoThumbprint = errors.New("dpop: Request.AccessToken without Request.KeyThumbprint: pass the access token's cnf jkt, which the proof's key must match (RFC 9449, 4.3, item 12)")
)

// maxQuoted bounds how many bytes of attacker-chosen text (a proof's typ,
// alg, htm or htu, a request's method, path or authority) an error quotes.
const maxQuoted = 40

// clip shortens attacker-chosen text before it goes into an error, at a
// UTF-8 boundary (endpoint.Clip, which the module's logs share); the
// error quotes it with %q, so that a line break or invalid UTF-8 in it
// stays escaped.
func clip(s string) string { return endpoint.Clip(s, maxQuoted) }

// htuForLog is htu as an error quotes it: its scheme, host and path only,
// clipped. Its query and fragment may carry secrets (a token in a query
// parameter), and so may a user info, which Verify refuses, so they stay
// out of the log: the user info is replaced by "…@" (redact.UserInfo,
// which reads one up to the last "@", as a password holding "?" or "#"
// needs), then everything from the first "?" or "#" is cut. When a "?"
// or "#" comes before the last "@", what follows that "@" may be a
// query's or a fragment's ("?to=a@b.example&tok=…") as well as a host's,
// so it is cut too: the htu is then quoted as "https://…@".
func htuForLog(htu string) string {
	s := htu
	if at := strings.LastIndexByte(s, '@'); at >= 0 && strings.ContainsAny(s[:at], "?#") {
		s = s[:at+1]
	}
	s = redact.UserInfo(s)
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	return clip(s)
}

// jwxError is the text of an error jwx returned for a proof's jwk, for the
// log: jwx quotes the jwk's members (kty, crv) in its errors, so it is
// bounded and quoted like the proof's other attacker-chosen text.
func jwxError(err error) string {
	return strconv.Quote(endpoint.Clip(err.Error(), 160))
}

// parseJWK is jwk.ParseKey, which publicKey calls; a test replaces it to
// make jwx panic.
var parseJWK = jwk.ParseKey

// The wrappers of the panics of jwx's (a jwx bug the proof reached) that
// Verify recovers (jwxpanic.Recover): each makes the proof invalid, its
// cause naming the step and whether the panic was raised in jwx. The
// proof, its jwk and its signature are the sender's, and Verify runs on
// the request's goroutine, where a panic would end a gRPC server's
// process (grpc-go recovers none). They are package variables so that
// deferring them allocates nothing.
var (
	jwkPanicked        = panicked("checking the jwk")
	thumbprintPanicked = panicked("taking the jwk's thumbprint")
	signaturePanicked  = panicked("checking the signature")
)

// panicked returns the wrapper of a panic recovered while jwx did what.
func panicked(what string) func(*jwxpanic.Error) error {
	return func(e *jwxpanic.Error) error { return fmt.Errorf("%w: %s %w", ErrInvalidProof, what, e) }
}

// thumbprint returns key's RFC 7638 SHA-256 thumbprint, a panic of jwx's
// recovered into an invalid proof.
func thumbprint(key jwk.Key) (tp []byte, err error) {
	defer jwxpanic.Recover(&err, thumbprintPanicked)
	tp, err = key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalid("thumbprint: %s", jwxError(err))
	}
	return tp, nil
}

// verifySignature checks sig over input with jv, jwx's verifier for the
// proof's alg, and pub, the proof's key: errSig when it does not verify,
// and a panic of jwx's recovered into an invalid proof.
func verifySignature(jv jws.Verifier, input, sig []byte, pub crypto.PublicKey) (err error) {
	defer jwxpanic.Recover(&err, signaturePanicked)
	if jv.Verify(input, sig, pub) != nil {
		return errSig
	}
	return nil
}

// Verify checks proof, the value of the request's dpop header, against req
// and records it in the ReplayCache. RFC 9449's first check (section 4.3,
// item 1: not more than one DPoP header) is the caller's, since Verify sees
// one value: refuse a request with several (in net/http,
// len(r.Header.Values("DPoP")) > 1; r.Header.Get would take the first)
// before calling it, as the grpcauth interceptors and connectauth do. It
// returns what the proof says, or an error wrapping one of
// ErrInvalidProof, ErrKeyMismatch, ErrUseNonce, ErrReplayed or
// ErrReplayCheckUnavailable (or ctx's error, from a shared ReplayCache,
// or, for a req without Method or Path, or with an AccessToken and no
// KeyThumbprint, an error that wraps none of them). The checks run in RFC
// 9449's order (section 4.3), then the key binding; the replay cache is
// consulted last, so that only proofs that would be accepted are ever
// recorded. A Verifier NewVerifier did not build refuses every proof (see
// Verifier).
func (v *Verifier) Verify(ctx context.Context, proof string, req Request) (Proof, error) {
	switch {
	case !v.built():
		return Proof{}, notBuilt()
	case req.Method == "":
		return Proof{}, errNoMethod
	case req.Path == "":
		return Proof{}, errNoPath
	case req.AccessToken != "" && req.KeyThumbprint == "":
		return Proof{}, errNoThumbprint
	case proof == "":
		return Proof{}, errEmpty
	case len(proof) > v.s.maxSize:
		return Proof{}, errTooLong
	}
	hdrPart, rest, _ := strings.Cut(proof, ".")
	payloadPart, sigPart, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sigPart, '.') >= 0 {
		return Proof{}, errParts
	}
	hdrJSON, err := b64.DecodeString(hdrPart)
	if err != nil {
		return Proof{}, errB64
	}
	payloadJSON, err := b64.DecodeString(payloadPart)
	if err != nil {
		return Proof{}, errB64
	}
	sig, err := b64.DecodeString(sigPart)
	if err != nil {
		return Proof{}, errB64
	}
	h, err := parseHeader(hdrJSON)
	if err != nil {
		return Proof{}, err
	}
	c, err := parseClaims(payloadJSON)
	if err != nil {
		return Proof{}, err
	}
	if !strings.EqualFold(h.typ, ProofType) {
		return Proof{}, invalid("typ %q, want %q", clip(h.typ), ProofType)
	}
	jv, ok := v.verifiers[h.alg]
	if !ok {
		return Proof{}, invalid("alg %q is not allowed (allowed: %s)", clip(h.alg), strings.Join(v.s.algorithms, " "))
	}
	key, pub, err := publicKey(h.jwk, h.alg)
	if err != nil {
		return Proof{}, err
	}
	if err := verifySignature(jv, []byte(proof[:len(hdrPart)+1+len(payloadPart)]), sig, pub); err != nil {
		return Proof{}, err
	}
	if c.htm != req.Method {
		return Proof{}, invalid("htm %q, want %q", clip(c.htm), clip(req.Method))
	}
	if err := v.checkHTU(c.htu, req); err != nil {
		return Proof{}, err
	}
	now := v.s.now()
	if n := v.s.nonces; n != nil {
		switch {
		case c.nonce == "":
			return Proof{}, fmt.Errorf("%w: the proof has no nonce", ErrUseNonce)
		case !validNonce(c.nonce): // never one Nonce hands out: Valid need not see it
			return Proof{}, fmt.Errorf("%w: the proof's nonce is malformed or longer than %d bytes", ErrUseNonce, MaxNonceLen)
		case !n.Valid(c.nonce, now):
			return Proof{}, fmt.Errorf("%w: the proof's nonce is stale or not ours", ErrUseNonce)
		}
	}
	if err := v.checkAge(c.iat, now); err != nil {
		return Proof{}, err
	}
	if c.iat.After(now.Add(v.s.leeway)) {
		return Proof{}, invalid("iat %s is more than %s after now (%s)", c.iat.UTC().Format(time.RFC3339), v.s.leeway, now.UTC().Format(time.RFC3339))
	}
	if req.AccessToken != "" {
		want := sha256.Sum256([]byte(req.AccessToken))
		if !equalB64(c.ath, want[:]) {
			if c.ath == "" {
				return Proof{}, invalid("no ath")
			}
			return Proof{}, invalid("ath is not the hash of the access token")
		}
	}
	tp, err := thumbprint(key)
	if err != nil {
		return Proof{}, err
	}
	if req.KeyThumbprint != "" && !equalB64(req.KeyThumbprint, tp) {
		return Proof{}, ErrKeyMismatch
	}
	p := Proof{
		Thumbprint: base64.RawURLEncoding.EncodeToString(tp),
		Algorithm:  h.alg,
		ID:         c.jti,
		IssuedAt:   c.iat,
		Nonce:      c.nonce,
	}
	added, err := addProof(ctx, v.s.replay, now, p.Thumbprint, replayKey(tp, c.jti), c.iat, v.s.replayWindow())
	switch {
	case err != nil && ctx.Err() != nil:
		return Proof{}, fmt.Errorf("dpop: replay check: %w", ctx.Err())
	case err != nil:
		return Proof{}, fmt.Errorf("%w: %w", ErrReplayCheckUnavailable, err)
	case !added:
		return Proof{}, ErrReplayed
	}
	// A store that answers late (slow, far away, or a goroutine that waited)
	// may have let the entry of this proof's first use expire in the
	// meantime, and recorded a replay checked at the end of the window
	// anew. Its age, judged again now that it is recorded, refuses it.
	if err := v.checkAge(c.iat, v.s.now()); err != nil {
		return Proof{}, fmt.Errorf("%w, once the replay store answered", err)
	}
	return p, nil
}

// checkAge refuses a proof whose iat is more than MaxAge before now.
func (v *Verifier) checkAge(iat, now time.Time) error {
	if iat.Before(now.Add(-v.s.maxAge)) {
		return invalid("iat %s is more than %s before now (%s)", iat.UTC().Format(time.RFC3339), v.s.maxAge, now.UTC().Format(time.RFC3339))
	}
	return nil
}

// equalB64 reports, in constant time for a well-formed s, whether s is the
// unpadded base64url encoding of want.
func equalB64(s string, want []byte) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(len(want)) {
		return false
	}
	got := make([]byte, len(want))
	n, err := b64.Decode(got, []byte(s))
	return err == nil && n == len(want) && subtle.ConstantTimeCompare(got, want) == 1
}

// replayKey identifies a proof in the ReplayCache: the base64url SHA-256 of
// the key's thumbprint and the jti. jti need only be unique per key, and a
// client cannot fill another key's jti space.
func replayKey(thumbprint []byte, jti string) string {
	h := sha256.New()
	h.Write(thumbprint)
	h.Write([]byte(jti))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func (v *Verifier) checkHTU(htu string, req Request) error {
	o, path, err := parseURL(htu)
	if err != nil {
		return invalid("htu %q: %v", htuForLog(htu), err)
	}
	// A request path's dot segments are not removed: ServeMux redirects
	// such a path before any handler runs, but a handler served without
	// one (vanguard's transcoder) routes "/v1/x/../a" as it is, "..", a
	// name, so it is no request for "/v1/a". It matches no htu.
	if hasDotSegment(req.Path) || path != normalizePath(req.Path) {
		return invalid("htu %q is not this request's URL (path %q)", htuForLog(htu), clip(req.Path))
	}
	if ro, ok := requestOrigin(req.Scheme, req.Authority); ok && o == ro && !v.s.onlyOrigins {
		return nil
	}
	for _, c := range v.s.origins {
		if o == c {
			return nil
		}
	}
	return invalid("htu %q is not this request's URL (origin %q)", htuForLog(htu), clip(redact.UserInfo(req.Scheme+"://"+req.Authority)))
}

// header is a proof's protected header.
type header struct {
	typ, alg string
	jwk      json.RawMessage
}

// parseHeader decodes the header's members. Names are matched exactly
// (encoding/json alone would match "TYP" to typ). A crit header is refused:
// this verifier understands no extension; so is a header naming a key
// besides the jwk (keyRefMembers), whatever that member holds.
func parseHeader(b []byte) (header, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return header{}, errHeader
	}
	var h header
	if json.Unmarshal(m["typ"], &h.typ) != nil || json.Unmarshal(m["alg"], &h.alg) != nil {
		return header{}, errHeader
	}
	if _, ok := m["crit"]; ok {
		return header{}, errCrit
	}
	for _, name := range keyRefMembers {
		if _, ok := m[name]; ok {
			return header{}, errKeyRef
		}
	}
	h.jwk = m["jwk"]
	return h, nil
}

// claims are a proof's claims.
type claims struct {
	jti, htm, htu, ath, nonce string
	iat                       time.Time
}

// parseClaims decodes the claims and checks that jti, htm, htu and iat are
// present (RFC 9449, 4.2) and well typed.
func parseClaims(b []byte) (claims, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return claims{}, errClaims
	}
	var c claims
	for _, s := range [...]struct {
		name     string
		dst      *string
		required bool
	}{{"jti", &c.jti, true}, {"htm", &c.htm, true}, {"htu", &c.htu, true}, {"ath", &c.ath, false}, {"nonce", &c.nonce, false}} {
		raw, ok := m[s.name]
		if !ok {
			if s.required {
				return claims{}, invalid("no %s claim", s.name)
			}
			continue
		}
		if json.Unmarshal(raw, s.dst) != nil {
			return claims{}, errClaims
		}
	}
	if c.jti == "" || len(c.jti) > maxJTILen {
		return claims{}, invalid("jti empty or longer than %d bytes", maxJTILen)
	}
	raw, ok := m["iat"]
	if !ok {
		return claims{}, invalid("no iat claim")
	}
	var iat float64
	if json.Unmarshal(raw, &iat) != nil || math.IsNaN(iat) || iat < 0 || iat > 1<<40 {
		return claims{}, errClaims
	}
	sec, frac := math.Modf(iat)
	c.iat = time.Unix(int64(sec), int64(frac*1e9))
	return c, nil
}

// privateMembers are the JWK members of private and symmetric keys (RFC
// 7518, sections 6.2.2, 6.3.2 and 6.4.1; RFC 8037, section 2): a proof's
// jwk has none of them (RFC 9449, section 4.3, item 7). p and q alone
// factor an RSA modulus.
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// publicKey parses the jwk header with jwx and checks that it is a public
// key (no private or symmetric members), declared for nothing but alg
// (declaredFor), that fits alg, and, for RSA, has an exponent jwx reads
// whole that is odd and at least 3 or, for Ed25519, is not of small order
// (jwsalg.SmallOrderEd25519: anyone signs under such a key). It returns the
// jwk.Key (for the thumbprint) and the raw public key (for the signature).
// A panic while the jwk is checked, raised in jwx or (a bug of its own)
// in this package's checks, is recovered into an invalid proof, whose
// cause says which (jwxpanic).
func publicKey(raw json.RawMessage, alg string) (_ jwk.Key, _ crypto.PublicKey, err error) {
	defer jwxpanic.Recover(&err, jwkPanicked)
	if len(raw) == 0 {
		return nil, nil, errNoJWK
	}
	key, err := parseJWK(raw)
	if err != nil {
		return nil, nil, invalid("jwk: %s", jwxError(err))
	}
	switch key.(type) {
	case jwk.RSAPrivateKey, jwk.ECDSAPrivateKey, jwk.OKPPrivateKey, jwk.SymmetricKey:
		return nil, nil, invalid("jwk is a %s private or symmetric key, not a public key", key.KeyType())
	}
	// jwx parses a jwk as a private key only when it has d; p, q and the
	// other members are kept on a public key.
	for _, name := range privateMembers {
		if _, ok := key.Get(name); ok {
			return nil, nil, invalid("jwk has the private or symmetric key member %q", name)
		}
	}
	// jwx keeps a jwk's x5u as the string it is, never fetched, and its
	// x5c as strings, undecoded: checkX5C reads it once the key fits.
	if _, ok := key.Get(jwk.X509URLKey); ok {
		return nil, nil, errKeyRef
	}
	if err := declaredFor(key, alg); err != nil {
		return nil, nil, err
	}
	var pub any
	if err := key.Raw(&pub); err != nil {
		return nil, nil, invalid("jwk: %s", jwxError(err))
	}
	if !keyFits(alg, pub) {
		return nil, nil, invalid("jwk (%s) does not fit alg %s", key.KeyType(), alg)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		// jwx reads e with big.Int.Int64 (2^64+65537 is 65537), so its
		// encoded length is checked first, as in the verifier's JWKS.
		if rk, ok := key.(jwk.RSAPublicKey); !ok || len(rk.E()) > 4 || k.E < 3 || k.E%2 == 0 {
			return nil, nil, invalid("jwk RSA exponent e is not an odd number of 3 to 32 bits")
		}
	case ed25519.PublicKey:
		if jwsalg.SmallOrderEd25519(k) {
			return nil, nil, invalid("jwk is an Ed25519 key of small order, whose signatures anyone can make")
		}
	}
	if chain := key.X509CertChain(); chain != nil {
		if err := checkX5C(key, chain, pub); err != nil {
			return nil, nil, err
		}
	}
	return key, pub, nil
}

// checkX5C accepts the x5c of key, a jwk whose public key is pub, when its
// first certificate holds pub itself (RFC 7517, 4.7), as the key type's
// Equal says, and key's x5t and x5t#S256, if any, are that certificate's
// SHA-1 and SHA-256 thumbprints (4.8, 4.9); it refuses any other (errX5C,
// errX5CKey, errX5T). Only that certificate is decoded, parsed and
// digested, and only when it is at most maxX5CCertLen bytes of base64.
// The chain is not validated (no issuer, date, name or signature is read;
// nothing is fetched) and grants nothing: the proof's key, and its
// thumbprint (RFC 7638: the key's required members only), are the jwk's
// own members alone, with x5c or without.
func checkX5C(key jwk.Key, chain *cert.Chain, pub crypto.PublicKey) error {
	b64cert, ok := chain.Get(0)
	if !ok || len(b64cert) > maxX5CCertLen || bytes.ContainsAny(b64cert, "\r\n") {
		// the standard encoding skips line breaks, even Strict
		return errX5C
	}
	der := make([]byte, base64.StdEncoding.DecodedLen(len(b64cert)))
	n, err := base64.StdEncoding.Strict().Decode(der, b64cert)
	if err != nil {
		return errX5C
	}
	c, err := x509.ParseCertificate(der[:n])
	if err != nil {
		return errX5C
	}
	k, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !k.Equal(c.PublicKey) {
		return errX5CKey
	}
	if _, ok := key.Get(jwk.X509CertThumbprintKey); ok {
		if sum := sha1.Sum(c.Raw); !equalB64(key.X509CertThumbprint(), sum[:]) {
			return errX5T
		}
	}
	if _, ok := key.Get(jwk.X509CertThumbprintS256Key); ok {
		if sum := sha256.Sum256(c.Raw); !equalB64(key.X509CertThumbprintS256(), sum[:]) {
			return errX5T
		}
	}
	return nil
}

// declaredFor refuses a jwk whose optional members declare it for another
// purpose than verifying this proof: an alg other than the proof's exactly
// (RFC 7517, 4.4; a key is used with one algorithm only, RFC 8725, 3.1:
// "EdDSA" and "Ed25519" are distinct, as in package verifier), a use other
// than "sig" (4.2), or key_ops without "verify" (4.3).
func declaredFor(key jwk.Key, alg string) error {
	if _, ok := key.Get(jwk.AlgorithmKey); ok {
		if ka := key.Algorithm().String(); ka != alg {
			return invalid("jwk alg %q is not the proof's alg %s", clip(ka), alg)
		}
	}
	if _, ok := key.Get(jwk.KeyUsageKey); ok && key.KeyUsage() != string(jwk.ForSignature) {
		return invalid("jwk use %q is not %q", clip(key.KeyUsage()), jwk.ForSignature)
	}
	if _, ok := key.Get(jwk.KeyOpsKey); ok && !slices.Contains(key.KeyOps(), jwk.KeyOpVerify) {
		return invalid("jwk key_ops lacks %q", jwk.KeyOpVerify)
	}
	return nil
}

// The sizes of RSA modulus accepted: at least 2048 bits (RFC 7518, 3.3 and
// 3.5), at most 8192, as in the verifier's JWKS. RSA verification costs
// grow with the square of the modulus, and a proof's key is the sender's
// choice: a 16384-bit one fits in DefaultMaxProofSize and costs tens of
// 2048-bit checks, whether or not the signature is valid.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// keyFits reports whether pub is the right kind of key for alg: RSA of
// 2048 to 8192 bits for RS and PS, the alg's NIST curve for ES (on the
// curve), Ed25519 for EdDSA and Ed25519.
func keyFits(alg string, pub any) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return (alg[0] == 'R' || alg[0] == 'P') && k.N != nil && k.N.BitLen() >= minRSABits && k.N.BitLen() <= maxRSABits
	case *ecdsa.PublicKey:
		if k.Curve == nil || alg[0] != 'E' || alg == "EdDSA" {
			return false
		}
		if _, err := k.ECDH(); err != nil { // not on the curve
			return false
		}
		bits := k.Curve.Params().BitSize
		return alg == "ES256" && bits == 256 || alg == "ES384" && bits == 384 || alg == "ES512" && bits == 521
	case ed25519.PublicKey:
		return (alg == "EdDSA" || alg == jwsalg.Ed25519) && len(k) == ed25519.PublicKeySize
	}
	return false
}
