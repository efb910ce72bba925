// Package localpeer decides whether a gRPC connection carries credentials
// safely: with transport security (Secure), or without leaving this host
// (IsLocal, IsLocalPeer); and whether it is a TLS connection (TLS). The
// server interceptors (grpcauth.TransportSecureOrLocal, certificate
// binding, a DPoP proof's htu) and the client credentials (tokencreds)
// share it, so both ends apply one rule.
//
//	// A server: may this call carry a token?
//	p, ok := peer.FromContext(ctx)
//	safe := ok && (localpeer.Secure(p.AuthInfo) || localpeer.IsLocalPeer(p.Addr, p.LocalAddr))
package localpeer
