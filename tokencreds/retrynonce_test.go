package tokencreds_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/tokencreds"
)

// A unary call refused for its nonce is retried with the nonce its own
// refusal demanded, not with the server's latest in the credentials'
// map, which another call's refusal may have replaced in between (the
// last answer read wins there). The server hands out a new nonce with
// every refusal and accepts, from each caller, only the one it demanded
// of that caller. Caller a's retry is held, its refusal's nonce already
// learned, until caller b's refusal has been learned too: before, a's
// retry carried b's nonce, and a failed Unauthenticated.
func TestDPoP_UnaryRetryCarriesTheNonceOfItsOwnRefusal(t *testing.T) {
	var mu sync.Mutex
	issued := 0
	demanded := map[string]string{} // by caller
	answer := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		caller, proofs := md.Get("x-caller"), md.Get("dpop")
		if len(caller) != 1 || len(proofs) != 1 {
			return status.Errorf(codes.InvalidArgument, "%d callers and %d proofs, want 1 each", len(caller), len(proofs))
		}
		mu.Lock()
		defer mu.Unlock()
		if want, ok := demanded[caller[0]]; ok && nonceOfProof(proofs[0]) == want {
			return nil
		}
		issued++
		demanded[caller[0]] = fmt.Sprintf("n-%d", issued)
		_ = grpc.SetTrailer(ctx, metadata.Pairs("dpop-nonce", demanded[caller[0]], "www-authenticate", `DPoP error="use_dpop_nonce"`))
		return status.Error(codes.Unauthenticated, "use the nonce")
	}
	// hold runs under the nonce interceptor: it holds a's retry (its
	// second attempt, made once a's refusal's nonce is learned) until b
	// retries, b's refusal's nonce learned.
	aRetries, bRetries := make(chan struct{}), make(chan struct{})
	attempts := map[string]int{}
	hold := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		md, _ := metadata.FromOutgoingContext(ctx)
		caller := md.Get("x-caller")[0]
		mu.Lock()
		attempts[caller]++
		n := attempts[caller]
		mu.Unlock()
		if n == 2 {
			switch caller {
			case "a":
				close(aRetries)
				<-bRetries
			case "b":
				close(bRetries)
			}
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	creds := tokencreds.NewDPoP(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at", TokenType: "DPoP"}), newSigner(t))
	conn, calls := serveAnswering(t, answer, grpc.WithPerRPCCredentials(creds), grpc.WithChainUnaryInterceptor(creds.UnaryClientInterceptor(), hold))
	client := authtestv1.NewTestServiceClient(conn)
	call := func(caller string) error {
		ctx := metadata.AppendToOutgoingContext(t.Context(), "x-caller", caller)
		_, err := client.Authenticated(ctx, &authtestv1.AuthenticatedRequest{})
		return err
	}
	aDone := make(chan error, 1)
	go func() { aDone <- call("a") }()
	<-aRetries
	if err := call("b"); err != nil {
		t.Errorf("b: %v, want success on its retry", err)
	}
	if err := <-aDone; err != nil {
		t.Errorf("a: %v, want success on its retry with its refusal's nonce n-1", err)
	}
	if n := len(calls()); n != 4 {
		t.Errorf("the server got %d calls, want 4 (each caller refused once, then retried)", n)
	}
}

// Credentials installed on the connection (grpc.WithPerRPCCredentials)
// and given per call (grpc.PerRPCCredentials) both write the call's
// metadata: grpc-go applies both, the connection's first, and the call
// goes out with two authorization values, which grpcauth refuses. Neither
// can see the other (grpc-go hands both the same context), so the
// credentials cannot prevent it: the documentation says to use one or the
// other. This pins the grpc-go behaviour that documentation describes.
func TestCredentials_OnTheConnectionAndPerCallSendTwoAuthorizationValues(t *testing.T) {
	onConn := tokencreds.New(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "conn"}))
	perCall := tokencreds.New(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "call"}))
	conn, calls := serveRecording(t, grpc.WithPerRPCCredentials(onConn))
	if _, err := authtestv1.NewTestServiceClient(conn).Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}, grpc.PerRPCCredentials(perCall)); err != nil {
		t.Fatal(err)
	}
	got := calls()[0].Get("authorization")
	if want := []string{"Bearer conn", "Bearer call"}; !slices.Equal(got, want) {
		t.Errorf("authorization values %q, want %q", got, want)
	}
}

// A refusal that asks for a nonce (use_dpop_nonce) but sends none is not
// retried, as UnaryClientInterceptor says (it retries with the new
// dpop-nonce the refusal carries): the call reaches the server once, and
// so does the next, whose proof carries no nonce either.
func TestDPoP_UnaryRefusalAskingForANonceWithoutOneIsNotRetried(t *testing.T) {
	client, calls := serveNonces(t, func(ctx context.Context) error {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("www-authenticate", `DPoP error="use_dpop_nonce"`))
		return status.Error(codes.Unauthenticated, "use a nonce")
	})
	for i := range 2 {
		if _, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("call %d: err = %v, want Unauthenticated", i, err)
		}
		if n := len(calls()); n != i+1 {
			t.Fatalf("call %d: the server got %d calls in all, want %d", i, n, i+1)
		}
		if got := proofNonce(t, calls()[i]); got != "" {
			t.Errorf("call %d: proof nonce %q, want none", i, got)
		}
	}
}
