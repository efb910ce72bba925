// Package grpcauthv1 is the Go code generated from grpcauth/v1/auth.proto:
// the Rule and ScopeSet messages and the E_Method and E_Service extensions
// that declare, in a service's .proto, which OAuth 2.0 scopes each RPC
// requires.
//
// Services do not normally use this package directly: annotate the .proto,
// generate as usual, and let the grpcauth Authenticator read the options
// from the registered descriptors (in Authenticator.Check, or on each
// method's first call). Authenticator.Requirement returns the rule it
// enforces on a method, which may come from the service's option or the
// Config instead. To read a method's own option yourself:
//
//	md := itemsv1.File_items_v1_items_proto.Services().Get(0).Methods().Get(0)
//	rule, _ := proto.GetExtension(md.Options(), grpcauthv1.E_Method).(*grpcauthv1.Rule)
//	fmt.Println(rule.GetScopes(), rule.GetPublic())
//
// The .proto (proto/grpcauth/v1/auth.proto in the repository) documents the
// exact semantics of each field; docs/proto-options.md shows how to import
// it with buf or protoc. Never generate Go code for it into your own
// package: this package is its only Go code, and a second copy makes the
// program panic at start-up ("proto: file "grpcauth/v1/auth.proto" is
// already registered"). Regenerate with scripts/generate.sh.
package grpcauthv1
