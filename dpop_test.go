package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// newDPoPKey returns a DPoP key of alg whose proofs are issued at t0.
func newDPoPKey(t testing.TB, alg string) *grpcauthtest.DPoPKey {
	t.Helper()
	k, err := grpcauthtest.NewDPoPKeyWithAlgorithm(alg)
	if err != nil {
		t.Fatal(err)
	}
	k.Now = func() time.Time { return t0 }
	return k
}

// dpopEnv is a loopback server whose Authenticator runs at t0, where
// Authenticated requires DPoP, with a DPoP key and tokens bound to it.
type dpopEnv struct {
	*env
	key   *grpcauthtest.DPoPKey
	bound string // test:read, bound to key
}

func newDPoPEnv(t *testing.T, opts ...envOption) *dpopEnv {
	t.Helper()
	opts = append([]envOption{func(c *Config, _ *verifier.Config) {
		c.Now = func() time.Time { return t0 }
		c.Rules = map[string]*grpcauthv1.Rule{mAuth: {RequireDpop: true}}
	}}, opts...)
	d := &dpopEnv{env: newEnv(t, opts...), key: newDPoPKey(t, "ES256")}
	d.bound = d.token(t, map[string]any{"sub": "user-1"}, grpcauthtest.WithScopes("test:read", "test:stream"), grpcauthtest.WithDPoPKey(d.key.PublicKey()))
	return d
}

// url is the htu of method on this server.
func (d *dpopEnv) url(method string) string { return "http://" + d.addr + method }

