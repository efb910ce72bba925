package grpcauth

import (
	"context"
	"net"
	"testing"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// serveChained serves base's services on a second loopback server behind
// the interceptors of auths, in order, each installed on both chains: the
// first with grpc.UnaryInterceptor and grpc.StreamInterceptor, the others
// in a chain behind it, through selector (as a shared middleware bundle
// would install them). It returns base with a client of that server.
func serveChained(t *testing.T, base *env, auths ...*Authenticator) *env {
	t.Helper()
	all := selector.MatchFunc(func(context.Context, interceptors.CallMeta) bool { return true })
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	for _, a := range auths[1:] {
		unary = append(unary, selector.UnaryServerInterceptor(a.UnaryServerInterceptor(), all))
		stream = append(stream, selector.StreamServerInterceptor(a.StreamServerInterceptor(), all))
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, lis, base.svc,
		grpc.UnaryInterceptor(auths[0].UnaryServerInterceptor()), grpc.ChainUnaryInterceptor(unary...),
		grpc.StreamInterceptor(auths[0].StreamServerInterceptor()), grpc.ChainStreamInterceptor(stream...))
	return base.via(t, lis.Addr().String())
}

// The same Authenticator installed twice decides each call once, with the
// outcome it would have installed once.
func TestInstalledTwice_SameAuthenticatorDecidesEachCallOnce(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		var rec recorder
		base := newEnv(t, func(c *Config, _ *verifier.Config) {
			c.OnDecision = rec.record
			c.DryRun = dryRun
		})
		e := serveChained(t, base, base.auth, base.auth)
		reader := withAuth(t.Context(), bearer(e.scoped(t, "test:read", "test:stream")))
		refused := codes.PermissionDenied
		if dryRun {
			refused = codes.OK
		}
		tests := []struct {
			name   string
			ctx    context.Context
			call   callKind
			code   codes.Code
			reason string
		}{
			{"allowed unary", reader, callInherited, codes.OK, ""},
			{"allowed server stream", reader, callServerStream, codes.OK, ""},
			{"allowed bidi stream", reader, callBidiStream, codes.OK, ""},
			{"public unary without token", t.Context(), callPublic, codes.OK, ""},
			{"unary without token", t.Context(), callInherited, codes.Unauthenticated, ReasonCredentialsMissing},
			{"stream without token", t.Context(), callBidiStream, codes.Unauthenticated, ReasonCredentialsMissing},
			{"unary lacking a scope", reader, callAllOf, refused, ReasonScopeInsufficient},
			{"stream lacking a scope", reader, callClientStream, refused, ReasonScopeInsufficient},
		}
		for _, tt := range tests {
			name := tt.name
			if dryRun {
				name += " (dry run)"
			}
			t.Run(name, func(t *testing.T) {
				before := rec.count()
				got, err := tt.call(tt.ctx, e)
				if tt.code == codes.OK {
					checkStatus(t, err, codes.OK, "")
					if tt.ctx == reader && got.GetSubject() != "user-1" {
						t.Errorf("handler saw %v, want the token's claims", got)
					}
				} else {
					checkStatus(t, err, tt.code, tt.reason)
				}
				if n := rec.count() - before; n != 1 {
					t.Fatalf("%d decisions for one call, want 1", n)
				}
				if d := rec.last(t); d.Allowed != (tt.code == codes.OK) || tt.reason != "" && d.Reason != tt.reason || d.DryRun != (dryRun && tt.reason == ReasonScopeInsufficient) {
					t.Errorf("decision = %+v", d)
				}
			})
		}
	}
}

// A DPoP proof is checked once, by the first of the two installations:
// the second does not see it again as a replay.
func TestInstalledTwice_DPoPCallIsNotAReplay(t *testing.T) {
	var rec recorder
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })
	e := serveChained(t, d.env, d.auth, d.auth)
	proof := func(method string) context.Context {
		// The proof's htu is the URL of the server the call goes to.
		o := grpcauthtest.ProofOptions{Method: "POST", URL: "http://" + e.addr + method, AccessToken: d.bound}
		p, err := d.key.ProofWith(o)
		if err != nil {
			t.Fatal(err)
		}
		return dpopCtx(t.Context(), "DPoP "+d.bound, p)
	}
	got, err := callAuthenticated(proof(mAuth), e)
	checkStatus(t, err, codes.OK, "")
	if got.GetSubject() != "user-1" {
		t.Errorf("handler saw %v, want the token's claims", got)
	}
	if _, err := callBidiStream(proof("/authtest.v1.TestService/BidiStream"), e); err != nil {
		t.Fatalf("DPoP stream: %v", err)
	}
	if n := rec.count(); n != 2 {
		t.Errorf("%d decisions for two calls, want 2", n)
	}
	if r := rec.denied(); len(r) != 0 {
		t.Errorf("denied %v, want none", r)
	}
	// The first installation still refuses a replay.
	ctx := proof(mAuth)
	_, err = callAuthenticated(ctx, e)
	checkStatus(t, err, codes.OK, "")
	_, err = callAuthenticated(ctx, e)
	checkStatus(t, err, codes.Unauthenticated, ReasonDPoPReplayed)
}

