package grpcauth

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// adapterContext is what an adapter such as connectauth builds for
// ServeCall: the request headers as incoming metadata and a loopback peer.
func adapterContext(auth string) context.Context {
	md := metadata.MD{}
	if auth != "" {
		md.Set("authorization", auth)
	}
	ctx := metadata.NewIncomingContext(context.Background(), md)
	return peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}})
}

func TestServeCall_RefusalIsTheInterceptorsStatusAndServeIsNotCalled(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		auth   string
		method string
		code   codes.Code
		reason string
	}{
		{"no token", "", "/authtest.v1.TestService/AllOf", codes.Unauthenticated, ReasonCredentialsMissing},
		{"garbage token", "Bearer x.y.z", "/authtest.v1.TestService/AllOf", codes.Unauthenticated, ReasonTokenInvalid},
		{"missing scope", bearer(e.token(t, map[string]any{"scp": []string{"test:read"}})), "/authtest.v1.TestService/AllOf", codes.PermissionDenied, ReasonScopeInsufficient},
		{"no rule", bearer(e.token(t, map[string]any{"scp": []string{"test:read"}})), "/authtest.v1.UnannotatedService/Unannotated", codes.PermissionDenied, ReasonMethodNotConfigured},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			served := false
			err := e.auth.ServeCall(adapterContext(tc.auth), tc.method, false, nil, func(context.Context, *Guard) error {
				served = true
				return nil
			})
			if served {
				t.Fatal("serve ran for a refused call")
			}
			checkStatus(t, err, tc.code, tc.reason)
		})
	}
}

func TestServeCall_AllowedCallServesWithClaimsAndReturnsServesError(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, map[string]any{"sub": "user-7", "scp": []string{"test:read", "test:write"}})
	handlerErr := errors.New("handler failed")
	err := e.auth.ServeCall(adapterContext(bearer(tok)), "/authtest.v1.TestService/AllOf", false, &authtestv1.AllOfRequest{}, func(ctx context.Context, g *Guard) error {
		c, ok := ClaimsFromContext(ctx)
		if !ok || c.Subject() != "user-7" {
			t.Errorf("claims = %v, %v; want user-7", c.Subject(), ok)
		}
		if g.Err() != nil || g.Received(&authtestv1.AllOfRequest{}) != nil {
			t.Error("a unary call's guard reports an error")
		}
		return handlerErr
	})
	if err != handlerErr {
		t.Fatalf("ServeCall = %v, want the handler's error unchanged", err)
	}
}

func TestServeCall_StreamEndsWithExpiredWhenItsTokenExpires(t *testing.T) {
	e, clock, tok := expiryEnv(t)
	started := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- e.auth.ServeCall(adapterContext(bearer(tok)), "/authtest.v1.TestService/ServerStream", true, nil, func(ctx context.Context, g *Guard) error {
			close(started)
			<-ctx.Done()
			if status.Code(g.Err()) != codes.Unauthenticated {
				t.Errorf("context ended but Err() = %v", g.Err())
			}
			return nil // a handler that treats cancellation as a normal end
		})
	}()
	await(t, started, "serve did not start")
	clock.checkCutIn(t, clock.next(t), 10*time.Minute+verifier.DefaultClockSkew)
	checkStatus(t, await(t, result, "ServeCall did not return: the stream was not cut"), codes.Unauthenticated, ReasonTokenExpired)
}

// A message that a stream's receive returns after the token expired (the
// receive was blocked across the cut) is refused by Received, as grpc-go's
// stream refuses it: an adapter never hands it to the handler.
func TestServeCall_MessageReceivedAfterExpiryIsRefused(t *testing.T) {
	e, clock, tok := expiryEnv(t)
	result := make(chan error, 1)
	received := make(chan error, 1)
	fire := make(chan struct{})
	go func() {
		result <- e.auth.ServeCall(adapterContext(bearer(tok)), "/authtest.v1.TestService/BidiStream", true, nil, func(ctx context.Context, g *Guard) error {
			if err := g.Received(&authtestv1.BidiStreamRequest{}); err != nil {
				t.Errorf("a message before the expiry was refused: %v", err)
			}
			fire <- struct{}{}
			<-fire // the token expired while the receive waited
			received <- g.Received(&authtestv1.BidiStreamRequest{})
			return nil
		})
	}()
	await(t, fire, "serve did not receive")
	clock.expire(clock.next(t))
	fire <- struct{}{}
	checkStatus(t, await(t, received, "the receive did not return"), codes.Unauthenticated, ReasonTokenExpired)
	checkStatus(t, await(t, result, "ServeCall did not return: the stream was not cut"), codes.Unauthenticated, ReasonTokenExpired)
}

// ServeCall ignores req for a streaming call, as documented: a stream's
// condition sees only the messages passed to Guard.Received, so a value
// the adapter passes anyway is neither evaluated nor refused as the stream
// opens.
func TestServeCall_StreamIgnoresReq(t *testing.T) {
	for name, req := range map[string]any{"not a message": "first", "a message": &authtestv1.BidiStreamRequest{}} {
		t.Run(name, func(t *testing.T) {
			e, _, tok, _, evals := firstOnlyEnv(t)
			err := e.auth.ServeCall(adapterContext(bearer(tok)), "/authtest.v1.TestService/BidiStream", true, req, func(_ context.Context, g *Guard) error {
				return g.Received(&authtestv1.BidiStreamRequest{}) // the first message passes
			})
			if err != nil || evals.Load() != 1 {
				t.Fatalf("ServeCall = %v with %d evaluations; want nil, the condition evaluated on the received message only", err, evals.Load())
			}
		})
	}
}
