package grpcauth

import (
	"testing"
	"testing/synctest"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// While a read of a service's descriptors hangs, every method of the
// service whose rule is not compiled yet fails closed: Requirement times
// out for each (ErrDescriptorTimeout, Denied), even a method that
// Config.Rules names, whose rule (it ranks first) the hung read could
// not change: Requirement reads a service one at a time (boundedRead),
// and the method's plan is built from the service's descriptor too.
// Once the resolver answers, each gets its rule. docs/proto-options.md
// says so.
func TestRequirement_EveryUncompiledMethodOfAHungServiceTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newHungService(t, hungOptions)
		named := "/" + string(s.name) + "/AllOf"
		a := mustNew(t, Config{
			Verifier:    staticVerifier{claims: mustClaims(t, "test:read")},
			Descriptors: s,
			Rules:       map[string]*grpcauthv1.Rule{named: {Scopes: []string{"cfg:named"}}},
		})
		requirementTimesOut(t, a, s.method())
		requirementTimesOut(t, a, named)
		s.unhang()
		synctest.Wait()
		if req, err := a.Requirement(named); err != nil || req.Denied || len(req.Scopes) != 1 || req.Scopes[0] != "cfg:named" {
			t.Errorf("Requirement(%s), the resolver answering = %+v, %v; want Config.Rules' cfg:named", named, req, err)
		}
	})
}
