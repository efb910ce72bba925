package grpcauth

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// A value that held '"' or '\' must not end its quoted-string early nor
// smuggle in another auth-param (RFC 9110, section 5.6.4).
func TestAuthParams_QuotedStringEscapesQuoteAndBackslash(t *testing.T) {
	var p authParams
	p.quoted("acr_values", `a", max_age=0, x="\`).quoted("max_age", "300")
	const want = `acr_values="a\", max_age=0, x=\"\\", max_age="300"`
	if got := p.String(); got != want {
		t.Errorf("auth-params = %s, want %s", got, want)
	}
}

// challengeCall calls one method of e and returns the error and the
// www-authenticate trailer of the response.
type challengeCall func(ctx context.Context, e *env) (error, []string)

func unaryChallenge(call func(e *env, ctx context.Context, opt grpc.CallOption) error) challengeCall {
	return func(ctx context.Context, e *env) (error, []string) {
		var trailer metadata.MD
		err := call(e, ctx, grpc.Trailer(&trailer))
		return err, trailer.Get(MetadataWWWAuthenticate)
	}
}

var (
	challengeAllOf = unaryChallenge(func(e *env, ctx context.Context, opt grpc.CallOption) error {
		_, err := e.client.AllOf(ctx, &authtestv1.AllOfRequest{}, opt)
		return err
	})
	challengeAnyOf = unaryChallenge(func(e *env, ctx context.Context, opt grpc.CallOption) error {
		_, err := e.client.AnyOf(ctx, &authtestv1.AnyOfRequest{}, opt)
		return err
	})
	challengeAuthenticated = unaryChallenge(func(e *env, ctx context.Context, opt grpc.CallOption) error {
		_, err := e.client.Authenticated(ctx, &authtestv1.AuthenticatedRequest{}, opt)
		return err
	})
	challengeUnannotated = unaryChallenge(func(e *env, ctx context.Context, opt grpc.CallOption) error {
		_, err := e.other.Unannotated(ctx, &authtestv1.UnannotatedRequest{}, opt)
		return err
	})
	// challengeBidi opens a BidiStream, sends one message and reads the
	// answer.
	challengeBidi challengeCall = func(ctx context.Context, e *env) (error, []string) {
		s, err := e.client.BidiStream(ctx)
		if err != nil {
			return err, nil
		}
		if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil && !errors.Is(err, io.EOF) {
			return err, nil
		}
		if _, err = s.Recv(); err == nil {
			_ = s.CloseSend()
			_, err = s.Recv()
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		return err, s.Trailer().Get(MetadataWWWAuthenticate)
	}
)

// refuseAll is a condition compiler whose conditions refuse every call.
type refuseAll struct{}

func (refuseAll) CompileCondition(protoreflect.MethodDescriptor, string) (Condition, error) {
	return refuseAll{}, nil
}

func (refuseAll) Eval(context.Context, ConditionInput) (bool, error) { return false, nil }

// Every refusal about the caller's credentials carries RFC 6750's
// challenge (section 3) in the www-authenticate trailer, on unary calls
// and streams: invalid_request for a malformed request, invalid_token for a token that cannot be used,
// insufficient_scope with the scopes the method requires. Refusals that
// are not about the credentials (no rule, condition, keys or rules
// unavailable) carry none, and neither does a dry-run refusal, which is not enforced.
// A call without usable credentials: see
// TestChallenge_CallWithoutCredentialsIsOfferedEverySchemeTheMethodTakes.
func TestChallenge_RefusalsCarryRFC6750Challenges(t *testing.T) {
	const (
		invalidToken = `Bearer error="invalid_token", error_description="invalid access token"`
		allOfScope   = `Bearer error="insufficient_scope", error_description="access token lacks a required scope", scope="test:read test:write"`
	)
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.Conditions = refuseAll{}
		c.Rules = map[string]*grpcauthv1.Rule{
			mAuth:      {RequireCertificateBinding: true},
			mInherited: {Condition: "refused"},
		}
	})
	secure := newEnv(t, func(c *Config, _ *verifier.Config) { c.TransportSecurity = TransportSecureOnly })
	down := newEnv(t, func(c *Config, _ *verifier.Config) { c.Verifier = staticVerifier{err: verifier.ErrKeysUnavailable} })
	dry := newEnv(t, func(c *Config, _ *verifier.Config) { c.DryRun = true })
	failing := new(flakyResolver)
	failing.set(errUnreachable)
	outage := newEnv(t, withResolver(failing, publicService))
	challengeInherited := unaryChallenge(func(e *env, ctx context.Context, opt grpc.CallOption) error {
		_, err := e.client.Inherited(ctx, &authtestv1.InheritedRequest{}, opt)
		return err
	})

	read := e.scoped(t, "test:read")
	expired := e.token(t, map[string]any{"sub": "user-1", "exp": t0.Add(-time.Hour), "iat": t0.Add(-2 * time.Hour)})
	certBound := e.token(t, map[string]any{"sub": "user-1", "cnf": map[string]any{"x5t#S256": strings.Repeat("A", 43)}}, grpcauthtest.WithScopes("test:read"))
	jwkBound := e.token(t, map[string]any{"sub": "user-1", "cnf": map[string]any{"jwk": map[string]any{"kty": "EC"}}}, grpcauthtest.WithScopes("test:read"))
	for _, tt := range []struct {
		name   string
		e      *env
		call   challengeCall
		auth   []string
		code   codes.Code
		reason string
		want   string // "": no www-authenticate trailer
	}{
		{"two authorization values", e, challengeAllOf, []string{bearer(read), bearer(read)}, codes.Unauthenticated, ReasonTokenInvalid,
			`Bearer error="invalid_request", error_description="malformed authorization metadata"`},
		{"Bearer without a token", e, challengeAllOf, []string{"Bearer"}, codes.Unauthenticated, ReasonTokenInvalid,
			`Bearer error="invalid_request", error_description="malformed authorization metadata"`},
		{"credentials on plaintext", secure, challengeAllOf, []string{bearer(read)}, codes.Unauthenticated, ReasonTransportInsecure,
			`Bearer error="invalid_request", error_description="credentials require a secure transport"`},
		{"malformed token", e, challengeAllOf, []string{"Bearer not.a.jwt"}, codes.Unauthenticated, ReasonTokenInvalid, invalidToken},
		{"malformed token, stream", e, challengeBidi, []string{"Bearer not.a.jwt"}, codes.Unauthenticated, ReasonTokenInvalid, invalidToken},
		{"forged token", e, challengeAllOf, []string{bearer(e.token(t, map[string]any{"sub": "user-1"}, withForeignKey(t)))}, codes.Unauthenticated, ReasonTokenInvalid, invalidToken},
		{"wrong issuer", e, challengeAllOf, []string{bearer(e.token(t, map[string]any{"sub": "user-1", "iss": "https://other.example"}))}, codes.Unauthenticated, ReasonTokenInvalid, invalidToken},
		{"expired token", e, challengeAllOf, []string{bearer(expired)}, codes.Unauthenticated, ReasonTokenExpired,
			`Bearer error="invalid_token", error_description="access token expired"`},
		{"token type", e, challengeAllOf, []string{bearer(e.token(t, map[string]any{"sub": "user-1"}, grpcauthtest.WithHeader("typ", "logout+jwt")))}, codes.Unauthenticated, ReasonTokenTypeUnsupported,
			`Bearer error="invalid_token", error_description="unsupported access token type"`},
		{"certificate-bound token without a certificate", e, challengeAllOf, []string{bearer(certBound)}, codes.Unauthenticated, ReasonBindingMismatch,
			`Bearer error="invalid_token", error_description="access token is certificate-bound; no client certificate was presented"`},
		{"unsupported confirmation method", e, challengeAllOf, []string{bearer(jwkBound)}, codes.Unauthenticated, ReasonTokenTypeUnsupported,
			`Bearer error="invalid_token", error_description="access token is bound by an unsupported confirmation method"`},
		{"unbound token, binding required", e, challengeAuthenticated, []string{bearer(read)}, codes.Unauthenticated, ReasonBindingRequired,
			`Bearer error="invalid_token", error_description="this method requires a certificate-bound access token"`},
		{"scope missing", e, challengeAllOf, []string{bearer(read)}, codes.PermissionDenied, ReasonScopeInsufficient, allOfScope},
		{"scope missing, stream", e, challengeBidi, []string{bearer(read)}, codes.PermissionDenied, ReasonScopeInsufficient,
			`Bearer error="insufficient_scope", error_description="access token lacks a required scope", scope="test:stream"`},
		// AnyOf takes test:admin, or test:audit and test:write: no one
		// scope value says that.
		{"scope missing, alternatives", e, challengeAnyOf, []string{bearer(read)}, codes.PermissionDenied, ReasonScopeInsufficient,
			`Bearer error="insufficient_scope", error_description="access token lacks a required scope"`},
		{"no rule", e, challengeUnannotated, []string{bearer(read)}, codes.PermissionDenied, ReasonMethodNotConfigured, ""},
		{"condition refused", e, challengeInherited, []string{bearer(read)}, codes.PermissionDenied, ReasonConditionFailed, ""},
		{"keys unavailable", down, challengeAllOf, []string{bearer(down.scoped(t, "test:read"))}, codes.Unavailable, ReasonKeysUnavailable, ""},
		// Config.Descriptors failing: no rule to judge the credentials
		// by, so none is challenged, not even a call without them.
		{"rules unavailable", outage, challengeAllOf, []string{bearer(outage.scoped(t, "test:read"))}, codes.Unavailable, ReasonRulesUnavailable, ""},
		{"rules unavailable, stream", outage, challengeBidi, []string{bearer(outage.scoped(t, "test:stream"))}, codes.Unavailable, ReasonRulesUnavailable, ""},
		{"rules unavailable, no token", outage, challengeAllOf, nil, codes.Unavailable, ReasonRulesUnavailable, ""},
		{"dry run, scope missing", dry, challengeAllOf, []string{bearer(dry.scoped(t, "test:read"))}, codes.OK, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err, got := tt.call(withAuth(bounded(t), tt.auth...), tt.e)
			checkStatus(t, err, tt.code, tt.reason)
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if !slices.Equal(got, want) {
				t.Errorf("www-authenticate = %q, want %q", got, want)
			}
			for _, v := range got {
				checkChallengeSyntax(t, v)
			}
		})
	}
}

// checkChallengeSyntax checks that every error_description in the
// challenge v holds only the characters RFC 6750 allows there (section 3:
// %x20-21 / %x23-5B / %x5D-7E), so that it needed no escaping.
func checkChallengeSyntax(t *testing.T, v string) {
	t.Helper()
	_, rest, ok := strings.Cut(v, `error_description="`)
	if !ok {
		return
	}
	if desc, _, _ := strings.Cut(rest, `"`); !isRFC6750Text(desc) {
		t.Errorf("error_description %q holds a character outside RFC 6750's", desc)
	}
}

// A DPoP call gets its challenge in the DPoP scheme, with the accepted
// algs (RFC 9449, section 7.1, which takes RFC 6750's error codes).
func TestChallenge_DPoPCallGetsDPoPSchemeChallenge(t *testing.T) {
	d := newDPoPEnv(t)
	const algs = `algs="ES256 EdDSA Ed25519"`
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		call   challengeCall
		reason string
		want   string
	}{
		{"invalid token", dpopCtx(bounded(t), "DPoP not.a.jwt", d.proof(t, d.key, mAllOf, "not.a.jwt", grpcauthtest.ProofOptions{})),
			challengeAllOf, ReasonTokenInvalid, `DPoP error="invalid_token", error_description="invalid access token", ` + algs},
		{"invalid token, stream", dpopCtx(bounded(t), "DPoP not.a.jwt", d.proof(t, d.key, "/authtest.v1.TestService/BidiStream", "not.a.jwt", grpcauthtest.ProofOptions{})),
			challengeBidi, ReasonTokenInvalid, `DPoP error="invalid_token", error_description="invalid access token", ` + algs},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err, got := tt.call(tt.ctx, d.env)
			checkStatus(t, err, codes.Unauthenticated, tt.reason)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("www-authenticate = %q, want %q", got, tt.want)
			}
		})
	}
}

