package grpcauth

import (
	"context"
	"crypto/x509"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// BenchmarkServer measures whole calls over plaintext loopback TCP, with and without the
// interceptors, in one run: the difference between "baseline" and
// "grpcauth" is the interceptors' cost per call with a valid token that
// the verifier has cached.
//
//	go test -run '^$' -bench BenchmarkServer -benchmem .
func BenchmarkServer(b *testing.B) {
	e := newEnv(b)
	_, baseAddr := serve(b, &testService{})
	base := authtestv1.NewTestServiceClient(dial(b, baseAddr, insecure.NewCredentials()))
	ctx := withAuth(context.Background(), bearer(e.scoped(b, "test:read", "test:write")))
	if _, err := e.client.Inherited(ctx, &authtestv1.InheritedRequest{}); err != nil {
		b.Fatal(err) // also warms the verifier's cache
	}
	if _, err := base.Inherited(ctx, &authtestv1.InheritedRequest{}); err != nil {
		b.Fatal(err)
	}
	unary := func(c authtestv1.TestServiceClient) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Inherited(ctx, &authtestv1.InheritedRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	stream := func(c authtestv1.TestServiceClient) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := c.ClientStream(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.CloseAndRecv(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("unary/baseline", unary(base))
	b.Run("unary/grpcauth", unary(e.client))
	b.Run("stream/baseline", stream(base))
	b.Run("stream/grpcauth", stream(e.client))
}

// BenchmarkInterceptor calls the interceptor functions directly with a
// metadata context (from a plaintext loopback peer) and a no-op handler, to
// show their own time and allocations: "static" with a verifier that
// returns fixed claims (the interceptor alone), "verifier" with the real
// verifier on a cached token, "bound" with fixed certificate-bound claims
// from a mutual-TLS peer presenting the matching certificate (the cost of
// the RFC 8705 check), "refused" with fixed claims lacking a scope (a
// refusal with its www-authenticate trailer).
//
//	go test -run '^$' -bench BenchmarkInterceptor -benchmem .
func BenchmarkInterceptor(b *testing.B) {
	e := newEnv(b)
	tok := e.scoped(b, "test:read", "test:write", "test:stream")
	static := mustNew(b, Config{Verifier: staticVerifier{claims: mustClaims(b, "test:read", "test:write", "test:stream")}})
	ctx := metadata.NewIncomingContext(loopbackPeer(context.Background()), metadata.Pairs("authorization", bearer(tok)))
	noopUnary := func(context.Context, any) (any, error) { return nil, nil }
	noopStream := func(any, grpc.ServerStream) error { return nil }
	ss := &ctxStream{ctx: ctx}

	for _, c := range []struct {
		name string
		a    *Authenticator
	}{{"static", static}, {"verifier", e.auth}} {
		unary := c.a.UnaryServerInterceptor()
		info := &grpc.UnaryServerInfo{FullMethod: mAllOf}
		if _, err := unary(ctx, nil, info, noopUnary); err != nil {
			b.Fatal(err)
		}
		b.Run("unary/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := unary(ctx, nil, info, noopUnary); err != nil {
					b.Fatal(err)
				}
			}
		})
		if c.name == "static" {
			benchmarkRefusal(b, info, noopUnary)
			bound, bctx := boundCall(b)
			unary := mustNew(b, Config{Verifier: staticVerifier{claims: bound}}).UnaryServerInterceptor()
			b.Run("unary/bound", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := unary(bctx, nil, info, noopUnary); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		stream := c.a.StreamServerInterceptor()
		sinfo := &grpc.StreamServerInfo{FullMethod: "/authtest.v1.TestService/BidiStream", IsClientStream: true, IsServerStream: true}
		b.Run("stream/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := stream(nil, ss, sinfo, noopStream); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// boundCall returns claims bound to a fresh client certificate and the
// incoming context of a call from a mutual-TLS peer presenting it.
func boundCall(b *testing.B) (verifier.Claims, context.Context) {
	pki := newPKI(b)
	cert := pki.issue(b, "client", false).Leaf
	claims, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scp": []string{"test:read", "test:write"},
		"cnf": map[string]any{"x5t#S256": CertificateThumbprint(cert)}})
	if err != nil {
		b.Fatal(err)
	}
	ti := credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	ti.State.PeerCertificates, ti.State.HandshakeComplete = []*x509.Certificate{cert, pki.ca}, true
	ctx := withPeer(context.Background(), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, ti)
	return claims, metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer tok"))
}

// ctxStream is a grpc.ServerStream that only has a context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// benchmarkRefusal runs the "unary/refused" benchmark: fixed claims without
// the method's test:write scope, on a call whose context has a transport
// stream to take the trailer.
func benchmarkRefusal(b *testing.B, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) {
	unary := mustNew(b, Config{Verifier: staticVerifier{claims: mustClaims(b, "test:read")}, Logger: discardLogger()}).UnaryServerInterceptor()
	ctx := metadata.NewIncomingContext(loopbackPeer(context.Background()), metadata.Pairs("authorization", "Bearer tok"))
	ctx = grpc.NewContextWithServerTransportStream(ctx, discardStream{})
	b.Run("unary/refused", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := unary(ctx, nil, info, handler); err == nil {
				b.Fatal("call with a missing scope was not refused")
			}
		}
	})
}

// discardStream is a grpc.ServerTransportStream that drops the metadata
// set on it.
type discardStream struct{}

func (discardStream) Method() string               { return mAllOf }
func (discardStream) SetHeader(metadata.MD) error  { return nil }
func (discardStream) SendHeader(metadata.MD) error { return nil }
func (discardStream) SetTrailer(metadata.MD) error { return nil }
