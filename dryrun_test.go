package grpcauth

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

func dryRunEnv(t *testing.T, set func(*Config)) (*env, *recorder, *bytes.Buffer) {
	t.Helper()
	rec := &recorder{}
	logs := &bytes.Buffer{}
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.OnDecision = rec.record
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		set(c)
	})
	return e, rec, logs
}

// count returns how many decisions were recorded.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ds)
}

func TestDryRun_MissingScopeSucceedsAndIsReportedAsWouldDeny(t *testing.T) {
	e, rec, logs := dryRunEnv(t, func(c *Config) { c.DryRun = true })
	ctx := withAuth(t.Context(), bearer(e.scoped(t, "test:read")))

	for _, call := range []callKind{callAllOf, callClientStream} {
		before := rec.count()
		got, err := call(ctx, e)
		checkStatus(t, err, codes.OK, "")
		if got.GetSubject() != "user-1" {
			t.Errorf("handler saw %v, want the token's claims", got)
		}
		if n := rec.count() - before; n != 1 {
			t.Fatalf("%d decisions for one call, want 1", n)
		}
		d := rec.last(t)
		if !d.Allowed || !d.DryRun || d.Code != codes.PermissionDenied || d.Reason != ReasonScopeInsufficient ||
			d.Claims.Subject() != "user-1" || d.Source != SourceMethodOption {
			t.Errorf("decision = %+v, want an allowed would-deny for the missing scope", d)
		}
	}
	out := logs.String()
	for _, want := range []string{`msg="grpcauth: call would be denied (dry run)"`, "outcome=would_deny", "method=" + mAllOf,
		"reason=" + ReasonScopeInsufficient, "code=PermissionDenied", "subject=user-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "call denied") {
		t.Errorf("dry run logged a denial:\n%s", out)
	}

	// A call the rule admits is a plain allow, not a dry-run decision.
	if _, err := callInherited(ctx, e); err != nil {
		t.Fatal(err)
	}
	if d := rec.last(t); !d.Allowed || d.DryRun || d.Code != codes.OK || d.Reason != "" {
		t.Errorf("decision for an admitted call = %+v", d)
	}
}

func TestDryRun_UnannotatedMethodRunsWithValidToken(t *testing.T) {
	e, rec, _ := dryRunEnv(t, func(c *Config) { c.DryRun = true })
	got, err := callUnannotated(withAuth(t.Context(), bearer(e.scoped(t))), e)
	checkStatus(t, err, codes.OK, "")
	if got.GetSubject() != "user-1" {
		t.Errorf("handler saw %v", got)
	}
	d := rec.last(t)
	if !d.Allowed || !d.DryRun || d.Code != codes.PermissionDenied || d.Reason != ReasonMethodNotConfigured ||
		!errors.Is(d.Err, ErrNoRule) || d.Source != SourceNone {
		t.Errorf("decision = %+v, want a would-deny METHOD_NOT_CONFIGURED", d)
	}
}

func TestDryRun_AuthenticationIsStillEnforced(t *testing.T) {
	e, rec, _ := dryRunEnv(t, func(c *Config) { c.DryRun = true })
	expired := e.token(t, map[string]any{"exp": t0.Add(-time.Hour), "iat": t0.Add(-2 * time.Hour)})
	tests := []struct {
		name   string
		call   callKind
		auth   []string
		reason string
	}{
		{"no token", callAllOf, nil, ReasonCredentialsMissing},
		{"no token, unannotated", callUnannotated, nil, ReasonCredentialsMissing},
		{"invalid token", callAllOf, []string{"Bearer not.a.jwt"}, ReasonTokenInvalid},
		{"invalid token, unannotated", callUnannotated, []string{"Bearer not.a.jwt"}, ReasonTokenInvalid},
		{"expired token", callAllOf, []string{bearer(expired)}, ReasonTokenExpired},
		{"expired token, stream", callBidiStream, []string{bearer(expired)}, ReasonTokenExpired},
		{"Basic scheme", callAllOf, []string{"Basic dXNlcjpwYXNz"}, ReasonTokenTypeUnsupported},
		{"forged token", callAllOf, []string{bearer(e.token(t, map[string]any{"scp": []string{"test:read"}}, withForeignKey(t)))}, ReasonTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call(withAuth(t.Context(), tt.auth...), e)
			checkStatus(t, err, codes.Unauthenticated, tt.reason)
			if got != nil {
				t.Errorf("handler ran and saw %v", got)
			}
			if d := rec.last(t); d.Allowed || d.DryRun {
				t.Errorf("decision = %+v, want an enforced denial", d)
			}
		})
	}
}

