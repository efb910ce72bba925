package grpcauth

import (
	"testing"
	"testing/synctest"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// listingHung is a hungService's resolver that lists its files, as a
// *protoregistry.Files does: New reads the options of every service it
// lists (readOptionsFirst), building each one's methods.
type listingHung struct{ *hungService }

func (r listingHung) RangeFiles(f func(protoreflect.FileDescriptor) bool) {
	f(oneServiceFile{r.ServiceDescriptor.ParentFile(), r.hungService})
}

// New is not bounded, as Config.DescriptorTimeout and docs/interceptors.md
// say: building the methods of every service that a Descriptors listing
// its files holds, it waits for another goroutine's build of the same
// service under way (here, another Authenticator's lookup, hung in the
// resolver's Methods) for as long as that build takes, and returns once
// it ends. This pins the case the docs name.
func TestNew_WaitsForAnotherGoroutinesBuildOfTheSameServiceWithoutBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newHungService(t, hungMethods)
		first := mustNew(t, Config{Descriptors: s, Logger: discardLogger()})
		go first.lookup(s.method())
		synctest.Wait() // the lookup is in s.Methods
		built := make(chan error, 1)
		go func() {
			_, err := New(Config{Verifier: staticVerifier{claims: mustClaims(t)}, Descriptors: listingHung{s}, Logger: discardLogger()})
			built <- err
		}()
		synctest.Wait()
		select {
		case err := <-built:
			t.Fatalf("New returned (%v) while another build of the service was under way; want it to wait", err)
		default:
		}
		if n := s.entered.Load(); n != 1 {
			t.Errorf("Methods entered %d times, want once: New waits for the build under way, starting none", n)
		}
		s.unhang()
		if err := <-built; err != nil {
			t.Errorf("New: %v", err)
		}
	})
}
