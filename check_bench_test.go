package grpcauth

import (
	"testing"

	"google.golang.org/grpc"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// BenchmarkCheck measures Check of a server registering authtest's
// TestService, whose methods' rules are compiled already (the Check
// before the timed ones compiled and published them), so it counts what
// Check costs per method beyond building a plan: its allocations are
// reported per method too (allocs/method).
//
//	go test -run '^$' -bench BenchmarkCheck -benchmem .
func BenchmarkCheck(b *testing.B) {
	sd := authtestv1.File_authtest_v1_authtest_proto.Services().Get(0)
	var info grpc.ServiceInfo
	for i := range sd.Methods().Len() {
		info.Methods = append(info.Methods, grpc.MethodInfo{Name: string(sd.Methods().Get(i).Name())})
	}
	srv := fakeServer{string(sd.FullName()): info}
	a := mustNew(b, Config{Verifier: staticVerifier{claims: mustClaims(b, "test:read")}, Logger: discardLogger()})
	_ = a.Check(srv) // compiles and publishes the plans; its problems (if any) are the same each time
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Check(srv)
	}
	allocs := testing.AllocsPerRun(100, func() { _ = a.Check(srv) })
	b.ReportMetric(allocs/float64(len(info.Methods)), "allocs/method")
}