func TestDryRun_PerMethodAndPerService(t *testing.T) {
	e, rec, _ := dryRunEnv(t, func(c *Config) {
		c.DryRunMethods = []string{mAllOf, "authtest.v1.UnannotatedService"}
	})
	ctx := withAuth(t.Context(), bearer(e.scoped(t, "test:read")))
	tests := []struct {
		name   string
		call   callKind
		want   codes.Code
		reason string // the decision's reason
		dryRun bool
	}{
		{"named method relaxed", callAllOf, codes.OK, ReasonScopeInsufficient, true},
		{"named service relaxed", callUnannotated, codes.OK, ReasonMethodNotConfigured, true},
		{"other method of the named method's service enforced", callAnyOf, codes.PermissionDenied, ReasonScopeInsufficient, false},
		{"other method enforced", callClientStream, codes.PermissionDenied, ReasonScopeInsufficient, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.call(ctx, e)
			checkStatus(t, err, tt.want, tt.reason)
			d := rec.last(t)
			if d.DryRun != tt.dryRun || d.Allowed != tt.dryRun || d.Reason != tt.reason {
				t.Errorf("decision = %+v", d)
			}
		})
	}
	for m, want := range map[string]bool{mAllOf: true, mUnannotated: true, mAnyOf: false, mInherited: false} {
		if req, _ := e.auth.Requirement(m); req.DryRun != want {
			t.Errorf("Requirement(%s).DryRun = %v, want %v", m, req.DryRun, want)
		}
	}
}

func TestDryRun_CertificateBinding(t *testing.T) {
	unbound := mustClaims(t, "x")
	bound, err := verifier.NewClaims(map[string]any{"sub": "user-1", "cnf": map[string]any{"x5t#S256": "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"}})
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]*grpcauthv1.Rule{mAuth: {RequireCertificateBinding: true}}

	// An unbound token on a method that requires binding is a rule failure:
	// relaxed.
	var rec recorder
	a := mustNew(t, Config{Verifier: staticVerifier{claims: unbound}, Rules: rules, DryRun: true, OnDecision: rec.record})
	if c, err := callUnary(a, bearerCtx("tok"), mAuth); err != nil || c != unbound {
		t.Fatalf("unbound token in dry run = %v, %v; want the claims", c, err)
	}
	if d := rec.last(t); !d.DryRun || d.Reason != ReasonBindingRequired || d.Code != codes.Unauthenticated {
		t.Errorf("decision = %+v, want a would-deny ACCESS_TOKEN_BINDING_REQUIRED", d)
	}

	// A bound token without its certificate is an authentication failure:
	// enforced.
	a = mustNew(t, Config{Verifier: staticVerifier{claims: bound}, Rules: rules, DryRun: true, OnDecision: rec.record})
	_, err = callUnary(a, bearerCtx("tok"), mAuth)
	checkStatus(t, err, codes.Unauthenticated, ReasonBindingMismatch)
	if d := rec.last(t); d.DryRun || d.Allowed {
		t.Errorf("decision = %+v, want an enforced denial", d)
	}
}

func TestDryRun_TransportSecurityIsStillEnforced(t *testing.T) {
	a := mustNew(t, Config{DryRun: true})
	ctx := withPeer(bearerCtx("tok"), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, plaintext)
	_, err := callUnary(a, ctx, mUnannotated)
	checkStatus(t, err, codes.Unauthenticated, ReasonTransportInsecure)
}

