package grpcauth

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/peer"

	"github.com/grpcauth/grpcauth/internal/localpeer"
)

// TransportSecurity says on which connections the interceptors accept
// credentials. A bearer token is a password for as long as it lives: sent
// over a connection without confidentiality, anyone on the path can read it
// and replay it. See Config.TransportSecurity.
type TransportSecurity int

const (
	// TransportSecureOrLocal (the default, the zero value) accepts
	// credentials on connections with transport security (TLS, ALTS: a
	// peer AuthInfo reporting credentials.PrivacyAndIntegrity; for a
	// credentials.TLSInfo, or an AuthInfo type of the credentials' own
	// that embeds one, of a completed handshake, State.HandshakeComplete
	// true, as grpc-go and grpc.Server.ServeHTTP hand over, and not a
	// request in TLS 1.3 early data, 0-RTT) and on
	// plaintext connections that never leave this host, where nobody but
	// the host's administrator can read the traffic. A connection is
	// local when the server-side peer address (peer.Peer.Addr, which the
	// server's own listener produces, not the client) is exactly one of:
	//
	//   - a loopback IP address (127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104),
	//     as *net.TCPAddr or, from grpc.Server.ServeHTTP, an IP literal
	//     with a port (a host name such as "localhost" does not count);
	//   - a *net.UnixAddr: a Unix-domain socket; or, as
	//     grpc.Server.ServeHTTP (and connectauth) report a Unix socket's
	//     peer, an address that is no IP address and port ("@") on a
	//     connection whose own address (peer.Peer.LocalAddr) is a
	//     *net.UnixAddr;
	//   - the address of an in-process connection: that of
	//     google.golang.org/grpc/test/bufconn or of net.Pipe, matched by
	//     their exact Go types, never by the name their Network method
	//     returns ("bufconn", "pipe"), which any net.Addr (a Windows
	//     named pipe, a tunnel) may also return; or, as
	//     grpc.Server.ServeHTTP (and connectauth) report such a peer, the
	//     string of that address ("bufconn", "pipe") or no address on a
	//     connection whose own address (peer.Peer.LocalAddr) is of those
	//     types (any other label a listener gives the caller is not local).
	//
	// So a test that serves on bufconn needs no TransportSecurity option,
	// with grpc-go's transport or through ServeHTTP and connectauth.
	// Credentials on any other plaintext connection are refused. A local
	// peer is only the last hop: a proxy on the same host that accepts
	// plaintext from the network defeats this, and so does a listener that
	// reports the address a proxy sends (the PROXY protocol), for which a
	// caller on the proxy's own loopback looks local wherever the proxy
	// runs; use TransportSecureOnly or TLS behind such a proxy
	// (docs/interceptors.md, "Transport security").
	TransportSecureOrLocal TransportSecurity = iota

	// TransportSecureOnly accepts credentials only on connections with
	// transport security, loopback included: for hosts shared with code
	// you do not trust.
	TransportSecureOnly

	// InsecureAllowPlaintext accepts credentials on every connection,
	// including plaintext ones from the network. Use it only when the
	// network hop to this server is protected by other means the server
	// cannot see, such as a TLS-terminating proxy or service-mesh sidecar
	// whose link to this server is encrypted (e.g. WireGuard, IPsec) or
	// provably private. Never decide this per call from a header that
	// claims the client used TLS: any client can send that header.
	InsecureAllowPlaintext
)

// errInsecureTransport is the logged cause of a TRANSPORT_INSECURE refusal.
var errInsecureTransport = errors.New("grpcauth: credentials sent on a connection without transport security (see Config.TransportSecurity)")

// String returns the constant's name.
func (t TransportSecurity) String() string {
	switch t {
	case TransportSecureOrLocal:
		return "TransportSecureOrLocal"
	case TransportSecureOnly:
		return "TransportSecureOnly"
	case InsecureAllowPlaintext:
		return "InsecureAllowPlaintext"
	default:
		return fmt.Sprintf("TransportSecurity(%d)", int(t))
	}
}

// valid reports whether t is one of the constants.
func (t TransportSecurity) valid() bool {
	return t >= TransportSecureOrLocal && t <= InsecureAllowPlaintext
}

// transportAllowed reports whether the call's connection may carry
// credentials under a.transport. It fails closed: a context without a peer
// (the interceptor called outside a gRPC server), an AuthInfo that does not
// report a security level, a level below PrivacyAndIntegrity, a
// credentials.TLSInfo (or an AuthInfo embedding one) whose handshake is
// not complete, or an AuthInfo whose GetCommonAuthInfo panics (see
// localpeer.Secure) counts as no transport security (such a connection may
// still be local). It allocates nothing for the peers gRPC's own
// transports create.
func (a *Authenticator) transportAllowed(ctx context.Context) bool {
	if a.transport == InsecureAllowPlaintext {
		return true
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p == nil {
		return false
	}
	if localpeer.Secure(p.AuthInfo) {
		return true
	}
	return a.transport == TransportSecureOrLocal && localpeer.IsLocalPeer(p.Addr, p.LocalAddr)
}
