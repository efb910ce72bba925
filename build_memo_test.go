package grpcauth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// namedMadeUpService is a service descriptor a resolver makes up for any
// name it is asked about, named so; its methods cannot be built (its
// Methods panics, the resolver's bug). Its file is made up too, of the
// resolver's own type, with the name as its path: none (kept in builds by
// the service's name), one Go cannot compare (kept by path), or a new
// pointer (kept by file).
type namedMadeUpService struct {
	protoreflect.ServiceDescriptor
	name protoreflect.FullName
	file madeUpFile
}

// madeUpFile is the kind of file of a namedMadeUpService.
type madeUpFile int

const (
	noFile madeUpFile = iota
	uncomparableFile
	pointerFile
)

func (k madeUpFile) String() string {
	return [...]string{"no file", "a file Go cannot compare", "a new file pointer"}[k]
}

// namedMadeUpFile is the file of a namedMadeUpService: a type Go cannot
// compare (it holds a slice).
type namedMadeUpFile struct {
	protoreflect.FileDescriptor
	path []string
}

func (f namedMadeUpFile) Path() string { return f.path[0] }

// madeUpFilePointer is the file of a namedMadeUpService, made anew.
type madeUpFilePointer struct {
	protoreflect.FileDescriptor
	path string
}

func (f *madeUpFilePointer) Path() string { return f.path }

func (s namedMadeUpService) FullName() protoreflect.FullName { return s.name }

func (s namedMadeUpService) ParentFile() protoreflect.FileDescriptor {
	path := string(s.name) + ".proto"
	switch s.file {
	case uncomparableFile:
		return namedMadeUpFile{s.ServiceDescriptor.ParentFile(), []string{path}}
	case pointerFile:
		return &madeUpFilePointer{s.ServiceDescriptor.ParentFile(), path}
	}
	return nil
}

func (namedMadeUpService) Methods() protoreflect.MethodDescriptors {
	panic("the resolver's bug")
}

// madeUpNames describes every name as a namedMadeUpService.
type madeUpNames struct{ file madeUpFile }

func (r madeUpNames) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	return namedMadeUpService{authtestv1.File_authtest_v1_authtest_proto.Services().Get(0), name, r.file}, nil
}

// forgetResolverBuilds makes builds forget, when t ends, the failed
// builds of resolvers' own descriptors kept during t within its bound
// (not those kept past it, errLeftLocked), so that tests filling it leave
// room for others.
func forgetResolverBuilds(t *testing.T) { forgetBounded(t, &builds) }

// forgetBounded makes m forget, when t ends, the failures kept during t
// within its bound, so that tests filling it leave room for others.
func forgetBounded[K comparable](t *testing.T, m *attempts[K]) {
	m.mu.Lock()
	before := make(map[K]bool, len(m.errs))
	for k := range m.errs {
		before[k] = true
	}
	m.mu.Unlock()
	t.Cleanup(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		for k := range m.errs {
			if m.bounded == nil {
				return
			}
			if _, bounded := m.bounded(k, m.errs[k]); bounded && !before[k] {
				delete(m.errs, k)
				m.nBounded--
			}
		}
	})
}

// buildsKept returns how many failed builds builds keeps, and the size of
// the longest name it keeps one of a resolver's own descriptors by, within
// its bound.
func buildsKept() (n, longest int) { return failuresKept(&builds) }

// failuresKept returns how many failures m keeps, and the size of the
// longest name it keeps one by within its bound.
func failuresKept[K comparable](m *attempts[K]) (n, longest int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, err := range m.errs {
		n++
		if m.bounded == nil {
			continue
		}
		if size, bounded := m.bounded(k, err); bounded {
			longest = max(longest, size)
		}
	}
	return n, longest
}

