package connectauth_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// A connect-go handler is judged by the rule of the procedure it was built
// for, whatever path brought the request to it: the path as the client
// spelled it (percent-encoded), a prefix a middleware strips, or another
// procedure's path it is mounted at by mistake (AllOf's handler at
// Public's). A token without AllOf's scopes is refused on each, in every
// protocol, before the handler runs, and one with them is served there,
// so each path does reach the handler.
func TestConnect_HandlerIsJudgedByItsOwnProcedureWhateverThePath(t *testing.T) {
	f := newFixture(t)
	var served atomic.Int32
	allOf := connect.NewUnaryHandler("/authtest.v1.TestService/AllOf",
		func(ctx context.Context, _ *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			served.Add(1)
			return connect.NewResponse(&authtestv1.AllOfResponse{Caller: caller(ctx)}), nil
		}, connect.WithSchema(method("TestService", "AllOf")), connect.WithInterceptors(connectauth.NewInterceptor(f.auth)))
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.TestService/AllOf", allOf)
	mux.Handle("/authtest.v1.TestService/Public", allOf) // mounted at the wrong procedure's path
	mux.Handle("/api/", http.StripPrefix("/api", allOf))
	srv := serveTLS(t, connectauth.WrapHandler(mux))

	paths := []string{
		"/authtest.v1.TestService/AllOf",
		"/authtest.v1.TestService/%41llOf", // ServeMux matches the decoded path
		"/authtest.v1.TestService/Public",
		"/api/authtest.v1.TestService/AllOf",
	}
	for pname, opts := range protocols {
		for _, path := range paths {
			t.Run(pname+path, func(t *testing.T) {
				call := func(scopes ...string) outcome {
					req := connect.NewRequest(&authtestv1.AllOfRequest{})
					req.Header().Set("Authorization", "Bearer "+f.token(t, scopes...))
					_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+path, opts...).CallUnary(t.Context(), req)
					return connectOutcome(err)
				}
				before := served.Load()
				if got, want := call("test:read"), (outcome{codes.PermissionDenied, grpcauth.ReasonScopeInsufficient}); got != want {
					t.Fatalf("token without AllOf's scopes: got %v %q, want %v %q", got.code, got.reason, want.code, want.reason)
				}
				if served.Load() != before {
					t.Fatal("the handler ran for a refused call")
				}
				if got := call("test:read", "test:write"); got.code != codes.OK {
					t.Fatalf("token with AllOf's scopes: got %v %q, want OK (the path reaches the handler)", got.code, got.reason)
				}
				if served.Load() != before+1 {
					t.Fatal("the admitted call did not reach the handler")
				}
			})
		}
	}
}

// A Connect GET (connect-go's WithHTTPGet, for a method without side
// effects) gets the decision a POST gets, which is the decision a grpc-go
// client gets from a grpc-go server, for every call of the table: the
// request message travelling in the query changes nothing about where the
// credentials come from or which rule applies.
func TestConnect_GETGetsTheSameDecisionAsOverGRPC(t *testing.T) {
	f := newFixture(t)
	ref := grpcReference(t, f)
	srv := serveTLS(t, connectauth.WrapHandler(connectHandlers(f, connect.WithIdempotency(connect.IdempotencyNoSideEffects))))

	// posts counts the requests that were no GET, so that the test knows
	// the calls went as GETs.
	var posts atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method != http.MethodGet {
			posts.Add(1)
		}
		return srv.Client().Transport.RoundTrip(r)
	})}
	get := []connect.ClientOption{connect.WithHTTPGet(), connect.WithIdempotency(connect.IdempotencyNoSideEffects)}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			want := viaGRPC(t, f, ref, c)
			if got, _ := viaConnect(t, f, hc, srv.URL, get, c); got != want {
				t.Fatalf("GET: got %v %q, want %v %q (as over grpc-go)", got.code, got.reason, want.code, want.reason)
			}
		})
	}
	if n := posts.Load(); n != 0 {
		t.Fatalf("%d calls went as another method than GET", n)
	}
}

// gRPC-Web's text form (application/grpc-web-text, the grpc-web package's
// default mode) is served by neither connect-go nor vanguard, as
// docs/browsers.md says: connect-go answers 415 and vanguard 404, before
// any decision, with a valid token or without one, for a scoped method and
// a public one.
func TestConnect_GRPCWebTextIsRefusedBeforeAnyDecision(t *testing.T) {
	var decisions atomic.Int32
	f := configFixture(t, grpcauth.Config{OnDecision: func(context.Context, grpcauth.Decision) { decisions.Add(1) }})
	tok := f.token(t, "test:read", "test:write")
	body := base64.StdEncoding.EncodeToString([]byte{0, 0, 0, 0, 0}) // one empty message, framed
	for sname, tc := range map[string]struct {
		h    http.Handler
		want int
	}{
		"connect-go": {connectMux(f), http.StatusUnsupportedMediaType},
		"vanguard":   {vanguardHandler(t, grpcServer(f)), http.StatusNotFound},
	} {
		srv := serveTLS(t, tc.h)
		for _, procedure := range []string{"/authtest.v1.TestService/AllOf", "/authtest.v1.TestService/Public"} {
			for _, ct := range []string{"application/grpc-web-text", "application/grpc-web-text+proto"} {
				for _, auth := range []string{"", "Bearer " + tok} {
					req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+procedure, strings.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Content-Type", ct)
					req.Header.Set("X-Grpc-Web", "1")
					if auth != "" {
						req.Header.Set("Authorization", auth)
					}
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != tc.want {
						t.Errorf("%s %s %s (token %v): status %d, want %d", sname, procedure, ct, auth != "", resp.StatusCode, tc.want)
					}
				}
			}
		}
	}
	if n := decisions.Load(); n != 0 {
		t.Errorf("%d decisions for calls in a form no server serves, want none", n)
	}
}
