package connectauth_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// conditionServer serves ConditionService's Own (a condition on the
// request: the item's owner is the caller, or the caller has test:admin)
// and OwnClientStream (the same on every message) behind the Interceptor,
// with CEL conditions compiled by celcond.
func conditionServer(t *testing.T) (*grpcauthtest.Issuer, string, *http.Client) {
	t.Helper()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := verifier.New(ctx, verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	cel, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := grpcauth.New(grpcauth.Config{Verifier: v, Conditions: cel, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	opts := func(name string) []connect.HandlerOption {
		return []connect.HandlerOption{connect.WithSchema(method("ConditionService", name)), connect.WithInterceptors(connectauth.NewInterceptor(auth))}
	}
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
