package grpcauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// openStreamVia opens a server stream of e's through client in ctx and
// returns it once its handler has started (e.svc.streamStarted, which
// the caller has made, has received).
func openStreamVia(t *testing.T, e *env, client authtestv1.TestServiceClient, ctx context.Context) grpc.ServerStreamingClient[authtestv1.ServerStreamResponse] {
	t.Helper()
	s, err := client.ServerStream(ctx, &authtestv1.ServerStreamRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first response: %v", err)
	}
	await(t, e.svc.streamStarted, "the stream's handler did not start")
	return s
}

// bindingCheck is one re-verification of a bound stream's token whose
// claims bind it differently: the refusal the stream is cut with, or ""
// when it goes on.
type bindingCheck struct {
	name   string
	cnf    map[string]any // the re-verified claims' cnf; nil: none
	reason string
	dryRun bool
}

// checkRebinding opens a stream with ctx (through client), re-verifies
// its token with claims whose cnf is tt.cnf, and checks that the stream
// is cut with tt.reason, and the status and challenge a new stream
// (newCtx(), with a fresh proof where one is needed) gets with those
// claims, even in dry run, which relaxes no binding; or, with no reason,
// that it goes on.
func checkRebinding(t *testing.T, tt bindingCheck, e *env, v *chanRevalidator, fake *fakeClock, rec *recorder, client authtestv1.TestServiceClient, newCtx func() context.Context) {
	t.Helper()
	e.svc.streamStarted, e.svc.streamEnded = make(chan struct{}, 1), make(chan error, 1)
	s := openStreamVia(t, e, client, newCtx())
	recheck := fake.next(t)
	more := map[string]any{}
	if tt.cnf != nil {
		more["cnf"] = tt.cnf
	}
	fresh := claimsOf(t, "test:read test:stream", more)
	reverifyWith(fake, v, recheck, fresh)
	if tt.reason == "" {
		if next := fake.next(t); next.stopped.Load() {
			t.Fatal("the next re-verification's timer was stopped: the stream was cut")
		}
		e.stillRunning(t)
		if denied := rec.denied(); len(denied) != 0 {
			t.Errorf("denied decisions %q, want none", denied)
		}
		return
	}
	await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
	cut, challenges := cutStatus(t, s)
	checkStatus(t, cut, codes.Unauthenticated, tt.reason)
	if len(challenges) == 0 || !strings.Contains(challenges[0], `error="invalid_token"`) {
		t.Errorf("www-authenticate = %q, want an invalid_token challenge", challenges)
	}
	d := rec.last(t)
	if d.Allowed || d.DryRun || d.Reason != tt.reason || !d.Claims.Has("scope") {
		t.Errorf("cut's decision = %+v, want denied %s with the re-verified claims", d, tt.reason)
	}
	checkSameRefusal(t, e, v, newCtx(), fresh, cut, challenges)
}

// TestStream_RevalidatedTokenBoundToAnotherDPoPKeyIsCut: a stream opened
// with a DPoP-bound token (cnf jkt) and a proof by its key is
// re-verified, and the verifier now answers claims that bind the token to
// another key, to none, or to a certificate (an introspection answer for
// the token changed): the proof, checked once as the stream opened, no
// longer proves possession of the token's key, and the stream is cut with
// DPOP_BINDING_MISMATCH, the refusal a new call with a proof by the
// stream's key gets, in dry run too. Before, the re-verification judged
// the rule with the binding found as the stream opened, and the stream
// ran on. Claims that keep the key leave it running.
func TestStream_RevalidatedTokenBoundToAnotherDPoPKeyIsCut(t *testing.T) {
	for _, tt := range []bindingCheck{
		{name: "another key", cnf: map[string]any{"jkt": newDPoPKey(t, "ES256").Thumbprint()}, reason: ReasonDPoPBindingMismatch},
		{name: "another key, dry run", cnf: map[string]any{"jkt": newDPoPKey(t, "ES256").Thumbprint()}, reason: ReasonDPoPBindingMismatch, dryRun: true},
		{name: "no cnf", reason: ReasonDPoPBindingMismatch},
		{name: "certificate-bound", cnf: map[string]any{"x5t#S256": strings.Repeat("A", 43)}, reason: ReasonDPoPBindingMismatch},
		{name: "the same key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			fake := newFakeClock()
			key := newDPoPKey(t, "ES256")
			if tt.name == "the same key" {
				tt.cnf = map[string]any{"jkt": key.Thumbprint()}
			}
			v := newChanRevalidator(claimsOf(t, "test:read test:stream", map[string]any{"cnf": map[string]any{"jkt": key.Thumbprint()}}))
			e := newEnv(t, func(c *Config, _ *verifier.Config) {
				c.Verifier, c.Now, c.afterFunc, c.OnDecision, c.DryRun = v, fake.Now, fake.AfterFunc, rec.record, tt.dryRun
			})
			newCtx := func() context.Context {
				proof, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: "http://" + e.addr + mServerStream, AccessToken: "opaque-token"})
				if err != nil {
					t.Fatal(err)
				}
				return dpopCtx(bounded(t), "DPoP opaque-token", proof)
			}
			checkRebinding(t, tt, e, v, fake, &rec, e.client, newCtx)
			if tt.name == "another key" && !errors.Is(rec.last(t).Err, dpop.ErrKeyMismatch) {
				t.Errorf("cut's Decision.Err = %v, want one wrapping dpop.ErrKeyMismatch, as a new call's", rec.last(t).Err)
			}
		})
	}
}

