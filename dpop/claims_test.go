package dpop_test

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// A proof is held to RFC 9449's values exactly: a jti that is empty or
// longer than 256 bytes (it goes into the replay store), an ath that is
// the access token's hash padded or followed by more bytes, an htm in
// another case than the request's method, a typ that only contains
// dpop+jwt, and a cnf jkt padded are refused, while the same proofs with
// the exact values are accepted.
func TestVerify_RefusesValuesThatAreAlmostRight(t *testing.T) {
	k := newKey(t, "ES256")
	v := newVerifier(t, dpop.Config{})
	req := testReq
	req.KeyThumbprint = k.Thumbprint()
	ath := dpop.AccessTokenHash(testToken)
	valid := grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken}
	for _, tc := range []struct {
		name  string
		opts  func(o *grpcauthtest.ProofOptions)
		cause string
	}{
		{"empty jti", func(o *grpcauthtest.ProofOptions) { o.Claims = map[string]any{"jti": ""} }, "jti empty"},
		{"jti of 257 bytes", func(o *grpcauthtest.ProofOptions) { o.ID = strings.Repeat("j", 257) }, "longer than 256"},
		{"ath padded", func(o *grpcauthtest.ProofOptions) { o.Claims = map[string]any{"ath": ath + "="} }, "ath is not the hash"},
		{"ath followed by more bytes", func(o *grpcauthtest.ProofOptions) { o.Claims = map[string]any{"ath": ath + "AAAA"} }, "ath is not the hash"},
		{"ath cut short", func(o *grpcauthtest.ProofOptions) { o.Claims = map[string]any{"ath": ath[:40]} }, "ath is not the hash"},
		{"ath with its unused bits set", func(o *grpcauthtest.ProofOptions) { o.Claims = map[string]any{"ath": nonCanonical(ath)} }, "ath is not the hash"},
		{"htm in lower case", func(o *grpcauthtest.ProofOptions) { o.Method = "post" }, "htm"},
		{"typ with a suffix", func(o *grpcauthtest.ProofOptions) { o.Type = "dpop+jwt2" }, "typ"},
		{"typ with a prefix", func(o *grpcauthtest.ProofOptions) { o.Type = "xdpop+jwt" }, "typ"},
		{"typ with a space", func(o *grpcauthtest.ProofOptions) { o.Type = "dpop+jwt " }, "typ"},
		{"typ with a NUL", func(o *grpcauthtest.ProofOptions) { o.Type = "dpop+jwt\x00" }, "typ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.opts(&o)
			_, err := v.Verify(t.Context(), mustProof(t, k, o), req)
			if !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), tc.cause) {
				t.Fatalf("Verify = %v, want ErrInvalidProof naming %q", err, tc.cause)
			}
		})
	}
	o := valid
	o.ID = strings.Repeat("j", 256)
	proof := mustProof(t, k, o)
	padded := req
	padded.KeyThumbprint += "="
	if _, err := v.Verify(t.Context(), proof, padded); !errors.Is(err, dpop.ErrKeyMismatch) {
		t.Errorf("cnf jkt padded: Verify = %v, want ErrKeyMismatch", err)
	}
	unusedBits := req
	unusedBits.KeyThumbprint = nonCanonical(req.KeyThumbprint)
	if _, err := v.Verify(t.Context(), proof, unusedBits); !errors.Is(err, dpop.ErrKeyMismatch) {
		t.Errorf("cnf jkt with its unused bits set: Verify = %v, want ErrKeyMismatch", err)
	}
	if p, err := v.Verify(t.Context(), proof, req); err != nil || p.ID != o.ID {
		t.Errorf("jti of 256 bytes: Verify = %+v, %v, want it accepted", p, err)
	}
}

