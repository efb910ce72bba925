package conditiontest_test

import (
	"testing"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/testproto/conditiontest"
)

// TestToken_LeavesTheCallersOptionsAlone: Token adds its WithScopes to
// its own copy of opts, not into the spare capacity of the caller's
// slice, which tests sharing one options slice (parallel subtests, say)
// would otherwise overwrite under each other.
func TestToken_LeavesTheCallersOptionsAlone(t *testing.T) {
	e := conditiontest.New(t, grpcauth.Config{})
	opts := make([]grpcauthtest.MintOption, 1, 2)
	opts[0] = grpcauthtest.WithACR("urn:example:mfa")
	if tok := e.Token(t, nil, []string{"items:read"}, opts...); tok == "" {
		t.Fatal("Token returned no token")
	}
	if spare := opts[:cap(opts)][1]; spare != nil {
		t.Fatal("Token wrote its scope option into the caller's options slice")
	}
}