// proof makes a proof with o (Method POST, URL of method and AccessToken
// tok unless o sets them).
func (d *dpopEnv) proof(t testing.TB, k *grpcauthtest.DPoPKey, method, tok string, o grpcauthtest.ProofOptions) string {
	t.Helper()
	if o.Method == "" {
		o.Method = "POST"
	}
	if o.URL == "" {
		o.URL = d.url(method)
	}
	if o.AccessToken == "" {
		o.AccessToken = tok
	}
	p, err := k.ProofWith(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dpopCtx returns ctx with authorization and dpop metadata.
func dpopCtx(ctx context.Context, authorization string, proofs ...string) context.Context {
	kv := []string{"authorization", authorization}
	for _, p := range proofs {
		kv = append(kv, MetadataDPoP, p)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

// callUnaryMD calls the unary method (mInherited, mAuth or mPublic) and
// returns the error with the response's header and trailer.
func (d *dpopEnv) callUnaryMD(ctx context.Context, method string) (err error, header, trailer metadata.MD) {
	opts := []grpc.CallOption{grpc.Header(&header), grpc.Trailer(&trailer)}
	switch method {
	case mInherited:
		_, err = d.client.Inherited(ctx, &authtestv1.InheritedRequest{}, opts...)
	case mAuth:
		_, err = d.client.Authenticated(ctx, &authtestv1.AuthenticatedRequest{}, opts...)
	case mPublic:
		_, err = d.client.Public(ctx, &authtestv1.PublicRequest{}, opts...)
	default:
		panic("callUnaryMD: unknown method " + method)
	}
	return err, header, trailer
}

// Every check of RFC 9449, section 4.3, and the binding rules, over a
// loopback server.
func TestDPoP_ProofChecksOverLoopback(t *testing.T) {
	var rec recorder
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	other := newDPoPKey(t, "ES256")
	rsa := newDPoPKey(t, "RS256")
	unbound := d.scoped(t, "test:read")
	boundOther := d.token(t, map[string]any{"sub": "user-1"}, grpcauthtest.WithScopes("test:read"), grpcauthtest.WithDPoPKey(other.PublicKey()))
	boundRSA := d.token(t, map[string]any{"sub": "user-1"}, grpcauthtest.WithScopes("test:read"), grpcauthtest.WithDPoPKey(rsa.PublicKey()))
	ed := newDPoPKey(t, "Ed25519") // RFC 9864's alg name
	boundEd := d.token(t, map[string]any{"sub": "user-1"}, grpcauthtest.WithScopes("test:read"), grpcauthtest.WithDPoPKey(ed.PublicKey()))
	certBound := d.token(t, map[string]any{"sub": "user-1", "cnf": map[string]any{"x5t#S256": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}, grpcauthtest.WithScopes("test:read"))
	p := func(o grpcauthtest.ProofOptions) func(t *testing.T) string {
		return func(t *testing.T) string { return d.proof(t, d.key, mInherited, d.bound, o) }
	}
	none := func(*testing.T) string { return "" }

	tests := []struct {
		name   string
		method string // default mInherited
		scheme string // default "DPoP"
		token  string // default d.bound
		proofs []func(t *testing.T) string
		want   codes.Code
		reason string
		cause  string // in the logged error of a refusal
	}{
		{name: "valid proof", proofs: list(p(grpcauthtest.ProofOptions{})), want: codes.OK},
		{name: "scheme in lower case", scheme: "dpop", proofs: list(p(grpcauthtest.ProofOptions{})), want: codes.OK},
		{name: "htu normalised: scheme case, default port absent, query and fragment ignored", proofs: list(p(grpcauthtest.ProofOptions{URL: "HTTP://" + d.addr + "/authtest.v1.TestService/./Inherited?x=1#f"})), want: codes.OK},
		{name: "require_dpop with a DPoP-bound token", method: mAuth, proofs: list(func(t *testing.T) string { return d.proof(t, d.key, mAuth, d.bound, grpcauthtest.ProofOptions{}) }), want: codes.OK},
		{name: "Ed25519 proof (RFC 9864) in the default allow-list", token: boundEd, proofs: list(func(t *testing.T) string { return d.proof(t, ed, mInherited, boundEd, grpcauthtest.ProofOptions{}) }), want: codes.OK},
		{name: "iat at the edge of the window", proofs: list(p(grpcauthtest.ProofOptions{IssuedAt: t0.Add(-dpop.DefaultMaxAge)})), want: codes.OK},

		{name: "wrong typ", proofs: list(p(grpcauthtest.ProofOptions{Type: "JWT"})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "typ \"JWT\""},
		{name: "alg none", proofs: list(p(grpcauthtest.ProofOptions{Algorithm: "none"})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "alg \"none\" is not allowed"},
		{name: "HS256 keyed with the public jwk", proofs: list(p(grpcauthtest.ProofOptions{Algorithm: "HS256"})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "alg \"HS256\" is not allowed"},
		{name: "RS256 not in the default allow-list", token: boundRSA, proofs: list(func(t *testing.T) string { return d.proof(t, rsa, mInherited, boundRSA, grpcauthtest.ProofOptions{}) }), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "alg \"RS256\" is not allowed"},
		{name: "private jwk in header", proofs: list(p(grpcauthtest.ProofOptions{PrivateKeyInHeader: true})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "not a public key"},
		{name: "no jwk in header", proofs: list(p(grpcauthtest.ProofOptions{OmitKey: true})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "no jwk header"},
		{name: "bad signature (header jwk is another key)", proofs: list(p(grpcauthtest.ProofOptions{HeaderKey: other.PublicKey()})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "bad signature"},
		{name: "wrong htm", proofs: list(p(grpcauthtest.ProofOptions{Method: "GET"})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "htm \"GET\""},
		{name: "wrong htu: other method", proofs: list(p(grpcauthtest.ProofOptions{URL: d.url(mPublic)})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "path"},
		{name: "wrong htu: other host", proofs: list(p(grpcauthtest.ProofOptions{URL: "http://api.example.com" + mInherited})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "origin"},
		{name: "wrong htu: https on a plaintext connection", proofs: list(p(grpcauthtest.ProofOptions{URL: "https://" + d.addr + mInherited})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "origin"},
		{name: "iat too old", proofs: list(p(grpcauthtest.ProofOptions{IssuedAt: t0.Add(-dpop.DefaultMaxAge - time.Second)})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "before now"},
		{name: "iat in the future", proofs: list(p(grpcauthtest.ProofOptions{IssuedAt: t0.Add(dpop.DefaultLeeway + time.Second)})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "after now"},
		{name: "wrong ath (another token's hash)", proofs: list(p(grpcauthtest.ProofOptions{AccessToken: unbound})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "ath is not the hash"},
		{name: "no ath", proofs: list(p(grpcauthtest.ProofOptions{Claims: map[string]any{"ath": nil}})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "no ath"},
		{name: "no jti", proofs: list(p(grpcauthtest.ProofOptions{Claims: map[string]any{"jti": nil}})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "no jti claim"},
		{name: "not a JWS", proofs: list(func(*testing.T) string { return "not-a-proof" }), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "3 dot-separated parts"},
		{name: "oversized proof", proofs: list(func(*testing.T) string { return strings.Repeat("a", dpop.DefaultMaxProofSize+1) }), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "MaxProofSize"},
		{name: "missing proof with DPoP scheme", proofs: nil, want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid},
		{name: "empty proof", proofs: list(none), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid, cause: "empty"},
		{name: "two dpop values", proofs: list(p(grpcauthtest.ProofOptions{}), p(grpcauthtest.ProofOptions{})), want: codes.Unauthenticated, reason: ReasonDPoPProofInvalid},

		{name: "bound token as Bearer", scheme: "Bearer", want: codes.Unauthenticated, reason: ReasonDPoPBindingMismatch, cause: "Bearer scheme"},
		{name: "bound token as Bearer, with a proof", scheme: "Bearer", proofs: list(p(grpcauthtest.ProofOptions{})), want: codes.Unauthenticated, reason: ReasonDPoPBindingMismatch, cause: "Bearer scheme"},
		{name: "proof with a certificate-bound token", token: certBound, proofs: list(func(t *testing.T) string {
			return d.proof(t, d.key, mInherited, certBound, grpcauthtest.ProofOptions{})
		}), want: codes.Unauthenticated, reason: ReasonDPoPBindingMismatch, cause: "certificate-bound"},
		{name: "proof with an unbound token", token: unbound, proofs: list(func(t *testing.T) string { return d.proof(t, d.key, mInherited, unbound, grpcauthtest.ProofOptions{}) }), want: codes.Unauthenticated, reason: ReasonDPoPBindingMismatch, cause: "no cnf claim"},
		{name: "thumbprint mismatch (token bound to another key)", token: boundOther, proofs: list(func(t *testing.T) string {
			return d.proof(t, d.key, mInherited, boundOther, grpcauthtest.ProofOptions{})
		}), want: codes.Unauthenticated, reason: ReasonDPoPBindingMismatch, cause: "does not match"},
		{name: "require_dpop with a bearer token", method: mAuth, scheme: "Bearer", token: unbound, want: codes.Unauthenticated, reason: ReasonDPoPRequired, cause: "requires a DPoP-bound token"},
		{name: "no require_dpop: bearer token accepted", scheme: "Bearer", token: unbound, want: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, scheme, tok := tt.method, tt.scheme, tt.token
			if method == "" {
				method = mInherited
			}
			if scheme == "" {
				scheme = "DPoP"
			}
			if tok == "" {
				tok = d.bound
			}
			var proofs []string
			for _, f := range tt.proofs {
				proofs = append(proofs, f(t))
			}
			err, _, trailer := d.callUnaryMD(dpopCtx(t.Context(), scheme+" "+tok, proofs...), method)
			checkStatus(t, err, tt.want, tt.reason)
			if tt.cause != "" {
				if dec := rec.last(t); dec.Err == nil || !strings.Contains(dec.Err.Error(), tt.cause) {
					t.Errorf("logged cause %v, want one mentioning %q", dec.Err, tt.cause)
				}
			}
			challenge := trailer.Get(MetadataWWWAuthenticate)
			switch {
			case tt.want == codes.OK && len(challenge) != 0:
				t.Errorf("www-authenticate %q on success", challenge)
			case tt.reason == ReasonDPoPProofInvalid && (len(challenge) != 1 || challenge[0] != `DPoP error="invalid_dpop_proof", algs="ES256 EdDSA Ed25519"`):
				t.Errorf("www-authenticate = %q, want the invalid_dpop_proof challenge", challenge)
			case tt.reason == ReasonDPoPBindingMismatch && scheme == "Bearer": // TestDPoP_BoundTokenAsBearerGetsTheErrorInTheBearerChallenge
			case tt.reason == ReasonDPoPBindingMismatch && (len(challenge) != 1 || challenge[0] != `DPoP error="invalid_token", algs="ES256 EdDSA Ed25519"`):
				t.Errorf("www-authenticate = %q, want the invalid_token challenge", challenge)
			case tt.reason == ReasonDPoPRequired && (len(challenge) != 1 || !strings.HasPrefix(challenge[0], `DPoP error="invalid_token", `)):
				t.Errorf("www-authenticate = %q, want the invalid_token challenge", challenge) // TestDPoP_RequireDPoPRuleChallengesABearerTokenAsInvalid
			}
		})
	}
}

func list(fs ...func(t *testing.T) string) []func(t *testing.T) string { return fs }

// A DPoP-bound token sent with the Bearer scheme is refused with the error
// in the challenge of the scheme it came with, Bearer, and a bare DPoP
// challenge that tells the client which scheme and algorithms to use: RFC
// 9449, section 7.2, Figure 18 ("If the mechanism used to attempt
// authentication could be established unambiguously, then the
// corresponding challenge SHOULD be used to deliver error information").
// Where the method takes only DPoP, the error is in the one DPoP challenge.
func TestDPoP_BoundTokenAsBearerGetsTheErrorInTheBearerChallenge(t *testing.T) {
	d := newDPoPEnv(t)
	const description = `error_description="access token is DPoP-bound; send it with the DPoP scheme and a proof"`
	for _, tt := range []struct {
		method string
		want   []string
	}{
		{mInherited, []string{`Bearer error="invalid_token", ` + description, `DPoP algs="ES256 EdDSA Ed25519"`}},
		{mAuth, []string{`DPoP error="invalid_token", ` + description + `, algs="ES256 EdDSA Ed25519"`}}, // require_dpop
	} {
		err, _, trailer := d.callUnaryMD(dpopCtx(t.Context(), "Bearer "+d.bound), tt.method)
		checkStatus(t, err, codes.Unauthenticated, ReasonDPoPBindingMismatch)
		if got := trailer.Get(MetadataWWWAuthenticate); !slices.Equal(got, tt.want) {
			t.Errorf("%s: www-authenticate = %q, want %q", tt.method, got, tt.want)
		}
	}
}

func TestDPoP_ReplayedProofIsRefused(t *testing.T) {
	d := newDPoPEnv(t)
	proof := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{})
	ctx := dpopCtx(t.Context(), "DPoP "+d.bound, proof)
	err, _, _ := d.callUnaryMD(ctx, mInherited)
	checkStatus(t, err, codes.OK, "")
	err, _, trailer := d.callUnaryMD(ctx, mInherited)
	checkStatus(t, err, codes.Unauthenticated, ReasonDPoPReplayed)
	if got := trailer.Get(MetadataWWWAuthenticate); len(got) != 1 || !strings.Contains(got[0], `error="invalid_dpop_proof"`) {
		t.Errorf("www-authenticate = %q", got)
	}
	// A new proof (new jti) is accepted.
	err, _, _ = d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{})), mInherited)
	checkStatus(t, err, codes.OK, "")
}

// The same proof sent concurrently is accepted exactly once.
func TestDPoP_ConcurrentReplaysAcceptOnce(t *testing.T) {
	d := newDPoPEnv(t)
	ctx := dpopCtx(t.Context(), "DPoP "+d.bound, d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{}))
	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			err, _, _ := d.callUnaryMD(ctx, mInherited)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		checkStatus(t, err, codes.Unauthenticated, ReasonDPoPReplayed)
	}
	if ok != 1 {
		t.Errorf("%d of %d identical proofs accepted, want 1", ok, n)
	}
}

func TestDPoP_StreamsCheckTheProof(t *testing.T) {
	d := newDPoPEnv(t)
	const bidi = "/authtest.v1.TestService/BidiStream"
	good := d.proof(t, d.key, bidi, d.bound, grpcauthtest.ProofOptions{})
	if _, err := callBidiStream(dpopCtx(t.Context(), "DPoP "+d.bound, good), d.env); err != nil {
		t.Fatalf("valid proof on a stream: %v", err)
	}
	wrong := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{}) // htu of another method
	_, err := callBidiStream(dpopCtx(t.Context(), "DPoP "+d.bound, wrong), d.env)
	checkStatus(t, err, codes.Unauthenticated, ReasonDPoPProofInvalid)
}

func TestDPoP_RequireDPoPRefusesBearerEverywhere(t *testing.T) {
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.RequireDPoP = true })
	unbound := d.scoped(t, "test:read")
	for _, m := range []string{mInherited, mPublic} {
		err, _, trailer := d.callUnaryMD(withAuth(t.Context(), bearer(unbound)), m)
		checkStatus(t, err, codes.Unauthenticated, ReasonDPoPRequired)
		if got := trailer.Get(MetadataWWWAuthenticate); len(got) != 1 || got[0] != `DPoP algs="ES256 EdDSA Ed25519"` {
			t.Errorf("%s: www-authenticate = %q", m, got)
		}
	}
	err, _, _ := d.callUnaryMD(t.Context(), mPublic)
	checkStatus(t, err, codes.OK, "") // no token: public stays public
	err, _, _ = d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{})), mInherited)
	checkStatus(t, err, codes.OK, "")
}

// A bearer token the server verified, on a method whose rule sets
// require_dpop, is refused in the one scheme the method takes, DPoP, with
// error="invalid_token": the request included an access token and failed
// (RFC 6750, section 3: the resource server SHOULD include the error
// attribute), and that token, unbound or certificate-bound, cannot serve
// here (section 3.1: "invalid for other reasons"), as the same token sent
// with the DPoP scheme is refused with DPoP error="invalid_token" (RFC
// 9449, section 7.1, Figure 14). Only Config.RequireDPoP, under which the
// server takes no Bearer scheme at all and judges no token sent with it
// (RFC 6750, section 3.1: an unsupported authentication method gets no
// error code), challenges without one.
func TestDPoP_RequireDPoPRuleChallengesABearerTokenAsInvalid(t *testing.T) {
	const want = `DPoP error="invalid_token", error_description="this method requires a DPoP-bound access token", algs="ES256 EdDSA Ed25519"`
	d := newDPoPEnv(t)
	err, _, trailer := d.callUnaryMD(withAuth(t.Context(), bearer(d.scoped(t, "test:read"))), mAuth)
	checkStatus(t, err, codes.Unauthenticated, ReasonDPoPRequired)
	if got := trailer.Get(MetadataWWWAuthenticate); !slices.Equal(got, []string{want}) {
		t.Errorf("www-authenticate = %q, want %q", got, want)
	}
	// The same token with the DPoP scheme: the same error code.
	unbound := d.scoped(t, "test:read")
	err, _, trailer = d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+unbound, d.proof(t, d.key, mAuth, unbound, grpcauthtest.ProofOptions{})), mAuth)
	checkStatus(t, err, codes.Unauthenticated, ReasonDPoPBindingMismatch)
	if got := trailer.Get(MetadataWWWAuthenticate); len(got) != 1 || !strings.HasPrefix(got[0], `DPoP error="invalid_token"`) {
		t.Errorf("DPoP scheme: www-authenticate = %q", got)
	}
}

// A step-up refusal of a DPoP call carries RFC 9470's challenge in the
// DPoP scheme the call used (RFC 9449, section 7.1), with the accepted
// algs, on a unary call and on a stream.
func TestDPoP_StepUpRefusalChallengesInTheDPoPScheme(t *testing.T) {
	const mServerStream = "/authtest.v1.TestService/ServerStream"
	stepUp := &grpcauthv1.Rule{RequireDpop: true, AcrValues: []string{"urn:example:mfa", "phr"}, MaxAgeSeconds: 300}
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
		c.Rules = map[string]*grpcauthv1.Rule{mAuth: stepUp, mServerStream: stepUp}
	})
	const want = `DPoP error="insufficient_user_authentication", error_description="this method requires a stronger or more recent sign-in", ` +
		`acr_values="urn:example:mfa phr", max_age="300", algs="ES256 EdDSA Ed25519"`

	err, _, trailer := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, d.proof(t, d.key, mAuth, d.bound, grpcauthtest.ProofOptions{})), mAuth)
	checkStatus(t, err, codes.Unauthenticated, ReasonInsufficientUserAuthentication)
	if got := trailer.Get(MetadataWWWAuthenticate); len(got) != 1 || got[0] != want {
		t.Errorf("unary: www-authenticate = %q, want %q", got, want)
	}

	ctx := dpopCtx(t.Context(), "DPoP "+d.bound, d.proof(t, d.key, mServerStream, d.bound, grpcauthtest.ProofOptions{}))
	s, err := d.client.ServerStream(ctx, &authtestv1.ServerStreamRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonInsufficientUserAuthentication)
	if got := s.Trailer().Get(MetadataWWWAuthenticate); len(got) != 1 || got[0] != want {
		t.Errorf("stream: www-authenticate = %q, want %q", got, want)
	}
}

func TestDPoP_DryRunRelaxesRequireDPoPRule(t *testing.T) {
	var rec recorder
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.DryRun, c.OnDecision = true, rec.record })
	err, _, trailer := d.callUnaryMD(withAuth(t.Context(), bearer(d.scoped(t))), mAuth)
	checkStatus(t, err, codes.OK, "")
	if dec := rec.last(t); !dec.DryRun || dec.Reason != ReasonDPoPRequired {
		t.Errorf("decision = %+v, want a dry-run DPOP_REQUIRED", dec)
	}
	if got := trailer.Get(MetadataWWWAuthenticate); len(got) != 0 {
		t.Errorf("www-authenticate %q on an allowed call", got)
	}
}

