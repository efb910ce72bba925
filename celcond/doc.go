// Package celcond compiles the conditions of grpcauth rules, written in CEL
// (the Common Expression Language, https://cel.dev), with
// github.com/google/cel-go. Install it as the Authenticator's
// ConditionCompiler:
//
//	conds, err := celcond.New(celcond.Config{})
//	if err != nil {
//		return err
//	}
//	auth, err := grpcauth.New(grpcauth.Config{Verifier: v, Conditions: conds})
//
// A condition sees these variables:
//
//   - claims (map(string, dyn)): every claim of the verified token, decoded
//     from JSON (numbers are doubles, except integers of magnitude 2^53
//     or more, which a double cannot hold exactly: those are ints, or
//     uints above the int range, also when written with a fraction or an
//     exponent, 1e16; objects are maps, arrays lists);
//   - scopes (list(string)): the token's scopes, sorted;
//   - subject (string): the sub claim;
//   - client_id (string): the client the token was issued to
//     (verifier.Claims.ClientID: cid, client_id or azp, none when they
//     name different clients, which makes client_id an evaluation error;
//     client_id alone under RequireAccessTokenProfile);
//   - method (string): the full method name, "/pkg.Service/Method";
//   - request: the request message, typed from the method's input
//     descriptor, so that a misspelt field fails to compile.
//
// Reading subject or client_id is an evaluation error when the token has
// none (a missing, null or empty sub; no client), as reading a missing
// claim is: an empty string would equal every unset string field of the
// request.
//
// An expression must type-check to bool: compare a dyn value (a claim)
// explicitly, e.g. claims.admin == true. Every condition is compiled once,
// when grpcauth compiles the method's rule (Authenticator.Check at
// start-up), and its evaluation is bounded by Config.CostLimit. A
// comprehension stops once the call's context ends, and grpcauth then
// refuses the call with codes.Canceled or codes.DeadlineExceeded, never
// admits it (see Eval). See docs/conditions.md.
//
// This package is separate from grpcauth so that a server without
// conditions never links cel-go.
package celcond