// A proof's key is its jwk header alone. A proof with a member naming
// another key, a jku, x5u, x5c, x5t or x5t#S256 in its header (RFC 7515,
// 4.1) or an x5u in its jwk, is refused as invalid whatever the member
// holds (a certificate, or its digest, of another key, or junk: no string, bytes that are no
// base64, an empty chain, null), and whichever key signed it: its
// signature is not even checked (the cause is the key reference, never
// "bad signature"). No request reaches the server jku and x5u name. A kid,
// which names no key of its own, changes nothing: the proof signed by
// its jwk's key is accepted, and the one signed by the key kid names is
// not. (A jwk's x5c is accepted when its first certificate is of the
// jwk's key: TestVerify_JWKX5COfTheJWKsOwnKeyIsAccepted.)
func TestVerify_KeyReferencesBesidesTheJWKAreRefused(t *testing.T) {
	var fetched atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		http.Error(w, "not here", http.StatusNotFound)
	}))
	defer srv.Close()

	holder, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherDER := certDER(t, other.Public(), nil, other, nil)
	otherCert := b64Certs(otherDER)
	otherSHA1, otherSHA256 := sha1.Sum(otherDER), sha256.Sum256(otherDER) // header x5t and x5t#S256 of its certificate
	holderJWK, err := jwk.FromRaw(holder.Public())
	if err != nil {
		t.Fatal(err)
	}
	tp, err := holderJWK.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	jwkWith := func(name string, val any) map[string]any {
		m := publicJWK(t, holder)
		m[name] = val
		return m
	}
	req := testReq
	req.KeyThumbprint = base64.RawURLEncoding.EncodeToString(tp)
	n := 0
	sign := func(signer *ecdsa.PrivateKey, key any, extra map[string]any) string {
		hdr := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": key}
		for name, val := range extra {
			hdr[name] = val
		}
		n++
		claims := map[string]any{"jti": fmt.Sprint("proof-", n), "htm": "POST", "htu": testURL, "iat": t0.Unix(), "ath": dpop.AccessTokenHash(testToken)}
		return signJSON(t, "ES256", signer, hdr, claims)
	}

	v := newVerifier(t, dpop.Config{})
	for name, tc := range map[string]struct {
		key   any            // the jwk header
		extra map[string]any // other header members
	}{
		"jku":                          {holderJWK, map[string]any{"jku": srv.URL + "/jwks.json"}},
		"x5u":                          {holderJWK, map[string]any{"x5u": srv.URL + "/cert.pem"}},
		"x5c of another key":           {holderJWK, map[string]any{"x5c": otherCert}},
		"x5c junk string":              {holderJWK, map[string]any{"x5c": "junk"}},
		"x5c junk base64":              {holderJWK, map[string]any{"x5c": []string{"!!not base64!!"}}},
		"x5c junk DER":                 {holderJWK, map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString([]byte{0x30, 0x82, 0xff, 0xff})}}},
		"x5c a number":                 {holderJWK, map[string]any{"x5c": 5}},
		"x5c an object":                {holderJWK, map[string]any{"x5c": map[string]any{"a": "b"}}},
		"x5c empty":                    {holderJWK, map[string]any{"x5c": []string{}}},
		"x5c null":                     {holderJWK, map[string]any{"x5c": nil}},
		"x5c of 100 junk certificates": {holderJWK, map[string]any{"x5c": slices.Repeat([]string{"MIIB"}, 100)}},
		"x5u in the jwk":               {jwkWith("x5u", srv.URL+"/cert.pem"), nil},
		"x5t of another key's cert":    {holderJWK, map[string]any{"x5t": base64.RawURLEncoding.EncodeToString(otherSHA1[:])}},
		"x5t#S256 of another key's":    {holderJWK, map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(otherSHA256[:])}},
	} {
		t.Run(name, func(t *testing.T) {
			for signer, by := range map[*ecdsa.PrivateKey]string{holder: "the jwk's key", other: "the other key"} {
				_, err := v.Verify(t.Context(), sign(signer, tc.key, tc.extra), req)
				if !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "a key reference (jku, x5u, x5c, x5t or x5t#S256)") {
					t.Errorf("signed by %s: Verify = %v, want ErrInvalidProof (a key reference)", by, err)
				}
			}
		})
	}
	kid := map[string]any{"kid": "other"}
	if _, err := v.Verify(t.Context(), sign(other, holderJWK, kid), req); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "bad signature") {
		t.Errorf("with a kid, signed by the other key: Verify = %v, want ErrInvalidProof (bad signature)", err)
	}
	if p, err := v.Verify(t.Context(), sign(holder, holderJWK, kid), req); err != nil || p.Thumbprint != req.KeyThumbprint {
		t.Errorf("with a kid, signed by the jwk's key: Verify = %+v, %v, want it accepted with the jwk's thumbprint", p, err)
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("%d requests reached the server that jku and x5u name, want none", n)
	}
}

// signJSON signs the JSON of claims with priv under alg, with exactly the
// header members hdr (alg included), bypassing jwx's header handling. It
// signs with internal/jwsalg, so that Ed25519 proofs can be made too.
func signJSON(t testing.TB, alg string, priv crypto.Signer, hdr map[string]any, claims any) string {
	t.Helper()
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return signInput(t, alg, priv, base64.RawURLEncoding.EncodeToString(h), base64.RawURLEncoding.EncodeToString(c))
}

