package grpcauth

import (
	"context"

	"github.com/grpcauth/grpcauth/verifier"
)

type claimsKey struct{}

// ClaimsFromContext returns the verified claims of the caller's access token
// and true, in any handler behind the interceptors, unary or streaming. It
// returns the zero Claims and false when the call carried no token (only
// possible on a public method) or did not pass through the interceptors.
//
// verifier.Claims is an immutable value: a handler may keep, copy or
// replace the one it is given, and nothing it does changes the claims,
// and so the decisions, of any other call, even one with the same cached
// token.
func ClaimsFromContext(ctx context.Context) (verifier.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(verifier.Claims)
	return c, ok && !c.IsZero()
}

// ContextWithClaims returns a copy of ctx carrying c, as the interceptors
// do after verifying a token. It is for testing handlers without a server
// (build c with verifier.NewClaims); production code never needs it.
// Claims put in a context before the interceptors do not reach the
// handler: it sees the call's own, or none on a public method called
// without a token.
func ContextWithClaims(ctx context.Context, c verifier.Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}
