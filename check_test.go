package grpcauth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"

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
