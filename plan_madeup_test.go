package grpcauth

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// A resolver that describes any name a caller sends (renamedNames: the
// generated authtest service under whatever name it is asked about, its
// methods and options intact) makes every such name a declared method,
// reachable through grpc.UnknownServiceHandler. A call of one under a
// service name of 64 KiB (gRPC admits a :path of 16 MiB) gets its rule
// (the service option's test:read) and goes through, but neither its
// plan nor its service's option read is kept under that name, and its
// decision is reported as about an unknown method, so that its record
// holds the name clipped. Before, each such call kept the whole name
// twice for good (its plan, and its service's read), and logged it
// whole.
func TestCall_LongServiceNameAResolverMakesUpIsNotKept(t *testing.T) {
	reached := make(chan string, 1)
	decisions := make(chan Decision, 1)
	a := mustNew(t, Config{
		Verifier:    staticVerifier{claims: mustClaims(t, "test:read")},
		Descriptors: renamedNames{},
		Logger:      discardLogger(),
		OnDecision:  func(_ context.Context, d Decision) { decisions <- d },
	})
	_, addr := serve(t, &testService{}, grpc.UnknownServiceHandler(recordingHandler(reached)),
		grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
	conn := dial(t, addr, insecure.NewCredentials())
	for i := range 3 {
		method := fmt.Sprintf("/made.up%d.%s.Svc/Inherited", i, strings.Repeat("x", 64<<10))
		if err := conn.Invoke(withAuth(t.Context(), bearer("tok")), method, &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
			t.Fatalf("call %d: %v, want the service option's rule to admit it", i, err)
		}
		if m, _ := awaitOK(t, reached, "the call reaching its handler"); m != method {
			t.Fatalf("call %d reached its handler as a method of %d bytes, want %d", i, len(m), len(method))
		}
		d, _ := awaitOK(t, decisions, "the call's decision")
		if d.Source != SourceServiceOption || !d.UnknownMethod {
			t.Errorf("call %d: source %v, unknown method %v; want %v, reported as unknown", i, d.Source, d.UnknownMethod, SourceServiceOption)
		}
		if n := len(d.LogValue().String()); n > 4<<10 {
			t.Errorf("call %d: its decision record is %d bytes long, want the method clipped", i, n)
		}
	}
	if n := a.planLen(); n != 0 {
		t.Errorf("%d plans kept under made-up names of 64 KiB, want none", n)
	}
	a.svcMu.Lock()
	defer a.svcMu.Unlock()
	if n := len(a.svcRules); n != 0 {
		t.Errorf("%d service option reads kept under made-up names of 64 KiB, want none", n)
	}
}

// However many short service names callers make up, a resolver that
// describes them all gets at most maxResolverPlans plans and
// maxResolverServices service option reads kept; the calls past the bound
// still get their rule, built for the call. A *protoregistry.Files
// describes no name a caller makes up, and is not bounded.
func TestPlan_ShortServiceNamesAResolverMakesUpAreKeptWithinABound(t *testing.T) {
	a := mustNew(t, Config{Descriptors: renamedNames{}, Logger: discardLogger()})
	for i := range maxResolverPlans + 100 {
		p := a.lookup(fmt.Sprintf("/made.up%d.Svc/Inherited", i))
		if p.rule == nil || p.source != SourceServiceOption || len(p.rule.all) != 1 || p.rule.all[0] != "test:read" {
			t.Fatalf("call %d: source %v, err %v; want the service option's rule", i, p.source, p.err)
		}
	}
	if n := a.planLen(); n > maxResolverPlans {
		t.Errorf("%d plans kept under made-up names, want at most %d", n, maxResolverPlans)
	}
	a.svcMu.Lock()
	defer a.svcMu.Unlock()
	if n := len(a.svcRules); n > maxResolverServices {
		t.Errorf("%d service option reads kept under made-up names, want at most %d", n, maxResolverServices)
	}
}
