// Package jwxpanic turns a panic recovered where grpcauth hands input from
// the network to jwx (a key set, a DPoP proof's jwk, a signature) into an
// error: the input is refused, and the process goes on. The error says
// honestly where the panic was raised: in jwx (a jwx bug the input
// reached), or outside it, in grpcauth's own code or what that code called
// (a grpcauth bug), and it carries the stack, for the server's log and for
// the fuzz targets, which fail on any recovered panic (Find).
//
//	func check(...) (err error) {
//		defer jwxpanic.Recover(&err, func(e *jwxpanic.Error) error {
//			return fmt.Errorf("pkg: checking the signature %w", e)
//		})
//		return jwxCall(...)
//	}
//
// A site that logs the panics it recovers takes each one's stack through
// a StackLog: at most one stack a minute (StackEvery), a short line for
// the others.
package jwxpanic
