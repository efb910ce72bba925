package grpcauth

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// stackedResolver is a Config.Descriptors whose FindDescriptorByName
// panics, in a frame of its own that a stack names.
type stackedResolver struct{}

func (stackedResolver) FindDescriptorByName(protoreflect.FullName) (protoreflect.Descriptor, error) {
	resolverPanicsHere()
	return nil, nil
}

//go:noinline
func resolverPanicsHere() { panic("the resolver's bug") }

// A resolver's panic in Requirement's or Check's read of the descriptors
// (boundedRead, on a goroutine of its own) is raised again in the caller,
// with the same value, and its stack, which the caller's does not show,
// is logged first: the record names the resolver's frame where it
// panicked. Before, the record was not written, and the resolver's frames
// were lost. Only one stack a minute is logged; the others say so.
func TestCheckAndRequirement_ResolversPanicIsRaisedAgainWithItsStackLogged(t *testing.T) {
	var logs bytes.Buffer
	a := mustNew(t, Config{Descriptors: stackedResolver{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	recovered := func(f func()) (v any) {
		defer func() { v = recover() }()
		f()
		return nil
	}
	if v := recovered(func() { _, _ = a.Requirement("/stacked.v1.Svc/Get") }); v != "the resolver's bug" {
		t.Fatalf("Requirement panicked with %v; want the resolver's value", v)
	}
	l := logs.String()
	if !strings.Contains(l, "raised again") || !strings.Contains(l, "resolverPanicsHere") || !strings.Contains(l, "service=stacked.v1.Svc") {
		t.Fatalf("log %q; want the read's panic with its stack, naming the resolver's frame", l)
	}
	logs.Reset()
	srv := fakeServer{"stacked.v1.Svc": grpc.ServiceInfo{Methods: []grpc.MethodInfo{{Name: "Get"}}}}
	if v := recovered(func() { _ = a.Check(srv) }); v != "the resolver's bug" {
		t.Fatalf("Check panicked with %v; want the resolver's value", v)
	}
	if l := logs.String(); !strings.Contains(l, "raised again") || strings.Contains(l, "resolverPanicsHere") || !strings.Contains(l, "omitted") {
		t.Errorf("log %q; want the panic logged, its stack omitted within the minute", l)
	}
}

// A read that Requirement stopped waiting for and that then panics logs
// its panic with the read's stack, which names the resolver's frame.
func TestRequirement_AbandonedReadsPanicIsLoggedWithItsStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := panickingService{newHungService(t, hungOptions)}
		var logs bytes.Buffer
		a := mustNew(t, Config{Verifier: staticVerifier{claims: mustClaims(t, "test:read")}, Descriptors: s, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		requirementTimesOut(t, a, s.method())
		s.unhang()
		synctest.Wait() // the read has panicked, and its goroutine ended
		if l := logs.String(); !strings.Contains(l, "stopped waiting for") || !strings.Contains(l, "panickyOptions.ProtoReflect") {
			t.Errorf("log %q; want the abandoned read's panic with its stack", l)
		}
	})
}