func TestDPoP_ServerNonce(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.DPoP.Nonces = nonces })
	call := func(t *testing.T, o grpcauthtest.ProofOptions) (error, metadata.MD, metadata.MD) {
		return d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, d.proof(t, d.key, mInherited, d.bound, o)), mInherited)
	}
	fresh := nonces.Nonce(t0)

	t.Run("missing nonce gets one", func(t *testing.T) {
		err, _, trailer := call(t, grpcauthtest.ProofOptions{})
		checkStatus(t, err, codes.Unauthenticated, ReasonUseDPoPNonce)
		if got := trailer.Get(MetadataDPoPNonce); len(got) != 1 || got[0] != fresh {
			t.Errorf("dpop-nonce = %q, want %q", got, fresh)
		}
		if got := trailer.Get(MetadataWWWAuthenticate); len(got) != 1 || !strings.HasPrefix(got[0], `DPoP error="use_dpop_nonce"`) {
			t.Errorf("www-authenticate = %q", got)
		}
		// Retrying with the nonce it was given succeeds.
		err, header, _ := call(t, grpcauthtest.ProofOptions{Nonce: trailer.Get(MetadataDPoPNonce)[0]})
		checkStatus(t, err, codes.OK, "")
		if got := header.Get(MetadataDPoPNonce); len(got) != 0 {
			t.Errorf("dpop-nonce header %q although the proof used the current nonce", got)
		}
	})
	t.Run("stale nonce", func(t *testing.T) {
		err, _, trailer := call(t, grpcauthtest.ProofOptions{Nonce: nonces.Nonce(t0.Add(-10 * time.Minute))})
		checkStatus(t, err, codes.Unauthenticated, ReasonUseDPoPNonce)
		if got := trailer.Get(MetadataDPoPNonce); len(got) != 1 || got[0] != fresh {
			t.Errorf("dpop-nonce = %q, want %q", got, fresh)
		}
	})
	t.Run("forged nonce", func(t *testing.T) {
		err, _, _ := call(t, grpcauthtest.ProofOptions{Nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
		checkStatus(t, err, codes.Unauthenticated, ReasonUseDPoPNonce)
	})
	t.Run("previous window's nonce is accepted and refreshed", func(t *testing.T) {
		err, header, _ := call(t, grpcauthtest.ProofOptions{Nonce: nonces.Nonce(t0.Add(-time.Minute))})
		checkStatus(t, err, codes.OK, "")
		if got := header.Get(MetadataDPoPNonce); len(got) != 1 || got[0] != fresh {
			t.Errorf("dpop-nonce header = %q, want %q", got, fresh)
		}
	})
}

// A configured origin is accepted in htu besides the call's own; with
// OnlyOrigins the call's own origin (its :authority, which the client
// chooses) is not.
func TestDPoP_ConfiguredOriginBehindAProxy(t *testing.T) {
	for _, only := range []bool{false, true} {
		d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
			c.DPoP.Origins = []string{"https://API.example.com:443"}
			c.DPoP.OnlyOrigins = only
		})
		own := codes.OK // the server's own origin counts
		if only {
			own = codes.Unauthenticated
		}
		for _, tt := range []struct {
			url  string
			want codes.Code
		}{
			{"https://api.example.com" + mInherited, codes.OK},
			{"https://api.example.com:443" + mInherited, codes.OK},
			{"http://api.example.com" + mInherited, codes.Unauthenticated},
			{"https://api.example.com:8443" + mInherited, codes.Unauthenticated},
			{"https://evil.example.com" + mInherited, codes.Unauthenticated},
			{"http://" + d.addr + mInherited, own},
		} {
			err, _, _ := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{URL: tt.url})), mInherited)
			if status.Code(err) != tt.want {
				t.Errorf("OnlyOrigins %v, htu %s: %v, want %v", only, tt.url, err, tt.want)
			}
		}
	}
}

