package connectauth_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// twoNonces accepts "old" and "fresh" and hands out "fresh": a proof with
// "old" is accepted and answered with a fresh DPoP-Nonce.
type twoNonces struct{}

func (twoNonces) Nonce(time.Time) string           { return "fresh" }
func (twoNonces) Valid(n string, _ time.Time) bool { return n == "old" || n == "fresh" }

// nonceServer serves AllOf with handler behind an Authenticator that
// issues DPoP nonces, and returns its URL, an HTTP client, and a function
// making a DPoP-bound request whose proof carries nonce.
func nonceServer(t *testing.T, handler func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error)) (string, *http.Client, func(nonce string) *connect.Request[authtestv1.AllOfRequest]) {
	t.Helper()
	auth, key, tok := dpopFixture(t, dpop.Config{Nonces: twoNonces{}})
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.TestService/AllOf", connect.NewUnaryHandler("/authtest.v1.TestService/AllOf", handler,
		connect.WithSchema(method("TestService", "AllOf")), connect.WithInterceptors(connectauth.NewInterceptor(auth))))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	url := srv.URL + "/authtest.v1.TestService/AllOf"
	return url, srv.Client(), func(nonce string) *connect.Request[authtestv1.AllOfRequest] {
		p, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: url, AccessToken: tok, Nonce: nonce})
		if err != nil {
			t.Fatal(err)
		}
		req := connect.NewRequest(&authtestv1.AllOfRequest{})
		req.Header().Set("Authorization", "DPoP "+tok)
		req.Header().Set("DPoP", p)
		return req
	}
}

// A fresh DPoP-Nonce reaches the caller when the handler fails, as over
// grpc-go, where header metadata goes out with the status.
func TestConnect_FreshDPoPNonceSurvivesAHandlerError(t *testing.T) {
	url, hc, request := nonceServer(t, func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such item"))
	})
	for pname, opts := range protocols {
		t.Run(pname, func(t *testing.T) {
			_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](hc, url, opts...).CallUnary(t.Context(), request("old"))
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != connect.CodeNotFound {
				t.Fatalf("got %v, want not_found", err)
			}
			if got := ce.Meta().Values("Dpop-Nonce"); len(got) != 1 || got[0] != "fresh" {
				t.Fatalf("DPoP-Nonce %q, want [fresh]", got)
			}
		})
	}
}

// sharedResponse is one response value a handler returns to every caller.
var sharedResponse = func() *connect.Response[authtestv1.AllOfResponse] {
	r := connect.NewResponse(&authtestv1.AllOfResponse{})
	r.Header()  // connect-go makes these maps lazily (and racily if a
	r.Trailer() // shared value's are first made by concurrent calls): make them now
	return r
}()

// The interceptor puts a call's DPoP-Nonce on that call's response headers,
// never on the handler's response value: a shared value is not written
// (concurrently, under -race) and carries nothing to later callers.
func TestConnect_SharedResponseValueIsNotWritten(t *testing.T) {
	url, hc, request := nonceServer(t, func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
		return sharedResponse, nil
	})
	client := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](hc, url)
	call := func(nonce string) []string {
		res, err := client.CallUnary(t.Context(), request(nonce))
		if err != nil {
			t.Error(err)
			return nil
		}
		return res.Header().Values("Dpop-Nonce")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got := call("old"); len(got) != 1 || got[0] != "fresh" {
				t.Errorf("DPoP-Nonce %q, want [fresh]", got)
			}
		})
	}
	wg.Wait()
	if got := call("fresh"); len(got) != 0 {
		t.Errorf("a call that needed no nonce got DPoP-Nonce %q", got)
	}
	if n := len(sharedResponse.Header()); n != 0 {
		t.Errorf("the shared response value has %d headers", n)
	}
}

// dpopFixture returns an Authenticator with DPoP configuration dc, trusting
// a fresh development issuer, a DPoP key, and an access token bound to that
// key with the scopes test:read and test:write.
func dpopFixture(t *testing.T, dc dpop.Config) (*grpcauth.Authenticator, *grpcauthtest.DPoPKey, string) {
	t.Helper()
	f := configFixture(t, grpcauth.Config{DPoP: dc})
	key, tok := dpopBoundToken(t, f.iss, "test:read", "test:write")
	return f.auth, key, tok
}

// dpopBoundToken returns a fresh DPoP key and an access token of iss for
// alice with scopes, bound to that key.
func dpopBoundToken(t *testing.T, iss *grpcauthtest.Issuer, scopes ...string) (*grpcauthtest.DPoPKey, string) {
	t.Helper()
	key, err := grpcauthtest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Mint(map[string]any{"sub": "alice"}, grpcauthtest.WithScopes(scopes...), grpcauthtest.WithDPoPKey(key.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	return key, tok
}

// configFixture returns a fixture whose Authenticator has cfg (Verifier
// and Logger filled in), trusting a fresh development issuer.
func configFixture(t *testing.T, cfg grpcauth.Config) *fixture {
	t.Helper()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	cfg.Verifier, cfg.Logger = v, slog.New(slog.DiscardHandler)
	auth, err := grpcauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{iss: iss, auth: auth}
}

// A stream refused after it started (here a message the condition refuses;
// a cut stream alike) sends the DPoP-Nonce of its admission once, with the
// response headers, as over grpc-go, and not again with the refusal.
func TestConnect_StreamRefusedAfterItsStartSendsTheDPoPNonceOnce(t *testing.T) {
	cel, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := configFixture(t, grpcauth.Config{Conditions: cel, DPoP: dpop.Config{Nonces: twoNonces{}}})
	key, err := grpcauthtest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.iss.Mint(map[string]any{"sub": "alice"}, grpcauthtest.WithScopes("test:write"), grpcauthtest.WithDPoPKey(key.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	const path = "/authtest.v1.ConditionService/OwnClientStream"
	mux := http.NewServeMux()
	mux.Handle(path, connect.NewClientStreamHandler(path,
		func(_ context.Context, s *connect.ClientStream[authtestv1.OwnClientStreamRequest]) (*connect.Response[authtestv1.OwnClientStreamResponse], error) {
			for s.Receive() {
			}
			return nil, s.Err()
		}, conditionOptions(f.auth, "OwnClientStream")...))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	for _, pname := range []string{"connect", "grpc"} { // gRPC-Web has no client streams
		t.Run(pname, func(t *testing.T) {
			p, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: srv.URL + path, AccessToken: tok, Nonce: "old"})
			if err != nil {
				t.Fatal(err)
			}
			stream := connect.NewClient[authtestv1.OwnClientStreamRequest, authtestv1.OwnClientStreamResponse](srv.Client(), srv.URL+path, protocols[pname]...).CallClientStream(t.Context())
			stream.RequestHeader().Set("Authorization", "DPoP "+tok)
			stream.RequestHeader().Set("DPoP", p)
			_ = stream.Send(&authtestv1.OwnClientStreamRequest{Owner: "bob"}) // refused by the condition
			_, err = stream.CloseAndReceive()
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != connect.CodePermissionDenied {
				t.Fatalf("got %v, want permission_denied", err)
			}
			if got := ce.Meta().Values("Dpop-Nonce"); len(got) != 1 || got[0] != "fresh" {
				t.Errorf("DPoP-Nonce %q in the response's headers and trailers, want [fresh] once", got)
			}
		})
	}
}