// A resolver that describes any name a caller sends (grpc's
// UnknownServiceHandler lets any name reach the interceptor), with
// services whose methods cannot be built, does not let callers grow the
// memory of failed builds: none is kept under a name longer than 256 bytes
// (gRPC admits a :path of 16 MiB), at most maxResolverBuilds are kept
// (by the service's name, the file's path, or a file the resolver made up
// anew on each call), and the denial's error (a Decision's Err, logged)
// names the service clipped. Past the bound a failed build is not remembered: the
// next call builds again, and is denied again, without waiting. Before,
// every made-up name's failure was kept for good, with its whole name, in
// the key and in the error's text.
func TestCall_MadeUpServicesThatCannotBeBuiltDoNotGrowTheBuildMemory(t *testing.T) {
	for _, file := range []madeUpFile{noFile, uncomparableFile, pointerFile} {
		t.Run(file.String(), func(t *testing.T) {
			forgetResolverBuilds(t)
			kept, _ := buildsKept()
			a := mustNew(t, Config{Descriptors: madeUpNames{file}, Logger: discardLogger()})
			deny := func(method string) error {
				t.Helper()
				done := make(chan error, 1)
				go func() { done <- a.lookup(method).err }()
				err := await(t, done, "a call of a made-up service that cannot be built")
				if !errors.Is(err, ErrUnreadableOption) || !strings.Contains(err.Error(), "the resolver's bug") {
					t.Fatalf("%.64s…: err %v, want the build's failure (ErrUnreadableOption)", method, err)
				}
				return err
			}
			for i := range 8 {
				long := fmt.Sprintf("made.up%d.%s", i, strings.Repeat("x", 1<<20))
				for range 2 {
					if err := deny("/" + long + ".Svc/Get"); len(err.Error()) > 4<<10 {
						t.Fatalf("the denial's error is %d bytes long, want the service's name clipped", len(err.Error()))
					}
				}
			}
			if n, longest := buildsKept(); n != kept || longest > maxUnbuiltName {
				t.Errorf("8 made-up names of 1 MiB kept %d failed builds (the longest name kept %d bytes), want none", n-kept, longest)
			}
			for i := range 2 * maxResolverBuilds {
				deny(fmt.Sprintf("/made.up%d.Svc/Get", i))
			}
			if n, _ := buildsKept(); n-kept > maxResolverBuilds {
				t.Errorf("%d made-up names kept %d failed builds, want at most %d", 2*maxResolverBuilds, n-kept, maxResolverBuilds)
			}
			// Past the bound: built again, denied again, at once.
			for range 3 {
				deny(fmt.Sprintf("/made.up%d.Svc/Get", 2*maxResolverBuilds-1))
			}
		})
	}
}

// Past the bound of the failed builds kept of resolvers' own
// descriptors, a build that does not
// return (the resolver's descriptor calls runtime.Goexit) is not
// remembered, and is not left under way either: each later call builds
// again, and ends as the first did, rather than waiting for good on a
// build that is over (a goroutine per call).
func TestCall_BuildThatExitsPastTheBuildMemoryBoundDoesNotBlockLaterCalls(t *testing.T) {
	forgetResolverBuilds(t)
	fillResolverBuilds(t)
	pkg := uniquePkg("exitingpastbound")
	files := unbuildableFile(t, pkg)
	var (
		calls    int
		reported bool
	)
	a := mustNew(t, Config{Descriptors: exitingServices{files, false, &calls, &reported}, Logger: discardLogger()})
	for i := range 3 {
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			_, _ = a.Requirement("/" + pkg + ".Svc/Get")
		}()
		await(t, ended, fmt.Sprintf("call %d of a service whose build exits, past the bound", i+1))
		if err := builds.failed(namedBuild{service: protoreflect.FullName(pkg + ".Svc")}); err != nil {
			t.Fatalf("call %d: the build is kept as %v, want it neither kept past the bound nor left under way", i+1, err)
		}
	}
	if calls != 3 {
		t.Errorf("Methods called %d times, want 3 (built again on each call past the bound)", calls)
	}
}

// Through a real server with grpc.UnknownServiceHandler (a proxy), calls
// of made-up services 1 MiB long, that the resolver describes and whose
// methods cannot be built, are refused with a Decision.Err and a log
// record that hold the name clipped, and leave no failed build kept under
// the name.
func TestCall_LongMadeUpServiceThatCannotBeBuiltIsClippedAndNotKept(t *testing.T) {
	forgetResolverBuilds(t)
	kept, _ := buildsKept()
	var logs bytes.Buffer
	var rec recorder
	a := mustNew(t, Config{Descriptors: madeUpNames{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), OnDecision: rec.record})
	_, addr := serve(t, &testService{}, grpc.UnknownServiceHandler(recordingHandler(make(chan string, 1))),
		grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
	conn := dial(t, addr, insecure.NewCredentials())
	for i := range 3 {
		logs.Reset()
		method := fmt.Sprintf("/made.up%d.%s.Svc/Get", i, strings.Repeat("x", 1<<20))
		err := conn.Invoke(withAuth(t.Context(), bearer("tok")), method, &emptypb.Empty{}, &emptypb.Empty{})
		checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
		if d := rec.last(t); d.Err == nil || !errors.Is(d.Err, ErrUnreadableOption) || len(d.Err.Error()) > 4<<10 {
			t.Fatalf("Decision.Err = %.200v (%d bytes), want the build's failure, the name clipped", d.Err, len(fmt.Sprint(d.Err)))
		}
		if logs.Len() > 4<<10 {
			t.Errorf("the record is %d bytes, want the name clipped", logs.Len())
		}
	}
	if n, longest := buildsKept(); n != kept {
		t.Errorf("3 made-up names of 1 MiB kept %d failed builds (the longest name kept %d bytes), want none", n-kept, longest)
	}
}

// filelessService is a resolver's own service descriptor that wraps one
// protobuf-go built, with no file of its own (kept in builds by the
// service's name): its Methods are the generated service's, and so block
// for good once protobuf-go has failed to build the generated file (its
// lazy build leaves the file's lock held).
type filelessService struct{ protoreflect.ServiceDescriptor }

func (filelessService) ParentFile() protoreflect.FileDescriptor { return nil }

// filelessServices resolves the services of files as filelessService.
type filelessServices struct{ files *protoregistry.Files }

func (r filelessServices) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := r.files.FindDescriptorByName(name)
	if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
		return filelessService{sd}, err
	}
	return d, err
}

