package grpcauth

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// overlapResolver describes the gated service g and the generated
// service fresh, each under its own name.
type overlapResolver struct {
	g     *gatedService
	fresh protoreflect.ServiceDescriptor
}

func (r overlapResolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if name == r.fresh.FullName() {
		return r.fresh, nil
	}
	return r.g.FindDescriptorByName(name)
}

// gatedFiles is a resolver of g alone that lists its file, as
// *protoregistry.Files does, so that New reads g's options (through g).
type gatedFiles struct{ *gatedService }

func (r gatedFiles) RangeFiles(f func(protoreflect.FileDescriptor) bool) {
	f(oneServiceFile{r.ParentFile(), r.gatedService})
}

// oneServiceFile is a file declaring s alone (a resolver's own
// descriptor, listed by a resolver that lists its files).
type oneServiceFile struct {
	protoreflect.FileDescriptor
	s protoreflect.ServiceDescriptor
}

func (f oneServiceFile) Services() protoreflect.ServiceDescriptors {
	return oneServiceList{f.FileDescriptor.Services(), f.s}
}

// oneServiceList lists s alone.
type oneServiceList struct {
	protoreflect.ServiceDescriptors // the file's, for what is not overridden
	s                               protoreflect.ServiceDescriptor
}

func (oneServiceList) Len() int                                 { return 1 }
func (l oneServiceList) Get(int) protoreflect.ServiceDescriptor { return l.s }

// unreadService is the generated service Svc of a new package named after
// base, whose method Get has the (grpcauth.v1.method) option test:read:
// options no read has got before.
func unreadService(t *testing.T, base string) protoreflect.ServiceDescriptor {
	t.Helper()
	pkg := uniquePkg(base)
	opts := &descriptorpb.MethodOptions{}
	proto.SetExtension(opts, grpcauthv1.E_Method, &grpcauthv1.Rule{Scopes: []string{"test:read"}})
	return generatedService(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"),
		Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", opts)}})
}

// overlappingReads start a read of the options of g that stalls in g's
// Options (until g.release is closed), as another call's first read, an
// Authenticator's New or Check does; each returns the error of what it
// started, once it ends.
var overlappingReads = []struct {
	name  string
	start func(t *testing.T, g *gatedService) (done <-chan error)
}{
	{"another call's first read", func(t *testing.T, g *gatedService) <-chan error {
		a := mustNew(t, Config{Descriptors: g, Verifier: staticVerifier{claims: mustClaims(t, "test:read")}})
		return goErr(func() error { _, err := callUnary(a, bearerCtx("tok"), g.method()); return err })
	}},
	{"another Authenticator's New", func(t *testing.T, g *gatedService) <-chan error {
		return goErr(func() error {
			_, err := New(Config{Descriptors: gatedFiles{g}, Verifier: staticVerifier{}, Logger: discardLogger()})
			return err
		})
	}},
	{"Check", func(t *testing.T, g *gatedService) <-chan error {
		a := mustNew(t, Config{Descriptors: g})
		srv := fakeServer{string(g.name): grpc.ServiceInfo{Methods: []grpc.MethodInfo{{Name: "Inherited"}}}}
		return goErr(func() error { return a.Check(srv) })
	}},
}

// goErr runs f on a goroutine and returns a channel of its error.
func goErr(f func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	return done
}

// overlapped returns an Authenticator whose resolver describes a gated
// service g and a service of a new package named after base, whose
// options no read has got, with the full name of that service's method
// Get (its option: test:read), and release, which closes g.release once
// (also as the test ends, so that no goroutine is left blocked). Call it
// in the synctest bubble of its test.
func overlapped(t *testing.T, base string) (a *Authenticator, method string, g *gatedService, release func()) {
	t.Helper()
	g = newGatedService(t, protoreflect.FullName("gated.v1."+base), false)
	fresh := unreadService(t, base)
	a = mustNew(t, Config{Descriptors: overlapResolver{g, fresh}, Verifier: staticVerifier{claims: mustClaims(t, "test:read")}})
	release = sync.OnceFunc(func() { close(g.release) })
	t.Cleanup(release)
	return a, "/" + string(fresh.FullName()) + "/Get", g, release
}

// A method's first call whose read of its options overlaps another read
// of options (another call's first read, an Authenticator's New, Check),
// which succeeds, gets the method's rule: it waits for the read under way
// (its options, never read before, might be the partial options of a
// failed decoding that read has not yet recorded), and then reads its
// own options as complete. Before, it was refused with codes.Unavailable
// (RULES_UNAVAILABLE) once, though nothing failed.
func TestCall_FirstCallOverlappingAnotherReadOfOptionsGetsItsRule(t *testing.T) {
	for _, tt := range overlappingReads {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, method, g, release := overlapped(t, "overlap")
				other := tt.start(t, g)
				synctest.Wait() // the other read is in g's Options
				call := goErr(func() error { _, err := callUnary(a, bearerCtx("tok"), method); return err })
				synctest.Wait() // the call has read its options, and waits
				release()
				if err := <-call; err != nil {
					t.Errorf("the call that overlapped %s: %v; want it admitted by its method option", tt.name, err)
				}
				if err := <-other; err != nil {
					t.Errorf("%s, released: %v", tt.name, err)
				}
				if p, ok := a.published(method); !ok || p.source != SourceMethodOption {
					t.Errorf("plan kept for %s: %+v, %v; want the method option's", method, p, ok)
				}
			})
		})
	}
}

// A call that waits for another read of options (see above) stops
// waiting when its own context ends, and is refused as any call whose
// context ends during authentication is (codes.Canceled), rather than
// waiting as long as the resolver's descriptor does; nothing is kept, and
// the method's next call, with no read under way, gets its rule.
func TestCall_FirstCallWaitingForAnotherReadOfOptionsReturnsWhenItsContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, method, g, release := overlapped(t, "overlapends")
		other := overlappingReads[0].start(t, g)
		synctest.Wait()
		ctx, cancel := context.WithCancel(bearerCtx("tok"))
		defer cancel()
		call := goErr(func() error { _, err := callUnary(a, ctx, method); return err })
		synctest.Wait() // the call waits for the other read
		cancel()
		checkStatus(t, <-call, codes.Canceled, ReasonCanceled)
		if _, ok := a.published(method); ok {
			t.Error("the plan of the call whose context ended was kept")
		}

		release()
		if err := <-other; err != nil {
			t.Errorf("the other read, released: %v", err)
		}
		if _, err := callUnary(a, bearerCtx("tok"), method); err != nil {
			t.Errorf("the method's next call: %v; want it admitted by its method option", err)
		}
	})
}
