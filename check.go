package grpcauth

import (
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

// MethodProblem is one method that Check found would be denied to every
// caller.
type MethodProblem struct {
	// Method is the full method name, "/pkg.Service/Method".
	Method string
	// Err wraps ErrNoRule or ErrInvalidRule and says why.
	Err error
}

// CheckError lists every registered method that has no usable rule. It
// unwraps to each problem's error, so errors.Is(err, ErrNoRule) and
// errors.Is(err, ErrInvalidRule) work on it.
type CheckError struct {
	// Problems, sorted by method name.
	Problems []MethodProblem
}

// Error lists the methods and their problems.
func (e *CheckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "grpcauth: %d registered method(s) would be denied to every caller:", len(e.Problems))
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
// one, or nil when every method is covered. Call it at start-up and refuse
// to serve on error: a gap then shows before any caller meets it. Check
// also warms the rule cache, so no call pays for compilation.
func (a *Authenticator) Check(srv ServiceInfoProvider) error {
	plans := make(map[string]*methodPlan)
	var problems []MethodProblem
	for svc, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			method := "/" + svc + "/" + m.Name
			p, _ := a.buildPlan(method)
			p.unknown = false // registered on the server: a real method
			plans[method] = p
			if p.rule == nil {
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