// A call without usable credentials (none, or a scheme other than Bearer
// and DPoP, which RFC 6750, section 3.1, counts as none) is challenged,
// bare, in every scheme the method takes: Bearer and DPoP with its algs,
// as two www-authenticate values, where either is taken (RFC 9449,
// section 7.2, Figure 17; RFC 9110, section 11.6.1), so that a client
// that holds DPoP-bound tokens learns it may send them and with which
// algorithms; DPoP alone where only DPoP is (the rule's require_dpop, or
// Config.RequireDPoP). A call that used a scheme is challenged in that
// one only (section 7.2: the mechanism is established). An Authenticator
// always takes DPoP (there is no switch to turn it off), so no refusal of
// a call without credentials challenges Bearer alone.
func TestChallenge_CallWithoutCredentialsIsOfferedEverySchemeTheMethodTakes(t *testing.T) {
	const dpopBare = `DPoP algs="ES256 EdDSA Ed25519"`
	both := []string{"Bearer", dpopBare}
	d := newDPoPEnv(t) // Authenticated requires DPoP, the other methods take either
	server := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.RequireDPoP = true })
	dry := newEnv(t, func(c *Config, _ *verifier.Config) { c.DryRun = true })
	const basic = "Basic dXNlcjpwYXNz"
	for _, tt := range []struct {
		name   string
		e      *env
		call   challengeCall
		auth   []string
		reason string
		want   []string
	}{
		{"no token, DPoP optional", d.env, challengeAllOf, nil, ReasonCredentialsMissing, both},
		{"no token, DPoP optional, stream", d.env, challengeBidi, nil, ReasonCredentialsMissing, both},
		{"no token, DPoP optional, dry run", dry, challengeAllOf, nil, ReasonCredentialsMissing, both},
		{"no token, method requires DPoP", d.env, challengeAuthenticated, nil, ReasonCredentialsMissing, []string{dpopBare}},
		{"no token, server requires DPoP", server.env, challengeAllOf, nil, ReasonCredentialsMissing, []string{dpopBare}},
		{"Basic scheme, DPoP optional", d.env, challengeAllOf, []string{basic}, ReasonTokenTypeUnsupported, both},
		{"Basic scheme, method requires DPoP", d.env, challengeAuthenticated, []string{basic}, ReasonTokenTypeUnsupported, []string{dpopBare}},
		{"Bearer call, DPoP optional", d.env, challengeAllOf, []string{"Bearer not.a.jwt"}, ReasonTokenInvalid,
			[]string{`Bearer error="invalid_token", error_description="invalid access token"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err, got := tt.call(withAuth(bounded(t), tt.auth...), tt.e)
			checkStatus(t, err, codes.Unauthenticated, tt.reason)
			if !slices.Equal(got, tt.want) {
				t.Errorf("www-authenticate = %q, want %q", got, tt.want)
			}
		})
	}
}

// trailerStream is a grpc.ServerTransportStream that keeps the trailer
// set on it, as an adapter relaying ServeCall's metadata would.
type trailerStream struct {
	mu      sync.Mutex
	trailer metadata.MD
}

func (*trailerStream) Method() string               { return "/authtest.v1.TestService/BidiStream" }
func (*trailerStream) SetHeader(metadata.MD) error  { return nil }
func (*trailerStream) SendHeader(metadata.MD) error { return nil }
func (s *trailerStream) SetTrailer(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

func (s *trailerStream) challenges() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trailer.Get(MetadataWWWAuthenticate)
}

// A stream cut because its token expired or was refused on
// re-verification ends with RFC 6750's invalid_token challenge in its
// trailer (section 3.1), as the same refusal at the stream's start does,
// so that a client that refreshes its token on error="invalid_token"
// knows to: in the scheme the stream was opened with, once, without the
// token. Through the interceptor and through ServeCall.
func TestStream_CutCarriesTheInvalidTokenChallenge(t *testing.T) {
	const (
		expired = `Bearer error="invalid_token", error_description="access token expired during the stream"`
		revoked = `Bearer error="invalid_token", error_description="access token no longer valid; stream ended"`
	)
	check := func(t *testing.T, err error, reason string, got []string, want string) {
		t.Helper()
		checkStatus(t, err, codes.Unauthenticated, reason)
		if len(got) != 1 || got[0] != want {
			t.Errorf("www-authenticate = %q, want [%q]", got, want)
		}
		for _, v := range got {
			checkChallengeSyntax(t, v)
		}
	}
	// expireBidi fires the expiry timer of the stream s, then sends and
	// receives, and checks the cut's challenge.
	expireBidi := func(t *testing.T, s grpc.BidiStreamingClient[authtestv1.BidiStreamRequest, authtestv1.BidiStreamResponse], clock *fakeClock, want string) {
		t.Helper()
		clock.expire(clock.next(t))
		_ = s.Send(&authtestv1.BidiStreamRequest{})
		_, err := s.Recv()
		check(t, err, ReasonTokenExpired, s.Trailer().Get(MetadataWWWAuthenticate), want)
	}
	t.Run("expired, Bearer", func(t *testing.T) {
		e, clock, tok := expiryEnv(t)
		expireBidi(t, openBidiStarted(t, e, tok), clock, expired)
	})
	t.Run("expired before the start", func(t *testing.T) {
		var reads atomic.Int32
		e, _, tok := expiryEnv(t, func(c *Config, _ *verifier.Config) {
			c.Now = func() time.Time { // the decision reads t0, the watch an hour later
				if reads.Add(1) == 1 {
					return t0
				}
				return t0.Add(time.Hour)
			}
		})
		s, err := e.client.ServerStream(withAuth(bounded(t), bearer(tok)), &authtestv1.ServerStreamRequest{Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Recv()
		check(t, err, ReasonTokenExpired, s.Trailer().Get(MetadataWWWAuthenticate), expired)
	})
	t.Run("revoked, Bearer", func(t *testing.T) {
		r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, nil)
		s := r.open(t)
		_, recheck := r.fake.next(t), r.fake.next(t)
		r.iss.Revoke(r.token)
		r.clk.Advance(recheck.d)
		recheck.fire()
		_, err := s.Recv()
		check(t, err, ReasonTokenRevoked, s.Trailer().Get(MetadataWWWAuthenticate), revoked)
	})
	t.Run("expired, DPoP", func(t *testing.T) {
		clock := newFakeClock()
		d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.Now, c.afterFunc = clock.Now, clock.AfterFunc })
		d.svc.streamStarted = make(chan struct{}, 1)
		tok := d.token(t, map[string]any{"sub": "user-1", "exp": t0.Add(10 * time.Minute)},
			grpcauthtest.WithScopes("test:stream"), grpcauthtest.WithDPoPKey(d.key.PublicKey()))
		const bidi = "/authtest.v1.TestService/BidiStream"
		s := startBidi(t, dpopCtx(bounded(t), "DPoP "+tok, d.proof(t, d.key, bidi, tok, grpcauthtest.ProofOptions{})), d.env)
		expireBidi(t, s, clock, `DPoP error="invalid_token", error_description="access token expired during the stream", algs="ES256 EdDSA Ed25519"`)
	})
	t.Run("revoked, ServeCall", func(t *testing.T) {
		r := newRevalidationEnv(t, map[string]any{"exp": t0.Add(time.Hour)}, nil)
		ts := &trailerStream{}
		started := make(chan struct{})
		result := make(chan error, 1)
		go func() {
			result <- r.auth.ServeCall(grpc.NewContextWithServerTransportStream(adapterContext(bearer(r.token)), ts),
				"/authtest.v1.TestService/BidiStream", true, nil,
				func(ctx context.Context, _ *Guard) error {
					close(started)
					<-ctx.Done()
					return nil
				})
		}()
		await(t, started, "serve did not start")
		_, recheck := r.fake.next(t), r.fake.next(t)
		r.iss.Revoke(r.token)
		r.clk.Advance(recheck.d)
		recheck.fire()
		check(t, await(t, result, "ServeCall did not return: the stream was not cut"), ReasonTokenRevoked, ts.challenges(), revoked)
	})
}

// A method whose rule sets require_dpop in dry run still takes bearer
// tokens (the rule failure is only reported), so its refusals do not
// send a caller to DPoP: a bearer call's is in the Bearer scheme, which a
// client that refreshes on Bearer error="invalid_token" recognises, and a
// call without credentials gets both challenges, as on any method that
// takes either scheme. Rolling require_dpop out in dry run first changes
// nothing a bearer client sees.
func TestChallenge_DryRunRequireDPoPKeepsTheBearerChallenge(t *testing.T) {
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.DryRunMethods = []string{mAuth} })
	for _, tt := range []struct {
		name   string
		auth   []string
		reason string
		want   []string
	}{
		{"no token", nil, ReasonCredentialsMissing, []string{"Bearer", `DPoP algs="ES256 EdDSA Ed25519"`}},
		{"Bearer call", []string{"Bearer not.a.jwt"}, ReasonTokenInvalid,
			[]string{`Bearer error="invalid_token", error_description="invalid access token"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err, got := challengeAuthenticated(withAuth(bounded(t), tt.auth...), d.env)
			checkStatus(t, err, codes.Unauthenticated, tt.reason)
			if !slices.Equal(got, tt.want) {
				t.Errorf("www-authenticate = %q, want %q", got, tt.want)
			}
		})
	}
}
