package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// TransportSecurity says on which connections the interceptors accept
// credentials. A bearer token is a password for as long as it lives: sent
// over a connection without confidentiality, anyone on the path can read it
// and replay it. See Config.TransportSecurity.
type TransportSecurity int

const (
	// TransportSecureOrLocal (the default, the zero value) accepts
	// credentials on connections with transport security (TLS, ALTS: a
	// peer AuthInfo reporting credentials.PrivacyAndIntegrity) and on
	// plaintext connections from the local host (a loopback peer address,
	// 127.0.0.0/8 or ::1, or a Unix socket), where nobody but the host's
	// administrator can read the traffic. Credentials on any other
	// plaintext connection are refused. A local peer is only the last
	// hop: a proxy on the same host that accepts plaintext from the
	// network defeats this, see docs/interceptors.md (section "Transport security").
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
// report a security level, or a level below PrivacyAndIntegrity counts as
// no transport security. It allocates nothing for the peers gRPC's own
// transports create.
func (a *Authenticator) transportAllowed(ctx context.Context) bool {
	if a.transport == InsecureAllowPlaintext {
		return true
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p == nil {
		return false
	}
	if securityLevel(p.AuthInfo) == credentials.PrivacyAndIntegrity {
		return true
	}
	return a.transport == TransportSecureOrLocal && isLocal(p.Addr)
}

// securityLevel returns the security level an AuthInfo reports, or
// credentials.InvalidSecurityLevel when it reports none (nil, or a type
// without credentials.CommonAuthInfo).
func securityLevel(ai credentials.AuthInfo) credentials.SecurityLevel {
	ci, ok := ai.(interface {
		GetCommonAuthInfo() credentials.CommonAuthInfo
	})
	if !ok {
		return credentials.InvalidSecurityLevel
	}
	return ci.GetCommonAuthInfo().SecurityLevel
}

// isLocal reports whether addr, a peer's address, is on this host: a
// loopback IP address or a Unix socket.
func isLocal(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	case nil:
		return false
	}
	// Other transports, such as grpc.Server.ServeHTTP, report the address
	// as a string; only an IP literal with a port counts.
	if addr.Network() != "tcp" {
		return false
	}
	ap, err := netip.ParseAddrPort(addr.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