// Request.Path's recipe for net/http, cmp.Or(r.URL.RawPath,
// r.URL.EscapedPath()), over a real server: a path that holds an escaped
// "/" and a character EscapedPath escapes ("|") is accepted with a proof
// for itself only, not with one for the path whose "/" is a separator,
// nor the other way round. (EscapedPath alone gives both paths as
// /files/a/b%7Cc.)
func TestVerify_NetHTTPPathAsSentTellsAnEscapedSlashFromASeparator(t *testing.T) {
	k := newKey(t, "ES256")
	v := newVerifier(t, dpop.Config{})
	srv := serveVerified(t, v)
	const oneSegment, twoSegments = "/files/a%2Fb|c", "/files/a/b|c"
	checkProofsAt(t, srv, k, []proofAt{
		{oneSegment, oneSegment, http.StatusOK},
		{twoSegments, twoSegments, http.StatusOK},
		{twoSegments, oneSegment, http.StatusUnauthorized},
		{oneSegment, twoSegments, http.StatusUnauthorized},
	})
}

// The request's method is the client's text too (connectauth passes
// r.Method, which net/http takes of any length): the htm refusal quotes it
// cut to 40 bytes, like the proof's own htm, where it quoted it whole.
func TestVerify_HTMRefusalClipsTheRequestsMethod(t *testing.T) {
	k := newKey(t, "ES256")
	proof := mustProof(t, k, grpcauthtest.ProofOptions{Method: "POST", URL: testURL, AccessToken: testToken})
	req := testReq
	req.KeyThumbprint = k.Thumbprint()
	req.Method = strings.Repeat("M", 39) + strings.Repeat("X", 4096)
	_, err := newVerifier(t, dpop.Config{}).Verify(t.Context(), proof, req)
	if !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "htm") {
		t.Fatalf("Verify = %v, want ErrInvalidProof for htm", err)
	}
	if strings.Contains(err.Error(), "XX") || len(err.Error()) > 200 {
		t.Errorf("error of %d bytes quotes the request's method beyond 40 bytes: %.300q", len(err.Error()), err)
	}
}

// nonCanonical returns s, the unpadded base64url encoding of a SHA-256
// digest (43 characters), with the 2 unused low bits of its last character
// set: a lenient decoder reads it as the same digest (RFC 4648, 3.5).
func nonCanonical(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[i|3])
}

// A segment whose dots are percent-encoded ("%2E%2E", "%2e.", "%2E") is no
// dot segment: net/http's ServeMux removes only literal dot segments (it
// redirects "/files/.." to "/") and routes "/files/%2E%2E" to
// "/files/{name}" with the name "..", and "/a/%2E%2E/files/x" to "/". So
// such a path is not the path its dots would leave once removed: a proof
// for "/" is refused at "/files/%2E%2E", one for "/files/x" at
// "/a/%2E%2E/files/x", while a proof for the path as written is accepted
// at it, however its dots are encoded.
func TestVerify_PercentEncodedDotSegmentIsNoDotSegment(t *testing.T) {
	k := newKey(t, "ES256")
	v := newVerifier(t, dpop.Config{})
	srv := serveVerified(t, v, "GET /files/{name}", "GET /")
	checkProofsAt(t, srv, k, []proofAt{
		{"/", "/files/%2E%2E", http.StatusUnauthorized},
		{"/files/", "/files/%2E", http.StatusUnauthorized},
		{"/files/x", "/a/%2E%2E/files/x", http.StatusUnauthorized},
		{"/files/x", "/a/.%2e/files/x", http.StatusUnauthorized},
		{"/files/%2E%2E", "/", http.StatusUnauthorized},
		{"/files/%2E%2E", "/files/%2E%2E", http.StatusOK},
		{"/files/%2e.", "/files/.%2E", http.StatusOK},
		{"/files/%2E", "/files/%2e", http.StatusOK},
		{"/files/x", "/files/x", http.StatusOK},
	})
}