func TestDPoP_TLSConnectionMeansHTTPS(t *testing.T) {
	pki := newPKI(t)
	d := newDPoPEnv(t)
	tlsEnv := newEnvWith(t, pki.serverCreds(t), pki.clientCreds(nil), func(c *Config, _ *verifier.Config) { c.Now = func() time.Time { return t0 } })
	tok := tlsEnv.token(t, map[string]any{"sub": "user-1"}, grpcauthtest.WithScopes("test:read"), grpcauthtest.WithDPoPKey(d.key.PublicKey()))
	for _, tt := range []struct {
		scheme string
		want   codes.Code
	}{{"https", codes.OK}, {"http", codes.Unauthenticated}} {
		proof, err := d.key.Proof("POST", tt.scheme+"://"+tlsEnv.addr+mInherited, tok)
		if err != nil {
			t.Fatal(err)
		}
		_, err = callInherited(dpopCtx(t.Context(), "DPoP "+tok, proof), tlsEnv)
		if status.Code(err) != tt.want {
			t.Errorf("htu scheme %s over TLS: %v, want %v", tt.scheme, err, tt.want)
		}
	}
}

func TestNew_RejectsBadDPoPConfig(t *testing.T) {
	for _, dc := range []dpop.Config{
		{Algorithms: []string{"HS256"}},
		{Algorithms: []string{"none"}},
		{Origins: []string{"https://api.example.com/prefix"}},
		{Origins: []string{"ftp://api.example.com"}},
	} {
		if _, err := New(Config{Verifier: staticVerifier{}, DPoP: dc}); err == nil {
			t.Errorf("New accepted DPoP config %+v", dc)
		}
	}
}

