//go:build unix

package grpcauth

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/benchcpu"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// BenchmarkDPoP measures what a DPoP call costs over a bearer call, in one
// run, both with a token the verifier has cached: "interceptor" calls the
// unary interceptor directly (no-op handler), "server" makes whole calls
// over plaintext loopback TCP. Every DPoP call carries a fresh proof (new
// jti), made before the timer starts; its cost includes the proof's
// signature verification, thumbprint, htu normalisation and replay-cache
// insertion. Besides wall time, each result reports cpu-ns/op: the CPU
// time the whole process (client, server, GC) spent per call, which a busy
// machine inflates less than wall time. Figures are in docs/dpop.md.
//
//	go test -run '^$' -bench BenchmarkDPoP -benchmem .
func BenchmarkDPoP(b *testing.B) {
	e := newEnv(b, func(c *Config, _ *verifier.Config) {
		c.Now = func() time.Time { return t0 }
		c.DPoP = dpop.Config{Algorithms: []string{"ES256", "EdDSA"}, ReplayCache: dpop.NewMemoryReplayCache(10_000_000, func() time.Time { return t0 })}
	})
	bearerTok := e.scoped(b, "test:read")
	keys := map[string]*grpcauthtest.DPoPKey{"ES256": newDPoPKey(b, "ES256"), "EdDSA": newDPoPKey(b, "EdDSA")}
	bound := map[string]string{}
	for alg, k := range keys {
		bound[alg] = e.token(b, map[string]any{"sub": "user-1"}, grpcauthtest.WithScopes("test:read"), grpcauthtest.WithDPoPKey(k.PublicKey()))
	}
	const authority = "grpcauth.test"
	unary := e.auth.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: mInherited}
	noop := func(context.Context, any) (any, error) { return nil, nil }
	incoming := func(kv ...string) context.Context {
		return metadata.NewIncomingContext(loopbackPeer(context.Background()), metadata.Pairs(append(kv, ":authority", authority)...))
	}
	// proofs makes n proofs with key alg for url.
	proofs := func(b *testing.B, alg, url string, n int) []string {
		ps := make([]string, n)
		for i := range ps {
			p, err := keys[alg].Proof("POST", url, bound[alg])
			if err != nil {
				b.Fatal(err)
			}
			ps[i] = p
		}
		return ps
	}

	b.Run("interceptor/bearer", func(b *testing.B) {
		ctx := incoming("authorization", bearer(bearerTok))
		if _, err := unary(ctx, nil, info, noop); err != nil {
			b.Fatal(err) // also warms the verifier's cache
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer benchcpu.Report(b)()
		for range b.N {
			if _, err := unary(ctx, nil, info, noop); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, alg := range []string{"ES256", "EdDSA"} {
		b.Run("interceptor/dpop-"+alg, func(b *testing.B) {
			ctxs := make([]context.Context, b.N+1)
			for i, p := range proofs(b, alg, "http://"+authority+mInherited, b.N+1) {
				ctxs[i] = incoming("authorization", "DPoP "+bound[alg], MetadataDPoP, p)
			}
			if _, err := unary(ctxs[b.N], nil, info, noop); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			defer benchcpu.Report(b)()
			for i := range b.N {
				if _, err := unary(ctxs[i], nil, info, noop); err != nil {
					b.Fatal(err)
				}
			}
		})
	}

	call := func(b *testing.B, ctxs []context.Context) {
		if _, err := e.client.Inherited(ctxs[len(ctxs)-1], &authtestv1.InheritedRequest{}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer benchcpu.Report(b)()
		for i := range b.N {
			if _, err := e.client.Inherited(ctxs[i%len(ctxs)], &authtestv1.InheritedRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("server/bearer", func(b *testing.B) {
		call(b, []context.Context{withAuth(context.Background(), bearer(bearerTok))})
	})
	for _, alg := range []string{"ES256", "EdDSA"} {
		b.Run("server/dpop-"+alg, func(b *testing.B) {
			ctxs := make([]context.Context, b.N+1)
			for i, p := range proofs(b, alg, "http://"+e.addr+mInherited, b.N+1) {
				ctxs[i] = dpopCtx(context.Background(), "DPoP "+bound[alg], p)
			}
			call(b, ctxs)
		})
	}
}