// Two different Authenticators chained on purpose (two policies) both
// decide every call: the stricter one refuses what the other allows.
func TestInstalledTwice_TwoAuthenticatorsBothDecide(t *testing.T) {
	var lenient, strict recorder
	base := newEnv(t, func(c *Config, _ *verifier.Config) { c.OnDecision = lenient.record })
	stricter, err := New(Config{
		Verifier:   base.v,
		Logger:     discardLogger(),
		OnDecision: strict.record,
		Rules: map[string]*grpcauthv1.Rule{
			mInherited:                            {Scopes: []string{"test:admin"}},
			"/authtest.v1.TestService/BidiStream": {Scopes: []string{"test:admin"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	reader := withAuth(t.Context(), bearer(base.scoped(t, "test:read", "test:stream")))
	admin := withAuth(t.Context(), bearer(base.scoped(t, "test:read", "test:stream", "test:admin")))
	for _, order := range [][]*Authenticator{{base.auth, stricter}, {stricter, base.auth}} {
		e := serveChained(t, base, order...)
		for _, call := range []callKind{callInherited, callBidiStream} {
			_, err := call(reader, e)
			checkStatus(t, err, codes.PermissionDenied, ReasonScopeInsufficient)
			if _, err := call(admin, e); err != nil {
				t.Fatalf("call with both policies' scopes: %v", err)
			}
		}
	}
	if n := strict.count(); n != 8 {
		t.Errorf("the strict Authenticator decided %d calls, want all 8", n)
	}
	// The lenient one allows every call it sees: the four it decides
	// first, and the two the strict one let through.
	if n := lenient.count(); n != 6 || len(lenient.denied()) != 0 {
		t.Errorf("the lenient Authenticator decided %d calls, denied %v; want 6, none denied", n, lenient.denied())
	}
}

// The second installation passes a stream on as the first wrapped it: the
// stream still ends when its token expires, on the first run's timers.
func TestInstalledTwice_StreamIsStillCutAtExpiry(t *testing.T) {
	base, clock, tok := expiryEnv(t)
	e := serveChained(t, base, base.auth, base.auth)
	s := openBidiStarted(t, e, tok)
	expireThenSend(t, s, clock)
	if got := len(e.svc.bidiReceived); got != 1 {
		t.Errorf("the handler received %d messages, want 1 (the one sent before the expiry)", got)
	}
	clock.mu.Lock()
	defer clock.mu.Unlock()
	if n := len(clock.timers); n != 2 {
		t.Errorf("%d timers for one stream, want 2: its expiry and its re-verification, once each", n)
	}
}

// The mark of an admitted call makes its Authenticator pass on that call
// only: the same method, as the same kind of call (unary or stream). Any
// other use of the handler's context, or another Authenticator, decides
// anew, and claims put in a context by ContextWithClaims are no mark.
func TestAdmitted_OnlyTheSameCallOfTheSameAuthenticatorIsPassedOn(t *testing.T) {
	var rec recorder
	cfg := Config{Verifier: staticVerifier{claims: mustClaims(t, "test:read")}, OnDecision: rec.record}
	a, other := mustNew(t, cfg), mustNew(t, cfg)
	var admitted context.Context
	_, err := a.UnaryServerInterceptor()(bearerCtx("tok"), nil, &grpc.UnaryServerInfo{FullMethod: mInherited},
		func(ctx context.Context, _ any) (any, error) {
			admitted = ctx
			return nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	unary := func(a *Authenticator, ctx context.Context, method string) func() error {
		return func() error {
			_, err := a.UnaryServerInterceptor()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method},
				func(context.Context, any) (any, error) { return nil, nil })
			return err
		}
	}
	stream := func(method string) func() error {
		return func() error {
			return a.StreamServerInterceptor()(nil, &ctxStream{ctx: admitted}, &grpc.StreamServerInfo{FullMethod: method},
				func(any, grpc.ServerStream) error { return nil })
		}
	}
	serveCall := func(stream bool) func() error {
		return func() error {
			return a.ServeCall(admitted, mInherited, stream, &authtestv1.InheritedRequest{}, func(context.Context, *Guard) error { return nil })
		}
	}
	forged := ContextWithClaims(loopbackPeer(t.Context()), mustClaims(t, "test:read"))
	tests := []struct {
		name    string
		run     func() error
		decided bool // false: passed on without a Decision
		code    codes.Code
		reason  string
	}{
		{"same Authenticator, same unary call", unary(a, admitted, mInherited), false, codes.OK, ""},
		{"same Authenticator, same call through ServeCall", serveCall(false), false, codes.OK, ""},
		{"another method", unary(a, admitted, mAllOf), true, codes.PermissionDenied, ReasonScopeInsufficient},
		{"the same method as a stream", stream(mInherited), true, codes.OK, ""},
		{"the same method as a stream through ServeCall", serveCall(true), true, codes.OK, ""},
		{"another Authenticator", unary(other, admitted, mInherited), true, codes.OK, ""},
		{"claims from ContextWithClaims, no token", unary(a, forged, mInherited), true, codes.Unauthenticated, ReasonCredentialsMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.count()
			checkStatus(t, tt.run(), tt.code, tt.reason)
			if n := rec.count() - before; n != 1 && tt.decided || n != 0 && !tt.decided {
				t.Errorf("%d decisions; decided anew = %v", n, tt.decided)
			}
		})
	}
}