func TestCompileRule_PublicWithRequireDPoPIsInvalid(t *testing.T) {
	if _, err := New(Config{Verifier: staticVerifier{}, Rules: map[string]*grpcauthv1.Rule{mAuth: {Public: true, RequireDpop: true}}}); err == nil {
		t.Error("New accepted public together with require_dpop")
	}
}

// A token's cnf names one key, so a rule requiring both a certificate
// binding and DPoP could never be met: New refuses it rather than deny
// every call.
func TestCompileRule_CertificateBindingWithRequireDPoPIsInvalid(t *testing.T) {
	_, err := New(Config{Verifier: staticVerifier{}, Rules: map[string]*grpcauthv1.Rule{mAuth: {RequireCertificateBinding: true, RequireDpop: true}}})
	if !errors.Is(err, ErrInvalidRule) {
		t.Errorf("New = %v, want ErrInvalidRule", err)
	}
}

func TestRequirement_ReportsRequireDPoP(t *testing.T) {
	a := mustNew(t, Config{Verifier: staticVerifier{}, Rules: map[string]*grpcauthv1.Rule{mAuth: {RequireDpop: true, Scopes: []string{"x"}}}})
	req, err := a.Requirement(mAuth)
	if err != nil || !req.RequireDPoP || req.RequireCertificateBinding || req.Public {
		t.Errorf("Requirement(%s) = %+v, %v; want RequireDPoP only", mAuth, req, err)
	}
	if req, _ := a.Requirement(mInherited); req.RequireDPoP {
		t.Errorf("Requirement(%s) = %+v; want no DPoP requirement", mInherited, req)
	}
}

// Requirement.RequireDPoP says what the interceptor refuses: a bearer
// call with every scope is refused as DPOP_REQUIRED exactly when it is
// true, except that dry run relaxes a rule's require_dpop and never
// Config.RequireDPoP. A public method under Config.RequireDPoP reports it
// too: a bearer call is refused, one without a token goes through.
func TestRequirement_RequireDPoPReflectsConfigRequireDPoP(t *testing.T) {
	for _, server := range []bool{false, true} {
		for _, rule := range []bool{false, true} {
			for _, dry := range []bool{false, true} {
				name := fmt.Sprintf("server=%v/rule=%v/dryrun=%v", server, rule, dry)
				t.Run(name, func(t *testing.T) {
					a := mustNew(t, Config{
						Verifier:    staticVerifier{claims: mustClaims(t, "x")},
						Rules:       map[string]*grpcauthv1.Rule{mAuth: {RequireDpop: rule, Scopes: []string{"x"}}},
						RequireDPoP: server,
						DryRun:      dry,
					})
					req, err := a.Requirement(mAuth)
					if err != nil || req.RequireDPoP != (server || rule) || req.DryRun != dry {
						t.Fatalf("Requirement(%s) = %+v, %v; want RequireDPoP %v, DryRun %v", mAuth, req, err, server || rule, dry)
					}
					_, err = callUnary(a, bearerCtx("tok"), mAuth)
					if refused := req.RequireDPoP && (!req.DryRun || server); refused {
						checkStatus(t, err, codes.Unauthenticated, ReasonDPoPRequired)
					} else {
						checkStatus(t, err, codes.OK, "")
					}

					pub, err := a.Requirement(mPublic)
					if err != nil || !pub.Public || pub.RequireDPoP != server {
						t.Fatalf("Requirement(%s) = %+v, %v; want Public, RequireDPoP %v", mPublic, pub, err, server)
					}
					_, err = callUnary(a, bearerCtx("tok"), mPublic)
					if server {
						checkStatus(t, err, codes.Unauthenticated, ReasonDPoPRequired)
					} else {
						checkStatus(t, err, codes.OK, "")
					}
					_, err = callUnary(a, loopbackPeer(context.Background()), mPublic)
					checkStatus(t, err, codes.OK, "")
				})
			}
		}
	}
}

// A denied method's Requirement reports Config.RequireDPoP too: in dry
// run a call with a valid token to a method without a rule goes through,
// but a bearer one is still refused as DPOP_REQUIRED, which the
// Requirement must say rather than read as "any valid token, in dry run".
func TestRequirement_DeniedMethodReportsConfigRequireDPoP(t *testing.T) {
	for _, server := range []bool{false, true} {
		for _, dry := range []bool{false, true} {
			t.Run(fmt.Sprintf("server=%v/dryrun=%v", server, dry), func(t *testing.T) {
				a := mustNew(t, Config{
					Verifier:    staticVerifier{claims: mustClaims(t, "x")},
					RequireDPoP: server,
					DryRun:      dry,
				})
				req, err := a.Requirement(mUnannotated)
				if !errors.Is(err, ErrNoRule) || !req.Denied || req.DryRun != dry || req.RequireDPoP != server {
					t.Fatalf("Requirement(%s) = %+v, %v; want Denied, DryRun %v, RequireDPoP %v, ErrNoRule", mUnannotated, req, err, dry, server)
				}
				_, err = callUnary(a, bearerCtx("tok"), mUnannotated)
				switch {
				case req.RequireDPoP:
					checkStatus(t, err, codes.Unauthenticated, ReasonDPoPRequired)
				case req.DryRun:
					checkStatus(t, err, codes.OK, "")
				default:
					checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
				}
			})
		}
	}
}

// boundDPoPCall returns the claims of a token ("tok") bound to a new
// ES256 key, and the incoming context of a loopback call to mInherited
// with that token and one proof of the key's.
func boundDPoPCall(t *testing.T) (verifier.Claims, context.Context) {
	t.Helper()
	key := newDPoPKey(t, "ES256")
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scp": []string{"test:read"}, "cnf": map[string]any{"jkt": key.Thumbprint()}})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := key.Proof("POST", "http://grpcauth.test"+mInherited, "tok")
	if err != nil {
		t.Fatal(err)
	}
	return claims, metadata.NewIncomingContext(loopbackPeer(t.Context()),
		metadata.Pairs("authorization", "DPoP tok", MetadataDPoP, proof, ":authority", "grpcauth.test"))
}

