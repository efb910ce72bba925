package connectauth_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// conditionServer serves ConditionService's Own (a condition on the
// request: the item's owner is the caller, or the caller has test:admin)
// and OwnClientStream (the same on every message) behind the Interceptor,
// with CEL conditions compiled by celcond.
func conditionServer(t *testing.T) (*grpcauthtest.Issuer, string, *http.Client) {
	t.Helper()
	iss, auth := conditionAuth(t)
	opts := func(name string) []connect.HandlerOption { return conditionOptions(auth, name) }
	mux := http.NewServeMux()
	mux.Handle("/authtest.v1.ConditionService/Own", connect.NewUnaryHandler("/authtest.v1.ConditionService/Own",
		func(ctx context.Context, _ *connect.Request[authtestv1.OwnRequest]) (*connect.Response[authtestv1.OwnResponse], error) {
			return connect.NewResponse(&authtestv1.OwnResponse{Caller: caller(ctx)}), nil
		}, opts("Own")...))
	mux.Handle("/authtest.v1.ConditionService/OwnClientStream", connect.NewClientStreamHandler("/authtest.v1.ConditionService/OwnClientStream",
		func(ctx context.Context, s *connect.ClientStream[authtestv1.OwnClientStreamRequest]) (*connect.Response[authtestv1.OwnClientStreamResponse], error) {
			n := int32(0)
			for s.Receive() {
				n++
			}
			if err := s.Err(); err != nil {
				return nil, err
			}
			return connect.NewResponse(&authtestv1.OwnClientStreamResponse{Caller: caller(ctx), Received: n}), nil
		}, opts("OwnClientStream")...))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	return iss, srv.URL, srv.Client()
}

// conditionAuth returns an issuer and an Authenticator verifying its
// tokens, with CEL conditions compiled by celcond.
func conditionAuth(t *testing.T) (*grpcauthtest.Issuer, *grpcauth.Authenticator) {
	t.Helper()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	cel, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := grpcauth.New(grpcauth.Config{Verifier: issuerVerifier(t, iss), Conditions: cel, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return iss, auth
}

// conditionOptions are the handler options of ConditionService's method
// name behind auth's Interceptor.
func conditionOptions(auth *grpcauth.Authenticator, name string) []connect.HandlerOption {
	return []connect.HandlerOption{connect.WithSchema(method("ConditionService", name)), connect.WithInterceptors(connectauth.NewInterceptor(auth))}
}

// A message the condition refuses does not stay behind in the handler's
// connect.ClientStream: after Receive reports false, Msg is not the
// refused message, as it never reaches a grpc-go handler either.
func TestConnect_RefusedMessageIsNotLeftInTheClientStream(t *testing.T) {
	iss, auth := conditionAuth(t)
	last := make(chan *authtestv1.OwnClientStreamRequest, 1)
	const path = "/authtest.v1.ConditionService/OwnClientStream"
	mux := http.NewServeMux()
	mux.Handle(path, connect.NewClientStreamHandler(path,
		func(_ context.Context, s *connect.ClientStream[authtestv1.OwnClientStreamRequest]) (*connect.Response[authtestv1.OwnClientStreamResponse], error) {
			for s.Receive() {
			}
			last <- s.Msg()
			return nil, s.Err()
		}, conditionOptions(auth, "OwnClientStream")...))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	tok, err := iss.Mint(map[string]any{"sub": "alice"}, grpcauthtest.WithScopes("test:write"))
	if err != nil {
		t.Fatal(err)
	}
	stream := connect.NewClient[authtestv1.OwnClientStreamRequest, authtestv1.OwnClientStreamResponse](srv.Client(), srv.URL+path).CallClientStream(t.Context())
	stream.RequestHeader().Set("Authorization", "Bearer "+tok)
	for _, o := range []string{"alice", "bob"} {
		if err := stream.Send(&authtestv1.OwnClientStreamRequest{Owner: o}); err != nil {
			break
		}
	}
	_, err = stream.CloseAndReceive()
	if got := connectOutcome(err); got != (outcome{codes.PermissionDenied, grpcauth.ReasonConditionFailed}) {
		t.Fatalf("got %v %q, want %s", got.code, got.reason, grpcauth.ReasonConditionFailed)
	}
	if m := <-last; m.GetOwner() == "bob" {
		t.Error("the handler's Msg is the refused message")
	}
}

func TestConnect_ConditionOnTheRequest(t *testing.T) {
	iss, url, hc := conditionServer(t)
	tok, err := iss.Mint(map[string]any{"sub": "alice"}, grpcauthtest.WithScopes("test:write"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		owner  string
		want   codes.Code
		reason string
	}{
		{"alice", codes.OK, ""},
		{"bob", codes.PermissionDenied, grpcauth.ReasonConditionFailed},
	}
	for _, tc := range tests {
		for pname, popts := range protocols {
			t.Run(tc.owner+"/"+pname, func(t *testing.T) {
				req := connect.NewRequest(&authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: tc.owner}})
				req.Header().Set("Authorization", "Bearer "+tok)
				_, err := connect.NewClient[authtestv1.OwnRequest, authtestv1.OwnResponse](hc, url+"/authtest.v1.ConditionService/Own", popts...).CallUnary(t.Context(), req)
				if got := connectOutcome(err); got != (outcome{tc.want, tc.reason}) {
					t.Fatalf("got %v %q, want %v %q", got.code, got.reason, tc.want, tc.reason)
				}
			})
		}
	}
}

func TestConnect_ConditionOnEveryStreamMessage(t *testing.T) {
	iss, url, hc := conditionServer(t)
	tok, err := iss.Mint(map[string]any{"sub": "alice"}, grpcauthtest.WithScopes("test:write"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		owners []string
		want   codes.Code
		reason string
	}{
		{"every message passes", []string{"alice", "alice"}, codes.OK, ""},
		{"the second message fails", []string{"alice", "bob", "alice"}, codes.PermissionDenied, grpcauth.ReasonConditionFailed},
	}
	for _, tc := range tests {
		for _, pname := range []string{"connect", "grpc"} { // gRPC-Web has no client streams
			t.Run(tc.name+"/"+pname, func(t *testing.T) {
				stream := connect.NewClient[authtestv1.OwnClientStreamRequest, authtestv1.OwnClientStreamResponse](hc, url+"/authtest.v1.ConditionService/OwnClientStream", protocols[pname]...).CallClientStream(t.Context())
				stream.RequestHeader().Set("Authorization", "Bearer "+tok)
				for _, o := range tc.owners {
					if err := stream.Send(&authtestv1.OwnClientStreamRequest{Owner: o}); err != nil {
						break // the server ended the stream; CloseAndReceive has the status
					}
				}
				res, err := stream.CloseAndReceive()
				if got := connectOutcome(err); got != (outcome{tc.want, tc.reason}) {
					t.Fatalf("got %v %q, want %v %q", got.code, got.reason, tc.want, tc.reason)
				}
				if tc.want == codes.OK && res.Msg.GetReceived() != int32(len(tc.owners)) {
					t.Fatalf("handler received %d messages, want %d", res.Msg.GetReceived(), len(tc.owners))
				}
			})
		}
	}
}
