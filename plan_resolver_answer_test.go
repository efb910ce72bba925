package grpcauth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// answerResolver answers every name with d and no error: a resolver that
// breaks the DescriptorResolver contract (nil and nil for a name it does
// not know, or a typed nil of its own descriptor type).
type answerResolver struct{ d protoreflect.Descriptor }

func (r answerResolver) FindDescriptorByName(protoreflect.FullName) (protoreflect.Descriptor, error) {
	return r.d, nil
}

// nilService is a resolver's own service descriptor type; a nil
// *nilService panics on any of its methods.
type nilService struct{ protoreflect.ServiceDescriptor }

// noAnswers are the answers of neither a descriptor nor an error.
var noAnswers = []struct {
	name string
	d    protoreflect.Descriptor
}{
	{"nil", nil},
	{"typed nil service", (*nilService)(nil)},
}

// A resolver that returns neither a descriptor nor an error (nil, or a
// typed nil of its own service type) has not said the service has no
// descriptor (only an error wrapping protoregistry.NotFound says that):
// AllOf, whose option asks for scopes, is denied rather than given the
// permissive DefaultRule, and the lookup does not panic.
func TestResolver_NoDescriptorAndNoErrorDeniesRatherThanFallingBack(t *testing.T) {
	for _, tc := range noAnswers {
		t.Run(tc.name, func(t *testing.T) {
			a := mustNew(t, Config{Descriptors: answerResolver{tc.d}, DefaultRule: &grpcauthv1.Rule{}})
			var req Requirement
			var err error
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("Requirement panicked: %v", v)
					}
				}()
				req, err = a.Requirement(mAllOf)
			}()
			if !req.Denied || req.Source == SourceDefault || !errors.Is(err, errResolverFailed) {
				t.Errorf("Requirement = %+v, %v; want denied, with an error wrapping errResolverFailed, not the DefaultRule", req, err)
			}
			if n := a.planLen(); n != 0 {
				t.Errorf("%d plans kept for a resolver that did not answer, want 0", n)
			}
			// The call is refused as unavailable (the client retries),
			// with or without a token.
			for _, ctx := range []context.Context{t.Context(), bearerCtx("tok")} {
				err := a.ServeCall(ctx, mAllOf, false, &authtestv1.AllOfRequest{}, func(context.Context, *Guard) error {
					t.Error("the handler ran")
					return nil
				})
				checkStatus(t, err, codes.Unavailable, ReasonRulesUnavailable)
			}
		})
	}
}

// New does not panic on a resolver that answers a Config name's parent
// with a typed nil service descriptor, and refuses a Config name the
// resolver answers with neither a descriptor nor an error, saying why.
func TestNew_ResolverAnsweringNoDescriptorAndNoErrorIsAnErrorNotAPanic(t *testing.T) {
	for _, tc := range noAnswers {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("New panicked: %v", v)
					}
				}()
				_, err = New(Config{Verifier: staticVerifier{claims: mustClaims(t)}, Logger: discardLogger(), Descriptors: answerResolver{tc.d}, Public: []string{"authtest.v1.TestService"}})
			}()
			if err == nil || !strings.Contains(err.Error(), "neither a descriptor nor an error") {
				t.Errorf("New = %v; want an error saying the resolver returned neither a descriptor nor an error", err)
			}
		})
	}
}