// Two replicas with their own default caches each accept the same proof
// once (the gap docs/dpop.md describes); replicas sharing one ReplayCache
// accept it once in all.
func TestDPoP_ReplicasNeedASharedReplayCache(t *testing.T) {
	claims, ctx := boundDPoPCall(t)
	replicas := func(cache dpop.ReplayCache) [2]*Authenticator {
		var r [2]*Authenticator
		for i := range r {
			r[i] = mustNew(t, Config{Verifier: staticVerifier{claims: claims}, Now: func() time.Time { return t0 }, DPoP: dpop.Config{ReplayCache: cache}})
		}
		return r
	}

	own := replicas(nil)
	for _, a := range own {
		_, err := callUnary(a, ctx, mInherited)
		checkStatus(t, err, codes.OK, "") // each replica sees the proof for the first time
		_, err = callUnary(a, ctx, mInherited)
		checkStatus(t, err, codes.Unauthenticated, ReasonDPoPReplayed)
	}

	shared := replicas(dpop.NewMemoryReplayCache(100, func() time.Time { return t0 }))
	_, err := callUnary(shared[0], ctx, mInherited)
	checkStatus(t, err, codes.OK, "")
	_, err = callUnary(shared[1], ctx, mInherited)
	checkStatus(t, err, codes.Unauthenticated, ReasonDPoPReplayed)
}

// Two Authenticators sharing one MemoryReplayCache (two listeners of one
// origin) with different DPoP MaxAge: the one with the longer MaxAge
// refuses the replay of a proof the other accepted, after the shorter
// window and within its own. The entry used to expire with the shorter
// MaxAge, and the replay went through.
func TestDPoP_SharedReplayCacheRefusesReplaysAcrossDifferentMaxAges(t *testing.T) {
	claims, ctx := boundDPoPCall(t)
	now := t0
	clock := func() time.Time { return now }
	cache := dpop.NewMemoryReplayCache(100, clock)
	short := mustNew(t, sharedCacheConfig(claims, clock, cache, time.Minute))
	long := mustNew(t, sharedCacheConfig(claims, clock, cache, 10*time.Minute))
	_, err := callUnary(short, ctx, mInherited)
	checkStatus(t, err, codes.OK, "")
	now = t0.Add(5 * time.Minute)
	_, err = callUnary(long, ctx, mInherited)
	checkStatus(t, err, codes.Unauthenticated, ReasonDPoPReplayed)
}

// sharedCacheConfig is the Config of an Authenticator accepting
// claims, on clock, whose DPoP Verifier has maxAge and records proofs in
// cache.
func sharedCacheConfig(claims verifier.Claims, clock func() time.Time, cache dpop.ReplayCache, maxAge time.Duration) Config {
	return Config{Verifier: staticVerifier{claims: claims}, Now: clock, DPoP: dpop.Config{ReplayCache: cache, MaxAge: maxAge}}
}

// A New that fails (here on its Rules) leaves a MemoryReplayCache shared
// with other Authenticators as it was: its DPoP MaxAge, longer than
// theirs, does not make the cache keep their proofs that long. It used to
// (the DPoP verifier was built, and told the cache its MaxAge, before the
// rules were checked), and a failed reload could lengthen every entry of
// the shared cache for good.
func TestDPoP_FailedNewDoesNotLengthenASharedReplayCache(t *testing.T) {
	claims, ctx := boundDPoPCall(t)
	now := t0
	clock := func() time.Time { return now }
	cache := dpop.NewMemoryReplayCache(100, clock)
	short := mustNew(t, sharedCacheConfig(claims, clock, cache, time.Minute))
	failing := sharedCacheConfig(claims, clock, cache, 10*time.Minute)
	failing.Rules = map[string]*grpcauthv1.Rule{mAuth: {Public: true, RequireDpop: true}}
	if _, err := New(failing); err == nil {
		t.Fatal("New accepted a public rule requiring DPoP")
	}
	_, err := callUnary(short, ctx, mInherited)
	checkStatus(t, err, codes.OK, "")
	now = t0.Add(2 * time.Minute) // past the proof's window of a minute
	if _, err := cache.AddIfAbsent(t.Context(), "next", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := cache.Len(); n != 1 {
		t.Errorf("cache holds %d entries past the proof's window, want 1: the failed New lengthened them", n)
	}
}

// A Config.Now that panics as New builds the DPoP verifier on a
// MemoryReplayCache shared with an Authenticator of a shorter DPoP MaxAge
// (dpop.NewVerifier reads it to tell the cache the longer one) fails New
// with an error naming it, rather than panic New at the server's
// start-up, as it used to.
func TestDPoP_NewWithAConfigNowThatPanicsOnASharedCacheIsAnError(t *testing.T) {
	claims, _ := boundDPoPCall(t)
	clock := func() time.Time { return t0 }
	cache := dpop.NewMemoryReplayCache(100, clock)
	mustNew(t, sharedCacheConfig(claims, clock, cache, time.Minute))
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("New panicked: %v", p)
			}
		}()
		_, err = New(sharedCacheConfig(claims, func() time.Time { panic("clock bug 9c1e") }, cache, 10*time.Minute))
	}()
	if want := "grpcauth: Config.DPoP: dpop: Config.Now panicked as NewVerifier told Config.ReplayCache the Verifier's MaxAge: clock bug 9c1e"; err == nil || err.Error() != want {
		t.Fatalf("New = %v, want %q", err, want)
	}
}

// failingStore is a replay cache whose every write fails with err.
type failingStore struct{ err error }

func (s failingStore) AddIfAbsent(context.Context, string, time.Time) (bool, error) {
	return false, s.err
}

// A replay cache that cannot record the proof is the server's problem:
// UNAVAILABLE, DPOP_REPLAY_CHECK_UNAVAILABLE. That holds when the store's
// own timeout fired while the call still had time: its error wraps
// context.DeadlineExceeded, but the caller's deadline was not the cause.
func TestDPoP_ReplayStoreFailureIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"store error", errors.New("redis: connection refused")},
		{"store's own timeout", fmt.Errorf("redis: i/o timeout: %w", context.DeadlineExceeded)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.DPoP.ReplayCache = failingStore{tc.err} })
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // plenty of time left
			defer cancel()
			ctx = dpopCtx(ctx, "DPoP "+d.bound, d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{}))
			err, _, _ := d.callUnaryMD(ctx, mInherited)
			checkStatus(t, err, codes.Unavailable, ReasonDPoPReplayCheckUnavailable)
		})
	}
}

