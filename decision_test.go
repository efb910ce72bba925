package grpcauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// recorder collects decisions.
type recorder struct {
	mu sync.Mutex
	ds []Decision
}

func (r *recorder) record(_ context.Context, d Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ds = append(r.ds, d)
}

// denied returns the reasons of the denied decisions, in order.
func (r *recorder) denied() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var reasons []string
	for _, d := range r.ds {
		if !d.Allowed {
			reasons = append(reasons, d.Reason)
		}
	}
	return reasons
}

func (r *recorder) last(t *testing.T) Decision {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ds) == 0 {
		t.Fatal("no decision recorded")
	}
	return r.ds[len(r.ds)-1]
}

func TestDecision_ReportsEveryOutcomeAndLogsDenialsWithoutToken(t *testing.T) {
	var rec recorder
	var logs bytes.Buffer
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.OnDecision = rec.record
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})

	good := e.scoped(t, "test:read")
	if _, err := callAllOf(withAuth(t.Context(), bearer(good)), e); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("AllOf = %v, want PermissionDenied", err)
	}
	d := rec.last(t)
	if d.Allowed || d.Method != mAllOf || d.Code != codes.PermissionDenied || d.Reason != ReasonScopeInsufficient ||
		d.Source != SourceMethodOption || d.Claims.Subject() != "user-1" {
		t.Errorf("scope denial decision = %+v", d)
	}

	expired := e.token(t, map[string]any{"exp": t0.Add(-time.Hour), "iat": t0.Add(-2 * time.Hour)})
	_, err := callAllOf(withAuth(t.Context(), bearer(expired)), e)
	d = rec.last(t)
	if d.Allowed || d.Reason != ReasonTokenExpired || !errors.Is(d.Err, verifier.ErrExpired) || !d.Claims.IsZero() {
		t.Errorf("expired decision = %+v", d)
	}
	if strings.Contains(err.Error(), "20") || strings.Contains(err.Error(), "verifier") {
		t.Errorf("client message %q carries internal detail", err)
	}

	if _, err := callInherited(withAuth(t.Context(), bearer(good)), e); err != nil {
		t.Fatal(err)
	}
	d = rec.last(t)
	if !d.Allowed || d.Code != codes.OK || d.Reason != "" || d.Source != SourceServiceOption || d.Claims.IsZero() {
		t.Errorf("allow decision = %+v", d)
	}

	out := logs.String()
	for _, want := range []string{"method=" + mAllOf, "reason=" + ReasonScopeInsufficient, "subject=user-1",
		"client_id=" + grpcauthtest.DefaultClientID, "reason=" + ReasonTokenExpired, "token expired"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, tok := range []string{good, expired} {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(out, sig) {
			t.Error("log contains a token")
		}
	}
	if strings.Count(out, "call denied") != 2 {
		t.Errorf("want exactly the two denials logged:\n%s", out)
	}
}

func TestInterceptor_KeysUnavailableIsUnavailable(t *testing.T) {
	// A verifier whose key set cannot be fetched: the JWKS endpoint fails.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	e := newEnv(t, func(_ *Config, v *verifier.Config) { v.JWKSURL = down.URL + "/keys" })

	_, err := callAllOf(withAuth(t.Context(), bearer(e.scoped(t, "test:read", "test:write"))), e)
	checkStatus(t, err, codes.Unavailable, ReasonKeysUnavailable)
	// A public call without a token does not need the keys.
	if _, err := callPublic(t.Context(), e); err != nil {
		t.Errorf("public call without token: %v", err)
	}
}

func TestInterceptor_ClosedVerifierIsUnavailable(t *testing.T) {
	e := newEnv(t)
	tok := e.scoped(t, "test:read", "test:write")
	if err := e.v.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := callAllOf(withAuth(t.Context(), bearer(tok)), e)
	checkStatus(t, err, codes.Unavailable, ReasonKeysUnavailable)
}

func TestInterceptor_WrongTokenTypeIsTypeUnsupported(t *testing.T) {
	e := newEnv(t, func(_ *Config, v *verifier.Config) { v.RequireAccessTokenProfile = true })
	// An Okta-shaped token (typ JWT) where RFC 9068 (at+jwt) is required.
	_, err := callAuthenticated(withAuth(t.Context(), bearer(e.scoped(t))), e)
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenTypeUnsupported)
	ok := e.token(t, map[string]any{"sub": "user-1"}, grpcauthtest.WithShape(grpcauthtest.ShapeRFC9068))
	if _, err := callAuthenticated(withAuth(t.Context(), bearer(ok)), e); err != nil {
		t.Errorf("RFC 9068 token: %v", err)
	}
}

