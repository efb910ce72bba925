package grpcauth

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

func registered(t *testing.T) *grpc.Server {
	t.Helper()
	srv := grpc.NewServer()
	svc := &testService{}
	authtestv1.RegisterTestServiceServer(srv, svc)
	authtestv1.RegisterUnannotatedServiceServer(srv, svc)
	t.Cleanup(srv.Stop)
	return srv
}

func TestCheck_ReportsUnannotatedMethod(t *testing.T) {
	a := mustNew(t, Config{})
	err := a.Check(registered(t))
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Check = %v, want a *CheckError", err)
	}
	if got, want := ce.Methods(), []string{mUnannotated}; !slices.Equal(got, want) {
		t.Errorf("Methods = %v, want %v", got, want)
	}
	if !errors.Is(err, ErrNoRule) || errors.Is(err, ErrInvalidRule) {
		t.Errorf("Check error %v: want ErrNoRule only", err)
	}
	if !strings.Contains(err.Error(), mUnannotated) {
		t.Errorf("message %q does not name the method", err)
	}
	// Check compiled and published every registered method.
	if n := len(*a.plan.Load()); n != 9 {
		t.Errorf("plan holds %d methods after Check, want 9", n)
	}
}

func TestCheck_PassesWhenEveryMethodHasARule(t *testing.T) {
	a := mustNew(t, Config{Public: []string{"authtest.v1.UnannotatedService"}})
	if err := a.Check(registered(t)); err != nil {
		t.Fatalf("Check = %v, want nil", err)
	}
}

func TestCheck_ReportsInvalidRule(t *testing.T) {
	a := mustNew(t, Config{Descriptors: badFiles(t)})
	err := a.Check(fakeServer{"bad.v1.BadService": {Methods: []grpc.MethodInfo{{Name: "Contradictory"}}}})
	if !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("Check = %v, want ErrInvalidRule", err)
	}
	if !strings.Contains(err.Error(), "/bad.v1.BadService/Contradictory") {
		t.Errorf("message %q does not name the method", err)
	}
}

type fakeServer map[string]grpc.ServiceInfo

func (f fakeServer) GetServiceInfo() map[string]grpc.ServiceInfo { return f }

// TestCheck_ReportsStreamGRPCRunsWithoutInterceptors registers
// authtest.v1.TestService by hand, as a dynamic server might, with its
// ServerStream method as a grpc.StreamDesc without ClientStreams or
// ServerStreams. grpc-go then calls neither interceptor for it, so a call
// without a token reaches the handler: Check must say so.
func TestCheck_ReportsStreamGRPCRunsWithoutInterceptors(t *testing.T) {
	const mServerStream = "/authtest.v1.TestService/ServerStream"
	a := mustNew(t, Config{})
	reached := make(chan string, 2)
	handler := recordingHandler(reached)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "authtest.v1.TestService",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{
			{StreamName: "ServerStream", Handler: handler}, // flags forgotten
			{StreamName: "BidiStream", Handler: handler, ClientStreams: true, ServerStreams: true},
		},
	}, struct{}{})

	err := a.Check(srv)
	var ce *CheckError
	if !errors.As(err, &ce) || !errors.Is(err, ErrNotIntercepted) {
		t.Fatalf("Check = %v, want a *CheckError with ErrNotIntercepted", err)
	}
	if got, want := ce.Methods(), []string{mServerStream}; !slices.Equal(got, want) {
		t.Errorf("Methods = %v, want %v", got, want)
	}
	if !strings.Contains(err.Error(), "ClientStreams") {
		t.Errorf("message %q does not name the fix", err)
	}

	// Why: the call, without a token, reaches the handler unchecked.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, srv, lis)
	conn := dial(t, lis.Addr().String(), insecure.NewCredentials())
	err = conn.Invoke(t.Context(), mServerStream, &authtestv1.ServerStreamRequest{}, &authtestv1.ServerStreamResponse{})
	if err != nil || len(reached) != 1 {
		t.Errorf("call without a token: %v, handler reached %d times; want it reached (grpc-go v1.85 behaviour; if grpc-go now intercepts such a desc, ErrNotIntercepted can go)", err, len(reached))
	}
	// The bidi stream, registered with its flags, is checked.
	s, err := conn.NewStream(t.Context(), &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/authtest.v1.TestService/BidiStream")
	if err == nil {
		err = s.RecvMsg(&authtestv1.BidiStreamResponse{})
	}
	checkStatus(t, err, codes.Unauthenticated, ReasonCredentialsMissing)
}
