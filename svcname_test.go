package grpcauth

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// nameless is a service descriptor whose FullName panics (a custom
// resolver's bug): the rest is protobuf-go's.
type nameless struct{ protoreflect.ServiceDescriptor }

func (nameless) FullName() protoreflect.FullName { panic("the resolver's FullName") }

// namelessServices resolves every service in GlobalFiles as a nameless.
type namelessServices struct{}

func (namelessServices) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
		return nameless{sd}, err
	}
	return d, err
}

// A service descriptor whose FullName panics, asked for its name as its
// service option is read, leaves no lock held: the panic leaves the call
// (the server's recovery decides), and the Authenticator's later first
// calls of service-option methods do not wait for good on the lock it
// left.
func TestPlan_ServiceDescriptorWhoseNamePanicsLeavesNoLockHeld(t *testing.T) {
	a := mustNew(t, Config{Descriptors: namelessServices{}})
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		a.lookup(mInherited)
	}()
	if v := <-done; v == nil {
		t.Fatalf("lookup(%s) returned, want the descriptor's panic", mInherited)
	}
	if !a.svcMu.TryLock() {
		t.Fatalf("after the panic of a descriptor's FullName, the service option lock is held: every later first call of a method ruled by its service's option waits for good")
	}
	a.svcMu.Unlock()
}
