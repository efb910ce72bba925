package grpcauth

import (
	"context"

	"github.com/grpcauth/grpcauth/verifier"
)

type claimsKey struct{}

// ClaimsFromContext returns the verified claims of the caller's access token
// and true, in any handler behind the interceptors, unary or streaming. It
// returns nil, false when the call carried no token (only possible on a
// public method) or did not pass through the interceptors.
func ClaimsFromContext(ctx context.Context) (*verifier.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*verifier.Claims)
	return c, ok && c != nil
}

// ContextWithClaims returns a copy of ctx carrying c, as the interceptors
// do after verifying a token. It is for testing handlers without a server
// (build c with verifier.NewClaims); production code never needs it.
func ContextWithClaims(ctx context.Context, c *verifier.Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}
