package otelmetrics_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/internal/alloctest"
)

// TestMetrics_MethodAttributeDoesNotPinTheCallersPath records a decision
// whose method name is a substring of a 512 KiB string, as
// grpc.Server.ServeHTTP names a call's method: by the request's URL.Path,
// which shares its backing array with the :path the caller sent, query
// included. The attribute set built for it is kept for good (in Metrics
// and in the SDK's aggregation), so it must hold a copy of the name, not
// the caller's path.
func TestMetrics_MethodAttributeDoesNotPinTheCallersPath(t *testing.T) {
	m, reader := newManual(t)
	m.OnDecision(t.Context(), grpcauth.Decision{Method: "/a.B/Warm", Allowed: true, Latency: time.Microsecond})
	const queryLen = 512 << 10
	before := alloctest.LiveHeap()
	path := mInherited + "?q=" + strings.Repeat("a", queryLen)
	m.OnDecision(t.Context(), grpcauth.Decision{Method: path[:len(mInherited)], Allowed: true, Latency: time.Microsecond})
	live := int64(alloctest.LiveHeap()) - int64(before)
	runtime.KeepAlive(m)
	runtime.KeepAlive(reader)
	t.Logf("live heap grew by %d bytes", live)
	if live > queryLen/2 {
		t.Fatalf("a decision on a method named by a substring of a path with a %d-byte query left %d bytes alive: its attribute set pins the caller's path", queryLen, live)
	}
}
