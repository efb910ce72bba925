package grpcauth

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"
)

// ServiceInfoProvider lists the services registered on a server.
// *grpc.Server satisfies it.
type ServiceInfoProvider interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}

// ErrNotIntercepted reports a method registered so that grpc-go runs it
// without calling any interceptor, so that no token is checked: its
// descriptor declares a stream, but its grpc.StreamDesc sets neither
// ClientStreams nor ServerStreams. grpc-go (v1.85) serves such a desc as a
// unary method's, which skips the stream interceptors, and being no
// grpc.MethodDesc it runs no unary interceptor either. Generated code
// always sets the flags; a hand-written grpc.ServiceDesc must too.
var ErrNotIntercepted = errors.New("grpcauth: grpc-go runs the method without interceptors")

// MethodProblem is one method that Check found would be denied to every
// caller, or would reach its handler unchecked.
type MethodProblem struct {
	// Method is the full method name, "/pkg.Service/Method".
	Method string
	// Err wraps ErrNoRule, ErrInvalidRule or ErrNotIntercepted and says
	// why.
	Err error
}

// CheckError lists every registered method that has no usable rule, or
// that grpc-go runs without interceptors. It unwraps to each problem's
// error, so errors.Is(err, ErrNoRule), errors.Is(err, ErrInvalidRule) and
// errors.Is(err, ErrNotIntercepted) work on it.
type CheckError struct {
	// Problems, sorted by method name.
	Problems []MethodProblem
}

// Error lists the methods and their problems.
func (e *CheckError) Error() string {
	var b strings.Builder
	what := "would be denied to every caller"
	if errors.Is(e, ErrNotIntercepted) {
		what += ", or run unchecked"
	}
	fmt.Fprintf(&b, "grpcauth: %d registered method(s) %s:", len(e.Problems), what)
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %v", p.Method, p.Err)
	}
	return b.String()
}

// Unwrap returns the problems' errors.
func (e *CheckError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p.Err
	}
	return errs
}

// Methods returns the full names of the methods with problems.
func (e *CheckError) Methods() []string {
	ms := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		ms[i] = p.Method
	}
	return ms
}

// Check compiles the rule of every method registered on srv (a
// *grpc.Server, after the services are registered and before Serve) and
// returns a *CheckError listing each method that has no rule or an invalid
// one, or that grpc-go would run without interceptors (ErrNotIntercepted:
// a stream registered with neither ClientStreams nor ServerStreams, found
// by its descriptor), or nil when every method is covered. Call it at
// start-up and refuse to serve on error: a gap then shows before any
// caller meets it. Check also warms the rule cache, so no call pays for
// compilation.
func (a *Authenticator) Check(srv ServiceInfoProvider) error {
	plans := make(map[string]*methodPlan)
	var problems []MethodProblem
	for svc, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			method := "/" + svc + "/" + m.Name
			p, _ := a.buildPlan(method)
			p.unknown = false // registered on the server: a real method
			plans[method] = p
			if err := a.unintercepted(method, m); err != nil {
				problems = append(problems, MethodProblem{Method: method, Err: err})
			} else if p.rule == nil {
				problems = append(problems, MethodProblem{Method: method, Err: p.err})
			}
		}
	}
	a.publish(plans)
	if len(problems) == 0 {
		return nil
	}
	slices.SortFunc(problems, func(x, y MethodProblem) int { return strings.Compare(x.Method, y.Method) })
	return &CheckError{Problems: problems}
}

// unintercepted returns an error wrapping ErrNotIntercepted when m, as
// registered, is a stream (by its descriptor) that grpc-go runs without
// interceptors, or nil. A method its descriptor declares unary, or that
// has no descriptor, cannot be told apart from a grpc.MethodDesc here.
func (a *Authenticator) unintercepted(method string, m grpc.MethodInfo) error {
	if m.IsClientStream || m.IsServerStream {
		return nil
	}
	md := a.methodDescriptor(method)
	if md == nil || (!md.IsStreamingClient() && !md.IsStreamingServer()) {
		return nil
	}
	return fmt.Errorf("%w: its descriptor declares a stream, but its grpc.StreamDesc sets neither ClientStreams nor ServerStreams, so grpc-go serves it like a unary method and calls no interceptor (no token is checked); set ClientStreams and ServerStreams as the descriptor declares them", ErrNotIntercepted)
}
