package grpcauth

import (
	"context"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// countingResolver is a flakyResolver that counts the names it is asked
// for.
type countingResolver struct {
	flakyResolver
	asked atomic.Int64
}

func (r *countingResolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	r.asked.Add(1)
	return r.flakyResolver.FindDescriptorByName(name)
}

// keptServiceEnv serves the test services with a countingResolver that
// does not describe them (NotFound) and a Config entry making
// authtest.v1.TestService public, after one call that kept that entry's
// plan for the service.
func keptServiceEnv(t *testing.T) (*env, *countingResolver, context.Context) {
	t.Helper()
	r := new(countingResolver)
	r.set(protoregistry.NotFound)
	e := newEnv(t, withResolver(r, publicService))
	ctx := bounded(t)
	_, err := e.client.Inherited(ctx, &authtestv1.InheritedRequest{})
	checkStatus(t, err, codes.OK, "")
	return e, r, ctx
}

// During an outage of Config.Descriptors, a call of a method of a service
// the resolver did not describe (its methods share the plan kept for the
// service's Config entry) asks the resolver once, as any other call does,
// and is refused as unavailable: the failure is the call's answer, not
// asked for a second time when the call's plan is built.
func TestResolver_OutageAsksOncePerCallOfAServiceRuledByItsConfigEntry(t *testing.T) {
	e, r, ctx := keptServiceEnv(t)
	r.set(errUnreachable)
	for range 3 {
		before := r.asked.Load()
		_, err := e.client.Inherited(ctx, &authtestv1.InheritedRequest{})
		checkStatus(t, err, codes.Unavailable, ReasonRulesUnavailable)
		if n := r.asked.Load() - before; n != 1 {
			t.Fatalf("one call during the outage asked the resolver %d times, want once", n)
		}
	}
}

// A stream of a method of a service the resolver does not describe (its
// Config entry's plan kept for the service) asks the resolver once, as
// it is admitted: the stream's message gate takes the plan it was
// admitted under rather than looking it up, and asking, again.
func TestResolver_StreamOfAServiceRuledByItsConfigEntryAsksOnce(t *testing.T) {
	e, r, ctx := keptServiceEnv(t)
	before := r.asked.Load()
	s, err := e.client.ServerStream(ctx, &authtestv1.ServerStreamRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("Recv = %v", err)
	}
	if n := r.asked.Load() - before; n != 1 {
		t.Errorf("one stream asked the resolver %d times, want once", n)
	}
}