func TestDryRun_StreamPastExpiryIsRefusedOnce(t *testing.T) {
	var rec recorder
	clock := newFakeClock()
	r := &skewReporter{} // none: the verifier (1 minute) still accepts the token
	e := newEnv(t, reportSkew(r), func(c *Config, v *verifier.Config) {
		c.DryRun = true
		c.OnDecision = rec.record
		c.Now = func() time.Time { return t0 }
		c.afterFunc = clock.AfterFunc
	})
	r.TokenVerifier = e.v
	tok := e.token(t, map[string]any{"sub": "user-1", "exp": t0.Add(-30 * time.Second), "scp": []string{"test:read"}})
	_, err := callBidiStream(withAuth(t.Context(), bearer(tok)), e) // lacks test:stream
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
	if n := rec.count(); n != 1 {
		t.Errorf("%d decisions, want 1", n)
	}
	if d := rec.last(t); d.DryRun || d.Allowed {
		t.Errorf("decision = %+v, want an enforced denial", d)
	}
}

// withForeignKey signs a token with a key the issuer never published.
func withForeignKey(t *testing.T) grpcauthtest.MintOption {
	return grpcauthtest.WithSigningKey(genKey(t), "ES256")
}

// In dry run, a call denied because Config.Descriptors failed is refused
// (UNAVAILABLE, RULES_UNAVAILABLE), with or without a token, unary or
// stream, as unavailable keys are: dry run relaxes what a method's rule
// requires, and the resolver's failure left no rule; the handler does not
// run unruled, and the caller is told to retry. Check does not mark the
// problem as one dry run only reports. Once the resolver answers, the
// unannotated method's METHOD_NOT_CONFIGURED is relaxed again.
func TestDryRun_ResolverFailureIsRefusedAsUnavailable(t *testing.T) {
	r := new(flakyResolver)
	r.set(errUnreachable)
	e, rec, _ := dryRunEnv(t, func(c *Config) {
		c.DryRun = true
		c.Descriptors = r
	})
	valid := bearer(e.scoped(t, "test:read"))
	for _, tt := range []struct {
		name string
		call callKind
		auth []string
	}{
		{"annotated", callAllOf, []string{valid}},
		{"unannotated", callUnannotated, []string{valid}},
		{"stream", callBidiStream, []string{valid}},
		{"no token", callAllOf, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call(withAuth(t.Context(), tt.auth...), e)
			checkStatus(t, err, codes.Unavailable, ReasonRulesUnavailable)
			if got != nil {
				t.Errorf("handler ran and saw %v", got)
			}
			if d := rec.last(t); d.Allowed || d.DryRun || d.Code != codes.Unavailable || !errors.Is(d.Err, errUnreachable) {
				t.Errorf("decision = %+v, want an enforced UNAVAILABLE with the resolver's error", d)
			}
		})
	}

	srv := grpc.NewServer()
	authtestv1.RegisterTestServiceServer(srv, &testService{})
	a := mustNew(t, Config{Descriptors: r, DryRun: true, Logger: discardLogger()})
	var ce *CheckError
	if err := a.Check(srv); !errors.As(err, &ce) || len(ce.Problems) == 0 {
		t.Fatalf("Check = %v; want the resolver's failure reported", err)
	}
	for _, p := range ce.Problems {
		if p.DryRun || !errors.Is(p.Err, errUnreachable) {
			t.Errorf("Check problem %s: DryRun %v, %v; want the resolver's failure, not marked dry run (it is enforced)", p.Method, p.DryRun, p.Err)
		}
	}
	if strings.Contains(ce.Error(), "dry run") {
		t.Errorf("Check says %q; want no dry-run relaxation claimed for a resolver failure", ce.Error())
	}

	r.set(nil)
	_, err := callUnannotated(withAuth(t.Context(), valid), e)
	checkStatus(t, err, codes.OK, "")
	if d := rec.last(t); !d.Allowed || !d.DryRun || d.Reason != ReasonMethodNotConfigured {
		t.Errorf("resolver answering: decision = %+v, want a would-deny METHOD_NOT_CONFIGURED", d)
	}
}