// One client flooding the default kind of replay cache with fresh proofs
// fills its quarter of it and is then refused with RESOURCE_EXHAUSTED,
// DPOP_RATE_LIMIT_EXCEEDED (no challenge: its credentials are fine), while
// another client's DPoP calls are still served; its replays stay
// DPOP_REPLAYED throughout.
func TestDPoP_OneKeyFloodingTheReplayCacheIsRateLimitedAlone(t *testing.T) {
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
		c.DPoP.ReplayCache = dpop.NewMemoryReplayCache(8, func() time.Time { return t0 })
	})
	call := func(tok, proof string) (error, metadata.MD) {
		err, _, trailer := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+tok, proof), mInherited)
		return err, trailer
	}
	var first string
	for i := range 8 { // as many proofs as the whole cache holds
		proof := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{})
		err, trailer := call(d.bound, proof)
		if i < 2 { // a quarter of 8
			checkStatus(t, err, codes.OK, "")
			first = proof
			continue
		}
		checkStatus(t, err, codes.ResourceExhausted, ReasonDPoPRateLimitExceeded)
		if got := trailer.Get(MetadataWWWAuthenticate); len(got) != 0 {
			t.Fatalf("www-authenticate = %q, want none", got)
		}
	}
	err, _ := call(d.bound, first)
	checkStatus(t, err, codes.Unauthenticated, ReasonDPoPReplayed)

	other := newDPoPKey(t, "ES256")
	tok := d.token(t, map[string]any{"sub": "user-2"}, grpcauthtest.WithScopes("test:read"), grpcauthtest.WithDPoPKey(other.PublicKey()))
	err, _ = call(tok, d.proof(t, other, mInherited, tok, grpcauthtest.ProofOptions{}))
	checkStatus(t, err, codes.OK, "") // not locked out by the first client
}

// A replica whose clock is behind accepts a nonce of the next window, which
// a replica ahead of it made, and does not hand the client back its own
// older nonce; one of the previous window is still refreshed.
func TestDPoP_NextWindowsNonceIsNotAnsweredWithAnOlderOne(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.DPoP.Nonces = nonces })
	for _, tc := range []struct {
		name      string
		nonceAt   time.Time
		wantFresh bool
	}{
		{"next window", t0.Add(time.Minute), false},
		{"this window", t0, false},
		{"previous window", t0.Add(-time.Minute), true},
	} {
		proof := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{Nonce: nonces.Nonce(tc.nonceAt)})
		err, header, _ := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, proof), mInherited)
		checkStatus(t, err, codes.OK, "")
		got := header.Get(MetadataDPoPNonce)
		if tc.wantFresh && (len(got) != 1 || got[0] != nonces.Nonce(t0)) || !tc.wantFresh && len(got) != 0 {
			t.Errorf("%s: dpop-nonce header = %q, want a fresh nonce: %v", tc.name, got, tc.wantFresh)
		}
	}
}

// brokenNonces is a NonceSource whose Nonce returns nonce, which may be
// no nonce at all, and which accepts the nonce "earlier" only.
type brokenNonces struct{ nonce string }

func (b brokenNonces) Nonce(time.Time) string         { return b.nonce }
func (brokenNonces) Valid(n string, _ time.Time) bool { return n == "earlier" }

// A NonceSource that returns something no client can use as a nonce (a
// store failure's "", a space, a line break that would forge a header,
// more than dpop.MaxNonceLen bytes) fails closed: the call is refused with
// codes.Internal, whether it lacked a nonce (USE_DPOP_NONCE) or its older
// nonce was accepted, the value is never sent, and the cause is reported.
func TestDPoP_MalformedNonceOfTheNonceSourceIsNeverSent(t *testing.T) {
	for name, nonce := range map[string]string{
		"empty":      "",
		"space":      "two words",
		"line break": "n\r\nx-forged: 1",
		"quote":      `n"`,
		"too long":   strings.Repeat("n", dpop.MaxNonceLen+1),
	} {
		t.Run(name, func(t *testing.T) {
			var rec recorder
			d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
				c.DPoP.Nonces, c.OnDecision = brokenNonces{nonce}, rec.record
			})
			for _, proofNonce := range []string{"", "earlier"} {
				proof := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{Nonce: proofNonce})
				err, header, trailer := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, proof), mInherited)
				checkStatus(t, err, codes.Internal, ReasonInternalError)
				if got := append(header.Get(MetadataDPoPNonce), trailer.Get(MetadataDPoPNonce)...); len(got) != 0 {
					t.Errorf("proof nonce %q: dpop-nonce %q sent", proofNonce, got)
				}
				if got := rec.last(t).Err; !errors.Is(got, dpop.ErrBadNonce) {
					t.Errorf("proof nonce %q: Decision.Err = %v, want dpop.ErrBadNonce", proofNonce, got)
				} else if len(nonce) > 2 && strings.Contains(got.Error(), nonce) {
					t.Errorf("proof nonce %q: Decision.Err %q quotes the malformed nonce", proofNonce, got)
				}
			}
		})
	}
}

// A stream refused for its nonce carries the nonce to use in the
// dpop-nonce trailer, next to its use_dpop_nonce challenge, as a unary
// call does; one opened with that nonce is accepted.
func TestDPoP_StreamRefusedForItsNonceGetsTheNonceInTheTrailer(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.DPoP.Nonces = nonces })
	const bidi = "/authtest.v1.TestService/BidiStream"
	open := func(nonce string) (error, metadata.MD) {
		proof := d.proof(t, d.key, bidi, d.bound, grpcauthtest.ProofOptions{Nonce: nonce})
		s, err := d.client.BidiStream(dpopCtx(t.Context(), "DPoP "+d.bound, proof))
		if err != nil {
			return err, nil
		}
		if err := s.CloseSend(); err != nil {
			return err, nil
		}
		for err == nil {
			_, err = s.Recv()
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return err, s.Trailer()
	}
	err, trailer := open("")
	checkStatus(t, err, codes.Unauthenticated, ReasonUseDPoPNonce)
	if got := trailer.Get(MetadataDPoPNonce); len(got) != 1 || got[0] != nonces.Nonce(t0) {
		t.Fatalf("dpop-nonce trailer = %q, want %q", got, nonces.Nonce(t0))
	}
	if got := trailer.Get(MetadataWWWAuthenticate); len(got) != 1 || !strings.HasPrefix(got[0], `DPoP error="use_dpop_nonce"`) {
		t.Errorf("www-authenticate = %q", got)
	}
	if err, _ := open(trailer.Get(MetadataDPoPNonce)[0]); err != nil {
		t.Fatalf("stream with the nonce: %v", err)
	}
}

// Whether a verified proof's nonce is current, or the response must carry
// a newer one, is judged on the DPoP Verifier's clock (Config.DPoP.Now),
// the one it checks nonces and hands them out on, not on Config.Now: a
// proof with the previous window's nonce, on a Verifier one window ahead
// of the Authenticator, gets the Verifier's current nonce in the header.
func TestDPoP_NonceFreshnessIsJudgedOnTheDPoPClock(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	dpopNow := t0.Add(time.Minute)
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
		c.DPoP.Nonces, c.DPoP.Now = nonces, func() time.Time { return dpopNow }
	})
	proof := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{Nonce: nonces.Nonce(t0)})
	err, header, _ := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, proof), mInherited)
	checkStatus(t, err, codes.OK, "")
	if got, want := header.Get(MetadataDPoPNonce), nonces.Nonce(dpopNow); len(got) != 1 || got[0] != want {
		t.Errorf("dpop-nonce header = %q, want the DPoP clock's current nonce %q", got, want)
	}
}

