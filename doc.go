// Package grpcauth authenticates and authorises gRPC calls with OAuth 2.0
// bearer access tokens.
//
// Declare in each service's .proto which scopes every method needs, with the
// options of proto/grpcauth/v1/auth.proto:
//
//	rpc DeleteItem(DeleteItemRequest) returns (DeleteItemResponse) {
//	  option (grpcauth.v1.method) = { scopes: ["items:write", "items:admin"] };
//	}
//
// then install one Authenticator's interceptors on the server:
//
//	v, err := verifier.New(ctx, verifier.Config{
//		Issuer:    "https://example.okta.com/oauth2/default",
//		Audiences: []string{"api://default"},
//	})
//	if err != nil { ... }
//	defer v.Close()
//	auth, err := grpcauth.New(grpcauth.Config{
//		Verifier: v,
//		Public:   []string{"grpc.health.v1.Health"},
//	})
//	if err != nil { ... }
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
//	)
//	itemsv1.RegisterItemServiceServer(srv, items)
//	if err := auth.Check(srv); err != nil {
//		log.Fatal(err) // a registered method has no rule: it would be denied
//	}
//
// and read the caller in handlers:
//
//	claims, ok := grpcauth.ClaimsFromContext(ctx)
//
// Each call's token is taken from its "authorization" metadata ("Bearer "
// followed by the token; exactly one value) and verified by the
// TokenVerifier; the method's rule is then checked against the token's
// scopes. Methods without a rule are denied. Rejections carry fixed messages
// and a google.rpc.ErrorInfo detail (Domain ErrorDomain, a Reason… constant):
//
//	no or malformed credentials, bad or expired token   codes.Unauthenticated
//	valid token lacking a scope, or method without rule  codes.PermissionDenied
//	issuer's keys unavailable                            codes.Unavailable
//
// Details of each denial go to Config.Logger and Config.OnDecision, never to
// the caller. Every decision, allowed or denied, is one structured log
// record (levels in Config.LogLevels) and one Decision; package
// otelmetrics turns decisions and the verifier's Stats into OpenTelemetry
// metrics. Streams end with codes.Unauthenticated when their token
// expires, unless Config.SkipStreamExpiry is set.
//
// Credentials are accepted only on connections with transport security
// (TLS) or from the local host; see Config.TransportSecurity for servers
// behind a TLS-terminating proxy. A token bound to a client certificate
// (RFC 8705, cnf x5t#S256) is accepted only from a mutual-TLS connection
// presenting that certificate, and a rule can demand such tokens
// (require_certificate_binding). Config.DryRun and Config.DryRunMethods
// report what rules would refuse without enforcing them, for rolling out
// new rules.
package grpcauth
