package grpcauth

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// stalledResolver resolves only its service, stalled.v1.Svc: a resolver
// whose descriptor's Options does not return until released.
type stalledResolver struct{ sd *stalledOptions }

func (r stalledResolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if name == r.sd.FullName() {
		return r.sd, nil
	}
	return nil, protoregistry.NotFound
}

// A call that waits for another call's read of its service's
// (grpcauth.v1.service) option (concurrent first calls share one read)
// stops waiting when its own context ends, and is refused as any call
// whose context ends during authentication is (codes.Canceled or
// codes.DeadlineExceeded), rather than hanging as long as the resolver's
// descriptor does; the read goes on for the call that started it, and
// the refusal is not kept as the method's rule.
func TestPlan_CallWaitingForAServiceOptionReadReturnsWhenItsContextEnds(t *testing.T) {
	const method = "/stalled.v1.Svc/Inherited" // inherits TestService's option: test:read
	for _, tt := range []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc) // the waiting call's; cancel runs once it waits
		code   codes.Code
		reason string
	}{
		{"canceled", func() (context.Context, context.CancelFunc) { return context.WithCancel(bearerCtx("tok")) },
			codes.Canceled, ReasonCanceled},
		{"deadline passed", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(bearerCtx("tok"), time.Unix(1, 0))
		}, codes.DeadlineExceeded, ReasonDeadlineExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stalled := &stalledOptions{
				ServiceDescriptor: authtestv1.File_authtest_v1_authtest_proto.Services().Get(0),
				entered:           make(chan struct{}), release: make(chan struct{}),
			}
			a := mustNew(t, Config{
				Verifier:    staticVerifier{claims: mustClaims(t, "test:read")},
				Descriptors: stalledResolver{stalled},
			})
			waiting := make(chan struct{}, 1)
			a.svcHook = func(read bool) {
				if !read {
					waiting <- struct{}{}
				}
			}
			reader := make(chan error, 1)
			go func() {
				_, err := callUnary(a, bearerCtx("tok"), method)
				reader <- err
			}()
			<-stalled.entered // the first call reads the option, which stalls

			ctx, cancel := tt.ctx()
			defer cancel()
			waiter := make(chan error, 1)
			go func() {
				_, err := callUnary(a, ctx, method)
				waiter <- err
			}()
			await(t, waiting, "the second call did not wait for the first call's read")
			cancel()
			err := await(t, waiter, "the waiting call did not return when its context ended")
			checkStatus(t, err, tt.code, tt.reason)

			close(stalled.release)
			if err := await(t, reader, "the reading call did not return once released"); err != nil {
				t.Errorf("the reading call, released: %v; want it admitted by the service option", err)
			}
			if _, err := callUnary(a, bearerCtx("tok"), method); err != nil {
				t.Errorf("a later call: %v; want it admitted by the service option, the waiter's refusal not kept", err)
			}
		})
	}
}