// Where a request path holds an escaped "/" ("%2F") and a byte a URI never
// holds raw but net/url lets through ("|", "\\", a non-ASCII byte),
// net/http reads it otherwise than the same path with that byte escaped:
// URL.EscapedPath, by which ServeMux routes, then encodes the decoded path
// anew, in which "%2F" is a "/", so that ServeMux serves "/files/a%2Fb|c"
// at "/files/{dir}/{name}" (dir "a", name "b|c") and "/files/a%2Fb%7Cc" at
// "/files/{name}" (name "a/b|c"). A proof for the one is refused at the
// other, while a proof for a path is accepted at it, whatever the case of
// its escapes.
func TestVerify_EscapedSlashBesideARawByteIsNotThatByteEscaped(t *testing.T) {
	k := newKey(t, "ES256")
	v := newVerifier(t, dpop.Config{})
	srv := serveVerified(t, v, "GET /files/{name}", "GET /files/{dir}/{name}")
	checkProofsAt(t, srv, k, []proofAt{
		{"/files/a%2Fb%7Cc", "/files/a%2Fb|c", http.StatusUnauthorized},
		{"/files/a%2Fb|c", "/files/a%2Fb%7Cc", http.StatusUnauthorized},
		{"/files/a%2Fb%5Cc", "/files/a%2Fb\\c", http.StatusUnauthorized},
		{"/files/a%2Fb%C3%A9", "/files/a%2Fb\u00e9", http.StatusUnauthorized},
		{"/files/a%2Fb%7Cc", "/files/a%2fb%7cc", http.StatusOK},
		{"/files/a%2Fb|c", "/files/a%2fb|c", http.StatusOK},
		{"/files/a%2Fb\u00e9", "/files/a%2fb\u00e9", http.StatusOK},
		{"/files/a/b%7Cc", "/files/a/b|c", http.StatusOK},
	})
}

// A request path with a dot segment ("/v1/x/../a", "/v1/./a") is not the
// path its dots would leave: net/http's ServeMux redirects it before any
// handler runs, but a handler served without one routes it as it is
// (vanguard's transcoder splits URL.Path at its "/"s, and its "*" and "**"
// take "." and ".." as names), so no proof is accepted at it, not even one
// for the path as written; the dot segments of an htu are still removed.
func TestVerify_RequestPathWithADotSegmentMatchesNoHTU(t *testing.T) {
	k := newKey(t, "ES256")
	v := newVerifier(t, dpop.Config{})
	srv := serveVerified(t, v) // no ServeMux: nothing cleans the path
	checkProofsAt(t, srv, k, []proofAt{
		{"/v1/a", "/v1/x/../a", http.StatusUnauthorized},
		{"/v1/a", "/v1/./a", http.StatusUnauthorized},
		{"/", "/..", http.StatusUnauthorized},
		{"/v1/", "/v1/x/..", http.StatusUnauthorized},
		{"/b", "//a/../b", http.StatusUnauthorized},
		{"/b", "/a;x/../b", http.StatusUnauthorized},
		{"/v1/x/../a", "/v1/x/../a", http.StatusUnauthorized},
		{"/v1/x/../a", "/v1/a", http.StatusOK},
		{"/v1/./a", "/v1/a", http.StatusOK},
		{"/v1/a", "/v1/a", http.StatusOK},
	})
}

// verifyHandler answers 401 to a request whose DPoP proof v refuses for
// the request as net/http received it, its path as the client sent it
// (Request.Path's recipe), and 200 to others.
func verifyHandler(v *dpop.Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := dpop.Request{Method: r.Method, Scheme: "http", Authority: r.Host, Path: cmp.Or(r.URL.RawPath, r.URL.EscapedPath())}
		if _, err := v.Verify(r.Context(), r.Header.Get("DPoP"), req); err != nil {
			http.Error(w, "invalid proof", http.StatusUnauthorized)
		}
	})
}

// serveVerified serves verifyHandler(v) at each of patterns through a
// ServeMux, or, without patterns, at every path as it comes (nothing
// cleans it), until the test ends.
func serveVerified(t *testing.T, v *dpop.Verifier, patterns ...string) *httptest.Server {
	var h http.Handler = verifyHandler(v)
	if len(patterns) > 0 {
		mux := http.NewServeMux()
		for _, p := range patterns {
			mux.Handle(p, h)
		}
		h = mux
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// proofAt is a proof for htuPath sent at path, and the status it should
// get.
type proofAt struct {
	htuPath, path string
	want          int
}

// checkProofsAt sends srv each proof at its path with getWithProof, and
// reports each status that is not the one wanted.
func checkProofsAt(t *testing.T, srv *httptest.Server, k *grpcauthtest.DPoPKey, cases []proofAt) {
	t.Helper()
	for _, tc := range cases {
		if got := getWithProof(t, srv, k, tc.htuPath, tc.path); got != tc.want {
			t.Errorf("proof for %s at %s: status %d, want %d", tc.htuPath, tc.path, got, tc.want)
		}
	}
}

// getWithProof sends srv a GET of path exactly as written (a client would
// re-escape it), with k's proof for srv.URL+htuPath, and returns the
// response's status.
func getWithProof(t *testing.T, srv *httptest.Server, k *grpcauthtest.DPoPKey, htuPath, path string) int {
	t.Helper()
	proof, err := k.Proof("GET", srv.URL+htuPath, "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.URL.Opaque = path
	r.Header.Set("DPoP", proof)
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