// Under grpc.Server.ServeHTTP a DPoP proof is checked against the URL of
// the HTTP request net/http received: https over TLS and http over h2c
// (the scheme from the connection, r.TLS, never from a header), the
// request's host and the method's path. A proof for the other scheme or
// another method is refused as invalid, an accepted proof is refused as
// replayed when sent again, the scheme name matches in any case, and the
// DPoP-bound token sent with the Bearer scheme is refused whatever proof
// comes with it.
func TestServeHTTP_DPoPProofIsCheckedAgainstTheRequestsURL(t *testing.T) {
	d := newDPoPEnv(t)
	for _, h2cMode := range []bool{false, true} {
		c, errLog, url := serveHTTPAt(t, d.env, h2cMode)
		otherScheme := "http" + strings.TrimPrefix(url, "https")
		if h2cMode {
			otherScheme = "https" + strings.TrimPrefix(url, "http")
		}
		call := func(auth, proof string) error {
			_, err := c.Inherited(dpopCtx(bounded(t), auth, proof), &authtestv1.InheritedRequest{})
			return err
		}
		proofFor := func(htu string) string {
			return d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{URL: htu})
		}
		good := proofFor(url + mInherited)
		for _, tc := range []struct {
			what, auth, proof string
			code              codes.Code
			reason            string
		}{
			{"proof for the request's URL", "DPoP " + d.bound, good, codes.OK, ""},
			{"the same proof again", "DPoP " + d.bound, good, codes.Unauthenticated, ReasonDPoPReplayed},
			{"proof for the other scheme", "DPoP " + d.bound, proofFor(otherScheme + mInherited), codes.Unauthenticated, ReasonDPoPProofInvalid},
			{"proof for another method", "DPoP " + d.bound, proofFor(url + mAuth), codes.Unauthenticated, ReasonDPoPProofInvalid},
			{"scheme name in another case", "dpop " + d.bound, proofFor(url + mInherited), codes.OK, ""},
			{"bound token with the Bearer scheme", "Bearer " + d.bound, proofFor(url + mInherited), codes.Unauthenticated, ReasonDPoPBindingMismatch},
		} {
			if err := call(tc.auth, tc.proof); status.Code(err) != tc.code || tc.reason != "" && errorInfo(err).GetReason() != tc.reason {
				t.Errorf("h2c %v, %s: %v, want %v %s", h2cMode, tc.what, err, tc.code, tc.reason)
			}
		}
		errLog.check(t, fmt.Sprintf("h2c %v", h2cMode))
	}
}

// Dry run relaxes a method's rule (require_dpop included), never the
// binding of a token or the checks of its proof: a stolen DPoP-bound
// token sent with the Bearer scheme, a proof for another method, a
// replayed proof and an unbound token sent with the DPoP scheme are
// refused in dry run as they are otherwise, with their reasons, and
// reported as refusals, not as a dry run's would-deny.
func TestDPoP_DryRunRelaxesNoBindingOrProofCheck(t *testing.T) {
	var rec recorder
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.DryRun, c.OnDecision = true, rec.record })
	used := d.proof(t, d.key, mAuth, d.bound, grpcauthtest.ProofOptions{})
	err, _, _ := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, used), mAuth)
	checkStatus(t, err, codes.OK, "")
	unbound := d.scoped(t, "test:read")
	for _, tc := range []struct {
		what   string
		ctx    context.Context
		reason string
	}{
		{"bound token with the Bearer scheme", dpopCtx(t.Context(), "Bearer "+d.bound, d.proof(t, d.key, mAuth, d.bound, grpcauthtest.ProofOptions{})), ReasonDPoPBindingMismatch},
		{"proof for another method", dpopCtx(t.Context(), "DPoP "+d.bound, d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{})), ReasonDPoPProofInvalid},
		{"replayed proof", dpopCtx(t.Context(), "DPoP "+d.bound, used), ReasonDPoPReplayed},
		{"unbound token with the DPoP scheme", dpopCtx(t.Context(), "DPoP "+unbound, d.proof(t, d.key, mAuth, unbound, grpcauthtest.ProofOptions{})), ReasonDPoPBindingMismatch},
	} {
		err, _, _ := d.callUnaryMD(tc.ctx, mAuth)
		if status.Code(err) != codes.Unauthenticated || errorInfo(err).GetReason() != tc.reason {
			t.Errorf("%s: %v, want Unauthenticated %s", tc.what, err, tc.reason)
		}
		if dec := rec.last(t); dec.Allowed || dec.DryRun || dec.Reason != tc.reason {
			t.Errorf("%s: decision allowed %v, dry run %v, reason %q; want a refusal with %s", tc.what, dec.Allowed, dec.DryRun, dec.Reason, tc.reason)
		}
	}
}

// Under grpc.Server.ServeHTTP grpc-go names and routes a call by the
// decoded r.URL.Path, and grpcauth sees that name only: a request whose
// path escapes a character of the method's (an unreserved one, or the
// "/" between service and method) reaches the method, and its proof is
// checked against the method's path. A proof naming that path is
// accepted; one naming the escaped "/" as the client wrote it, which
// normalisation keeps, is refused (fail closed), and one for another
// method is refused.
func TestServeHTTP_DPoPProofNamesTheMethodGRPCGoRoutesTo(t *testing.T) {
	d := newDPoPEnv(t)
	_, errLog, url := serveHTTPAt(t, d.env, true)
	conn := dial(t, strings.TrimPrefix(url, "http://"), insecure.NewCredentials())
	const escapedSlash = "/authtest.v1.TestService%2FInherited"
	for _, tc := range []struct {
		path, htuPath string
		code          codes.Code
	}{
		{"/authtest.v1.TestService/Inherit%65d", mInherited, codes.OK},
		{"/authtest.v1.TestService/Inherit%65d", "/authtest.v1.TestService/Inherit%65d", codes.OK},
		{escapedSlash, mInherited, codes.OK},
		{escapedSlash, escapedSlash, codes.Unauthenticated},
		{escapedSlash, mAuth, codes.Unauthenticated},
	} {
		p := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{URL: url + tc.htuPath})
		err := conn.Invoke(dpopCtx(bounded(t), "DPoP "+d.bound, p), tc.path, &authtestv1.InheritedRequest{}, &authtestv1.InheritedResponse{})
		if status.Code(err) != tc.code || tc.code != codes.OK && errorInfo(err).GetReason() != ReasonDPoPProofInvalid {
			t.Errorf("path %s, htu path %s: %v, want %v", tc.path, tc.htuPath, err, tc.code)
		}
	}
	errLog.check(t, "h2c")
}
