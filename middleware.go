package grpcauth

import (
	"context"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
)

// LogFields returns the caller's identity from ctx's claims as fields for
// go-grpc-middleware's logging interceptor: "grpcauth.subject",
// "grpcauth.client_id" and "grpcauth.issuer" (never the token), each
// clipped to 256 bytes and its length as in grpcauth's own record (a
// token may make them tens of KiB, and every record of the call carries
// them), or none for a call without claims. Pass it to logging.WithFieldsFromContext, and
// put the logging interceptor after the Authenticator's in the chain: the
// logging interceptor reads its fields when the call starts, and only
// behind the Authenticator does the context carry claims. See
// docs/middleware.md for the whole chain.
func LogFields(ctx context.Context) logging.Fields {
	c, ok := ClaimsFromContext(ctx)
	if !ok {
		return nil
	}
	return logging.Fields{"grpcauth.subject", clipLogged(c.Subject()), "grpcauth.client_id", clipLogged(c.ClientID()),
		"grpcauth.issuer", clipLogged(c.Issuer())}
}