// fillResolverBuilds fills builds' bound of the failed builds of
// resolvers' own descriptors, with made-up services.
func fillResolverBuilds(t *testing.T) {
	t.Helper()
	filler := mustNew(t, Config{Descriptors: madeUpNames{}, Logger: discardLogger()})
	for i := 0; ; i++ {
		builds.mu.Lock()
		full := builds.nBounded >= maxResolverBuilds
		builds.mu.Unlock()
		if full {
			return
		}
		_ = filler.lookup(fmt.Sprintf("/filler%d.Svc/Get", i))
	}
}

// A resolver's own service descriptor that wraps a generated one whose file
// protobuf-go fails to build has its failure kept even where a resolver's
// own failure is not (the bound of 256 is full, or the name is over 256
// bytes): building it again would wait for good on the lock protobuf-go's
// failed build left held, one goroutine per call. The service's later
// calls are denied at once, with the first call's error. Before, past the
// bound or under a long name, the second call blocked for good.
func TestCall_WrappedGeneratedFileThatCannotBeBuiltIsKeptPastTheBound(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkg  func() string
		fill bool
	}{
		{"the bound full", func() string { return uniquePkg("wrappedfull") }, true},
		{"a name over 256 bytes", func() string { return uniquePkg("wrappedlong" + strings.Repeat("x", 2*maxUnbuiltName)) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forgetResolverBuilds(t)
			if tc.fill {
				fillResolverBuilds(t)
			}
			pkg := tc.pkg()
			a := mustNew(t, Config{Descriptors: filelessServices{unbuildableFile(t, pkg)}, Logger: discardLogger()})
			var first error
			for i := range 3 {
				done := make(chan error, 1)
				go func() { done <- a.lookup("/" + pkg + ".Svc/Get").err }()
				err := await(t, done, fmt.Sprintf("call %d of a wrapped service whose generated file protobuf-go failed to build", i+1))
				if !errors.Is(err, ErrUnreadableOption) || !strings.Contains(err.Error(), "cannot build") {
					t.Fatalf("call %d: err %.300v, want the build's failure (ErrUnreadableOption)", i+1, err)
				}
				if i == 0 {
					first = err
				} else if err.Error() != first.Error() {
					t.Fatalf("call %d: err %.300v, want the first call's, kept", i+1, err)
				}
			}
		})
	}
}

// renamedService is the generated authtest service, renamed to name, with
// no file: what a resolver that describes any name a caller sends (a
// proxy's) may return. Its methods build.
type renamedService struct {
	protoreflect.ServiceDescriptor
	name protoreflect.FullName
}

func (s renamedService) FullName() protoreflect.FullName       { return s.name }
func (renamedService) ParentFile() protoreflect.FileDescriptor { return nil }

// renamedNames describes every name as a renamedService.
type renamedNames struct{}

func (renamedNames) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	return renamedService{authtestv1.File_authtest_v1_authtest_proto.Services().Get(0), name}, nil
}

// A call of a made-up service 1 MiB long, that the resolver describes, of a
// method the descriptor does not declare, with no Config entry or
// DefaultRule, is denied with an error (a Decision's Err, logged) that
// names the service clipped. Before, the error held the whole name.
func TestCall_UndeclaredMethodOfALongMadeUpServiceNamesItClipped(t *testing.T) {
	a := mustNew(t, Config{Descriptors: renamedNames{}, Logger: discardLogger()})
	err := a.lookup(fmt.Sprintf("/made.up.%s.Svc/NoSuchMethod", strings.Repeat("x", 1<<20))).err
	if !errors.Is(err, ErrNoRule) || !strings.Contains(err.Error(), "declares no method") {
		t.Fatalf("err %.300v, want ErrNoRule for an undeclared method", err)
	}
	if len(err.Error()) > 4<<10 {
		t.Errorf("the denial's error is %d bytes long, want the service's name clipped", len(err.Error()))
	}
}
