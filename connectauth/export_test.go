package connectauth

import "net/http"

// H2CHandoff exposes h2cHandoff to the tests.
var H2CHandoff = h2cHandoff

// RPCProtocolOf names the RPC protocol WrapHandler recognises r by, or
// "none".
func RPCProtocolOf(r *http.Request) string { return rpcProtocolOf(r).String() }
