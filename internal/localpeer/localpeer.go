package localpeer

import (
	"net"
	"net/netip"
	"reflect"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/test/bufconn"
)

// The peer addresses of in-process connections, compared by dynamic type
// and value (both are empty structs of unexported types).
var (
	pipeAddr    = pipePeerAddr()
	bufconnAddr = bufconn.Listen(1).Addr()
)

// pipePeerAddr returns the address net.Pipe's connections report.
func pipePeerAddr() net.Addr {
	c1, c2 := net.Pipe()
	defer c2.Close()
	defer c1.Close()
	return c1.RemoteAddr()
}

// IsLocal reports whether addr, the address of the other end of a
// connection as its own listener or dialer reports it, is on this host:
//
//   - a loopback IP address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104), as a
//     *net.TCPAddr or as an "ip:port" string of network "tcp" (as
//     grpc.Server.ServeHTTP reports it; a host name does not count);
//   - a *net.UnixAddr: a Unix-domain socket (a nil one, which a peer built
//     by hand may hold, is no address);
//   - the address of a google.golang.org/grpc/test/bufconn or net.Pipe
//     connection, matched by exact Go type, never by the name its Network
//     method returns ("bufconn", "pipe"), which any other net.Addr (a
//     Windows named pipe, a tunnel) may also return.
//
// An address whose Network or String method panics (a type embedding a
// *net.UnixAddr left nil, as a peer built by hand may hold) is not local.
func IsLocal(addr net.Addr) bool {
	// The net package's own address types, which grpc-go's listeners
	// report, are read without a deferred recover: nothing here can
	// panic, and the check runs on every call.
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a != nil && a.IP.IsLoopback()
	case *net.UnixAddr:
		return a != nil
	case nil:
		return false
	}
	return isLocalOther(addr)
}

