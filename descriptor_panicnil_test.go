package grpcauth

import (
	"runtime"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcauth/grpcauth/internal/panictext"
)

// endingResolver is a Config.Descriptors whose FindDescriptorByName, which
// no recover of grpcauth's guards, panics with nil, or with goexit ends
// its goroutine (runtime.Goexit).
type endingResolver struct{ goexit bool }

func (r endingResolver) FindDescriptorByName(protoreflect.FullName) (protoreflect.Descriptor, error) {
	if r.goexit {
		runtime.Goexit()
	}
	panic(nil)
}

// howEnded runs f on a goroutine of its own and says how it ended:
// "returned", "panicked" (whatever the value, nil included), or "ended its
// goroutine" (runtime.Goexit).
func howEnded(t *testing.T, what string, f func()) string {
	t.Helper()
	ended := make(chan string, 1)
	go func() {
		caught := false
		defer func() {
			if !caught {
				ended <- "ended its goroutine"
			}
		}()
		_, panicked := panictext.Catch(f)
		caught = true
		if panicked {
			ended <- "panicked"
		} else {
			ended <- "returned"
		}
	}()
	return await(t, ended, what)
}

// Under GODEBUG=panicnil=1 recover sees no value for panic(nil): a
// resolver that panics with nil while Requirement or Check reads the
// descriptors (boundedRead, on a goroutine of its own) still panics in
// the caller, which can recover it, as boundedRead's doc says, rather
// than end the caller's goroutine as a resolver calling runtime.Goexit
// does. Before, boundedRead told the two apart by recover's value, and
// took the panic for a Goexit.
func TestCheckAndRequirement_DescriptorReadPanicNilUnderPanicnilPanicsInCaller(t *testing.T) {
	if !UnderPanicnil(t) {
		return
	}
	const svc = "panicnilread.v1.Svc"
	for _, goexit := range []bool{false, true} {
		want := "panicked"
		if goexit {
			want = "ended its goroutine"
		}
		a := mustNew(t, Config{Descriptors: endingResolver{goexit}, Logger: discardLogger()})
		if got := howEnded(t, "Requirement", func() { _, _ = a.Requirement("/" + svc + "/Get") }); got != want {
			t.Errorf("goexit %v: Requirement %s; want it %s", goexit, got, want)
		}
		srv := fakeServer{svc: grpc.ServiceInfo{Methods: []grpc.MethodInfo{{Name: "Get"}}}}
		if got := howEnded(t, "Check", func() { _ = a.Check(srv) }); got != want {
			t.Errorf("goexit %v: Check %s; want it %s", goexit, got, want)
		}
	}
}
