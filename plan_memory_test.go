package grpcauth

import (
	"runtime"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/internal/alloctest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// TestPlan_MethodNameDoesNotPinTheCallersPath makes the first call of a
// method with a name that is a substring of a 512 KiB string, as
// grpc.Server.ServeHTTP names a call's method: by the request's URL.Path,
// which shares its backing array with the :path the caller sent, query
// included. The plan map keeps a known method's name for the
// Authenticator's lifetime, so it must keep a copy of the name, not the
// caller's path (a caller's first call of each method would otherwise pin
// up to the server's header limit, 1 MiB by default, per method).
func TestPlan_MethodNameDoesNotPinTheCallersPath(t *testing.T) {
	e := newEnv(t)
	if _, err := callUnary(e.auth, loopbackPeer(t.Context()), authtestv1.TestService_AllOf_FullMethodName); err == nil {
		t.Fatal("AllOf without a token was allowed") // a warm-up
	}
	const queryLen = 512 << 10
	before := alloctest.LiveHeap()
	path := authtestv1.TestService_Public_FullMethodName + "?q=" + strings.Repeat("a", queryLen)
	method := path[:len(authtestv1.TestService_Public_FullMethodName)]
	if _, err := callUnary(e.auth, loopbackPeer(t.Context()), method); err != nil {
		t.Fatalf("Public: %v", err)
	}
	if _, ok := e.auth.published(authtestv1.TestService_Public_FullMethodName); !ok {
		t.Fatal("Public's plan was not published")
	}
	live := int64(alloctest.LiveHeap()) - int64(before)
	runtime.KeepAlive(e)
	t.Logf("live heap grew by %d bytes", live)
	if live > queryLen/2 {
		t.Fatalf("the first call of a method named by a substring of a path with a %d-byte query left %d bytes alive: the plan map pins the caller's path", queryLen, live)
	}
}