// TestStream_RevalidatedTokenBoundToAnotherCertificateIsCut: a stream
// opened over mutual TLS with a token bound to the client's certificate
// (cnf x5t#S256) is re-verified, and the verifier now answers claims that
// bind the token to another certificate (cut, ACCESS_TOKEN_BINDING_MISMATCH),
// to none on a method that requires certificate binding (cut,
// ACCESS_TOKEN_BINDING_REQUIRED), or to none on one that does not (it goes
// on, as a new call with the unbound token is let through); a bearer
// stream whose token becomes DPoP-bound is cut as a new call with it is
// (DPOP_BINDING_MISMATCH). Each refusal is the one a new call over the
// same connection gets, in dry run too. Before, the binding found as the
// stream opened was kept, and the stream ran on.
func TestStream_RevalidatedTokenBoundToAnotherCertificateIsCut(t *testing.T) {
	for _, tt := range []struct {
		bindingCheck
		required bool // the method requires certificate binding
	}{
		{bindingCheck: bindingCheck{name: "another certificate", reason: ReasonBindingMismatch}},
		{bindingCheck: bindingCheck{name: "another certificate, dry run", reason: ReasonBindingMismatch, dryRun: true}},
		{bindingCheck: bindingCheck{name: "no cnf, binding required", reason: ReasonBindingRequired}, required: true},
		{bindingCheck: bindingCheck{name: "no cnf"}},
		{bindingCheck: bindingCheck{name: "DPoP-bound", cnf: map[string]any{"jkt": strings.Repeat("A", 43)}, reason: ReasonDPoPBindingMismatch}},
		{bindingCheck: bindingCheck{name: "the same certificate"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			fake := newFakeClock()
			v := &chanRevalidator{answers: make(chan verifier.Claims, 4), at: t0.Add(time.Minute)}
			m := newMTLSEnv(t, func(c *Config, _ *verifier.Config) {
				c.Verifier, c.Now, c.afterFunc, c.OnDecision, c.DryRun = v, fake.Now, fake.AfterFunc, rec.record, tt.dryRun
				c.Rules = map[string]*grpcauthv1.Rule{mServerStream: {Scopes: []string{"test:read", "test:stream"}, RequireCertificateBinding: tt.required}}
			})
			boundTo := func(cert string) map[string]any { return map[string]any{"x5t#S256": cert} }
			thumbA := CertificateThumbprint(m.certA.Leaf)
			v.answers <- claimsOf(t, "test:read test:stream", map[string]any{"cnf": boundTo(thumbA)})
			switch tt.name {
			case "another certificate", "another certificate, dry run":
				tt.cnf = boundTo(CertificateThumbprint(m.certB.Leaf))
			case "the same certificate":
				tt.cnf = boundTo(thumbA)
			}
			checkRebinding(t, tt.bindingCheck, m.env, v, fake, &rec, m.clientA, func() context.Context { return withAuth(bounded(t), bearer("opaque-token")) })
		})
	}
}
