package connectauth_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// BenchmarkWrapHandler serves, in process, a gRPC unary call of a public
// method through WrapHandler and the Interceptor, the same call made by
// hand (a JSON POST without Connect-Protocol-Version, which the guard
// recognises by its procedure), and a plain HTTP request through
// WrapHandler: what WrapHandler adds to a request (its guard of handlers
// without the Interceptor included) shows in the allocations.
func BenchmarkWrapHandler(b *testing.B) {
	iss := grpcauthtest.NewIssuer(b, grpcauthtest.Config{})
	auth, err := grpcauth.New(grpcauth.Config{Verifier: issuerVerifier(b, iss), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	public := connect.NewUnaryHandler("/authtest.v1.TestService/Public",
		func(context.Context, *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			return connect.NewResponse(&authtestv1.PublicResponse{}), nil
		}, connect.WithSchema(method("TestService", "Public")), connect.WithInterceptors(connectauth.NewInterceptor(auth)))
	plain := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	for _, c := range []struct {
		name        string
		h           http.Handler
		contentType string
		body        []byte
	}{
		{"grpc-public", connectauth.WrapHandler(public), "application/grpc", []byte{0, 0, 0, 0, 0}}, // one gRPC message of no bytes
		{"json-by-hand", connectauth.WrapHandler(public), "application/json", []byte("{}")},
		{"plain", connectauth.WrapHandler(plain), "", []byte{0, 0, 0, 0, 0}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "https://example.test/authtest.v1.TestService/Public", bytes.NewReader(c.body))
				r.RemoteAddr = "127.0.0.1:1234"
				if c.contentType != "" {
					r.Header.Set("Content-Type", c.contentType)
				}
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, r)
				if w.Code != http.StatusOK || (c.contentType == "application/grpc" && (w.Result().Trailer.Get("Grpc-Status") != "0" || w.Body.Len() < 5)) {
					b.Fatalf("status %d, grpc-status %q", w.Code, w.Result().Trailer.Get("Grpc-Status"))
				}
			}
		})
	}
}