// isLocalOther is IsLocal for an address of another type, whose methods
// (and == itself, for a type that is not comparable) may panic.
func isLocalOther(addr net.Addr) (ok bool) {
	defer falseOnPanic(&ok)
	if addr == pipeAddr || addr == bufconnAddr {
		return true
	}
	// Other transports, such as grpc.Server.ServeHTTP, report the address
	// as a string; only an IP literal with a port counts.
	if isNilPointer(addr) || addr.Network() != "tcp" {
		return false
	}
	ap, err := netip.ParseAddrPort(addr.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// IsLocalPeer reports whether a server's connection whose other end is
// addr and whose own end is local (peer.Peer's Addr and LocalAddr) stays on
// this host: IsLocal(addr), or local is a Unix-domain socket (a non-nil
// *net.UnixAddr) and addr is no IP address and port, or local is the
// address of an in-process connection (bufconn's or net.Pipe's, as IsLocal
// matches them) and addr is none or that address's string ("bufconn",
// "pipe"). grpc.Server.ServeHTTP (through net/http, as connectauth)
// reports such a connection's peer as a string that names nothing ("@",
// "", "bufconn", "pipe") and the connection's own address as LocalAddr; a
// listener that reports an "ip:port" for the caller (the PROXY protocol)
// is judged by that address. An address whose Network or String method
// panics is not local, as for IsLocal.
func IsLocalPeer(addr, local net.Addr) bool {
	return IsLocal(addr) || isLocalPeerOther(addr, local) // IsLocal recovers its own panics
}

// isLocalPeerOther is IsLocalPeer for an addr that is not local by
// itself.
func isLocalPeerOther(addr, local net.Addr) (ok bool) {
	defer falseOnPanic(&ok)
	if local == pipeAddr || local == bufconnAddr {
		// Only as net/http reports the in-process peer (the string of its
		// address) or as no address: a wrapper's other label for the
		// caller it carries ("client.example:443") is not local.
		return addr == nil || isNilPointer(addr) || addr.String() == local.String()
	}
	if l, unix := local.(*net.UnixAddr); !unix || l == nil {
		return false
	}
	switch addr.(type) {
	case nil:
		return true
	case *net.TCPAddr, *net.UDPAddr, *net.IPAddr:
		return false
	}
	if isNilPointer(addr) {
		return true // no address, as nil
	}
	_, err := netip.ParseAddrPort(addr.String())
	return err != nil
}

// falseOnPanic, deferred by a function reporting *ok, recovers a panic of
// that function and sets *ok to false: neither grpc-go's server, for an
// interceptor, nor its client, for per-RPC credentials, recovers a panic,
// which would end the process.
func falseOnPanic(ok *bool) {
	if recover() != nil {
		*ok = false
	}
}

// isNilPointer reports whether v holds a nil pointer: a peer built by hand
// (for ServeCall) may hold a typed nil address or AuthInfo, whose value
// methods, called through the pointer, would dereference it.
func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// Secure reports whether ai, a connection's AuthInfo, reports
// credentials.PrivacyAndIntegrity (TLS, ALTS). An AuthInfo that reports no
// level (nil, a nil pointer, *credentials.TLSInfo or another, whatever
// its methods say, a type without GetCommonAuthInfo, or the level left
// unset) is not secure: unlike credentials.CheckSecurityLevel, this fails
// closed. Nor is one whose GetCommonAuthInfo panics: an AuthInfo type that
// embeds a pointer promotes methods that dereference it, such as
// GetCommonAuthInfo through a nil *credentials.TLSInfo or
// *credentials.CommonAuthInfo, which an adapter building its peer for
// ServeCall may leave nil on a plaintext request (neither grpc-go's server, for an interceptor, nor its client,
// for per-RPC credentials, recovers a panic: it would end the process).
// Nor is a credentials.TLSInfo (by value or pointer), or an AuthInfo type
// embedding one, whose State.HandshakeComplete is false, whatever level it
// reports: until the handshake completes, no keys of that connection
// protect it. Unlike TLS, Secure finds an embedded TLSInfo by its type
// (TLSInfo or a type defined from it, type T credentials.TLSInfo),
// whatever name embeds it (an alias, or a shallower field named TLSInfo
// shadowing it) and through pointers and embedded interfaces: any such
// TLSInfo with an unfinished handshake makes ai insecure, and so do more
// than 32 non-nil embedded pointers and interfaces to follow in all (a
// pointer may lead back to where it started; an embedded context.Context
// costs two a layer of its chain, WithValue or WithCancel, so one of more
// than 15 layers is too deep). grpc-go and
// grpc.Server.ServeHTTP only hand over completed handshakes, and so does
// connectauth behind net/http; a peer built by hand (for ServeCall) may
// not, nor an HTTP/3 server's request sent as TLS 1.3 early data (0-RTT),
// which connectauth passes on and which anyone who recorded it can
// replay. Such a connection may still count as local by its addresses
// (IsLocal, IsLocalPeer). Secure logs nothing, and allocates nothing once
// it has seen the types an AuthInfo is and embeds.
func Secure(ai credentials.AuthInfo) (ok bool) {
	if ai == nil { // a plaintext connection's, as grpc-go hands it over: no recover to set up
		return false
	}
	defer falseOnPanic(&ok)
	leveled, reports := ai.(interface {
		GetCommonAuthInfo() credentials.CommonAuthInfo
	})
	v := reflect.ValueOf(ai)
	// A typed nil (a *credentials.TLSInfo a peer built by hand holds, or
	// of another type) reports no level, whatever its methods say: a
	// promoted GetCommonAuthInfo would dereference it.
	if !reports || v.Kind() == reflect.Pointer && v.IsNil() {
		return false
	}
	if leveled.GetCommonAuthInfo().SecurityLevel != credentials.PrivacyAndIntegrity {
		return false
	}
	// A credentials.TLSInfo, or a type embedding one: its handshake too.
	hops := 0
	return handshakesComplete(v, &hops)
}

// PipeAddr returns the address net.Pipe's connections report, for tests
// that build a listener of net.Pipe connections.
func PipeAddr() net.Addr { return pipeAddr }