// The verifier's error maps to a code and reason. A context error is the
// caller's own deadline or cancellation only when the call's context has
// ended; while the call still has time it is the verifier's dependency
// timing out (a key-set fetch, an introspection request): unavailable.
func TestVerifyRejection_MapsErrors(t *testing.T) {
	tests := []struct {
		err       error
		callEnded bool // the call's context is cancelled
		code      codes.Code
		reason    string
	}{
		{fmt.Errorf("x: %w", context.Canceled), true, codes.Canceled, ReasonCanceled},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true, codes.DeadlineExceeded, ReasonDeadlineExceeded},
		{fmt.Errorf("%w: %w", verifier.ErrKeysUnavailable, context.DeadlineExceeded), true, codes.DeadlineExceeded, ReasonDeadlineExceeded},
		{fmt.Errorf("x: %w", context.Canceled), false, codes.Unavailable, ReasonKeysUnavailable},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false, codes.Unavailable, ReasonKeysUnavailable},
		{fmt.Errorf("%w: %w", verifier.ErrKeysUnavailable, context.DeadlineExceeded), false, codes.Unavailable, ReasonKeysUnavailable},
		{fmt.Errorf("x: %w", verifier.ErrKeysUnavailable), false, codes.Unavailable, ReasonKeysUnavailable},
		{verifier.ErrClosed, false, codes.Unavailable, ReasonKeysUnavailable},
		{&verifier.TokenExpiredError{Expiry: t0}, false, codes.Unauthenticated, ReasonTokenExpired},
		{&verifier.ClaimError{Claim: "typ", Reason: "x"}, false, codes.Unauthenticated, ReasonTokenTypeUnsupported},
		{&verifier.ClaimError{Claim: "token_type", Reason: "x"}, false, codes.Unauthenticated, ReasonTokenTypeUnsupported},
		{&verifier.ClaimError{Claim: "cid", Reason: "x"}, false, codes.Unauthenticated, ReasonTokenInvalid},
		{verifier.ErrBadSignature, false, codes.Unauthenticated, ReasonTokenInvalid},
		{verifier.ErrUnknownKey, false, codes.Unauthenticated, ReasonTokenInvalid},
		{verifier.ErrNotYetValid, false, codes.Unauthenticated, ReasonTokenInvalid},
		{verifier.ErrAudience, false, codes.Unauthenticated, ReasonTokenInvalid},
		{verifier.ErrIssuer, false, codes.Unauthenticated, ReasonTokenInvalid},
		{verifier.ErrAlgorithm, false, codes.Unauthenticated, ReasonTokenInvalid},
		{verifier.ErrMalformed, false, codes.Unauthenticated, ReasonTokenInvalid},
		{errors.New("introspection failed"), false, codes.Unauthenticated, ReasonTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/call ended %v", tt.err, tt.callEnded), func(t *testing.T) {
			a := mustNew(t, Config{Verifier: staticVerifier{err: tt.err}})
			ctx := bearerCtx("tok")
			if tt.callEnded {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				cancel()
			}
			_, err := callUnary(a, ctx, mAllOf)
			checkStatus(t, err, tt.code, tt.reason)
		})
	}
}

func TestInterceptor_VerifierReturningNoClaimsIsRejected(t *testing.T) {
	a := mustNew(t, Config{Verifier: staticVerifier{}})
	_, err := callUnary(a, bearerCtx("tok"), mAuth)
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenInvalid)
}

// No token, DPoP proof or Basic credential a caller sends reaches the
// decision log (with the verifier's Debug records), Decision.Err, the
// status message and details, or the response metadata, whatever the
// refusal: a token whose signature (or whole text) carries a marker, one
// the verifier refuses for its size, a Basic password, and proofs refused
// for each reason a valid-looking proof can have (replayed, another key,
// another token's ath, no nonce where one is required).
func TestLog_TokensProofsAndCredentialsNeverReachLogsErrorsOrStatus(t *testing.T) {
	const marker = "MARKERq7zx"
	var mu sync.Mutex // guards logs (the verifier logs from its own goroutine too) and errs
	var logs bytes.Buffer
	var errs []string
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug})
	d := newDPoPEnv(t, func(c *Config, v *verifier.Config) {
		c.Logger, v.Logger = slog.New(h), slog.New(h)
		c.OnDecision = func(_ context.Context, d Decision) {
			mu.Lock()
			defer mu.Unlock()
			if d.Err != nil {
				errs = append(errs, d.Err.Error())
			}
		}
	})
	var outs []string
	call := func(ctx context.Context, method string) {
		err, header, trailer := d.callUnaryMD(ctx, method)
		if err == nil {
			t.Fatalf("%s: call admitted", method)
		}
		outs = append(outs, fmt.Sprint(status.Convert(err).Proto(), header, trailer))
	}
	good := d.bound
	dot := strings.LastIndexByte(good, '.')
	secrets := []string{marker, good[dot+1:]}
	forged := good[:dot+1] + marker + good[dot+1+len(marker):]
	for _, auth := range []string{
		"Bearer " + marker, "Bearer " + forged, "DPoP " + forged, "Bearer " + marker + "." + marker + "." + marker,
		"Bearer " + strings.Repeat(marker, 8000), // over MaxTokenSize
		"Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+marker)), marker,
	} {
		call(withAuth(t.Context(), auth), mAuth)
		call(withAuth(t.Context(), auth), mInherited)
	}
	other := newDPoPKey(t, "ES256")
	replayed := d.proof(t, d.key, mAuth, good, grpcauthtest.ProofOptions{})
	if err, _, _ := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+good, replayed), mAuth); err != nil {
		t.Fatalf("first use of a proof: %v", err)
	}
	for _, p := range []string{
		replayed,
		d.proof(t, other, mAuth, good, grpcauthtest.ProofOptions{}),
		d.proof(t, d.key, mAuth, forged, grpcauthtest.ProofOptions{}),
		d.proof(t, d.key, mAuth, good, grpcauthtest.ProofOptions{Claims: map[string]any{"jti": marker}, IssuedAt: t0.Add(-time.Hour)}),
	} {
		secrets = append(secrets, p[strings.LastIndexByte(p, '.')+1:])
		call(dpopCtx(t.Context(), "DPoP "+good, p), mAuth)
	}
	mu.Lock()
	outs = append(append(outs, errs...), logs.String())
	mu.Unlock()
	for _, out := range outs {
		for _, s := range secrets {
			// Any 10 bytes of it: a prefix or a suffix is a leak too.
			for i := 0; i+len(marker) <= len(s); i++ {
				if strings.Contains(out, s[i:i+len(marker)]) {
					t.Errorf("%.20s… reached the log, an error or a status: %.500s", s, out)
					break
				}
			}
		}
	}
}

// writerFunc is an io.Writer made of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
