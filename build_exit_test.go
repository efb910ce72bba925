package grpcauth

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// exitingService is a made-up service descriptor (no file) whose Methods
// does not return normally: it calls runtime.Goexit (a resolver that ends
// its goroutine, t.FailNow in a test's resolver), or, with panics, panics
// in a way buildFile's recover does not contain (its ParentFile panics
// too, once, right after Methods has, so the recovered panic's report
// panics again).
type exitingService struct {
	protoreflect.ServiceDescriptor
	panics   bool
	methods  *int
	reported *bool
}

func (s exitingService) ParentFile() protoreflect.FileDescriptor {
	if s.panics && *s.methods == 1 && !*s.reported {
		*s.reported = true
		panic("the resolver's ParentFile")
	}
	return nil
}

func (s exitingService) Methods() protoreflect.MethodDescriptors {
	*s.methods++
	if s.panics {
		panic("the resolver's Methods")
	}
	runtime.Goexit()
	return nil
}

// exitingServices resolves every service as an exitingService.
type exitingServices struct {
	files    *protoregistry.Files
	panics   bool
	methods  *int
	reported *bool
}

func (r exitingServices) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := r.files.FindDescriptorByName(name)
	if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
		return exitingService{sd, r.panics, r.methods, r.reported}, err
	}
	return d, err
}

// A build that ends its goroutine (runtime.Goexit) or whose panic escapes
// is not left marked as in progress: the service's next first call is
// denied at once, rather than waiting for good for a build that is over
// (a goroutine per call, for the process's lifetime).
func TestCall_BuildThatExitsAbnormallyDoesNotBlockLaterCalls(t *testing.T) {
	for _, panics := range []bool{false, true} {
		pkg := uniquePkg("exitingbuild")
		files := generatedFiles(t, &descriptorpb.FileDescriptorProto{
			Name: proto.String(pkg + "/x.proto"), Package: proto.String(pkg), Syntax: proto.String("proto3"),
			Service: []*descriptorpb.ServiceDescriptorProto{{Name: proto.String("Svc"), Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", nil)}}},
		})
		var (
			calls    int
			reported bool
		)
		a := mustNew(t, Config{Descriptors: exitingServices{files, panics, &calls, &reported}, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")}})
		method := "/" + pkg + ".Svc/Get"
		first := make(chan struct{})
		go func() {
			defer close(first)
			defer func() { _ = recover() }()
			_, _ = a.Requirement(method)
		}()
		<-first
		if builds.failed(namedBuild{service: protoreflect.FullName(pkg + ".Svc")}) == errAttempting {
			t.Fatalf("panics: %v: after the first call's build ended, %s.Svc is still marked as being built: every later first call of its methods waits for good", panics, pkg)
		}
		second := make(chan error, 1)
		go func() {
			defer func() {
				if v := recover(); v != nil {
					second <- nil
				}
			}()
			_, err := a.Requirement(method)
			second <- err
		}()
		if err := await(t, second, "the second call waited for the first call's build"); err == nil || !strings.Contains(err.Error(), "did not return") {
			t.Errorf("panics: %v: second Requirement = %v, want the build's failure kept", panics, err)
		}
		if calls != 1 {
			t.Errorf("panics: %v: Methods called %d times, want once", panics, calls)
		}
	}
}

// errAttempting is what failed returns for a key whose attempt is under
// way.
var errAttempting = errors.New("attempt under way")

// failed returns the error kept for key, errAttempting while an attempt
// is under way, or nil.
func (t *attempts[K]) failed(key K) error {
	t.running.mu.Lock()
	_, busy := t.running.works[key]
	t.running.mu.Unlock()
	if busy {
		return errAttempting
	}
	return t.kept(key)
}
