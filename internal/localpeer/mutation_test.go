package localpeer

import (
	"net"
	"testing"

	"google.golang.org/grpc/credentials"
)

// nilSafe is an address type whose methods, on pointer receivers, answer
// without dereferencing: a nil *nilSafe still names a loopback TCP address.
type nilSafe struct{}

func (*nilSafe) Network() string { return "tcp" }
func (*nilSafe) String() string  { return "127.0.0.1:1" }

// A typed nil address is no address, whatever its methods say: IsLocal
// does not ask a nil pointer for a network and a host.
func TestIsLocal_TypedNilIsNotLocalWhateverItsMethodsSay(t *testing.T) {
	if IsLocal((*nilSafe)(nil)) {
		t.Error("IsLocal((*nilSafe)(nil)) = true, want false")
	}
}

// Only a "tcp" address is read as an ip:port string: another network's
// address that prints like loopback is not local.
func TestIsLocal_LoopbackStringOfAnotherNetworkIsNotLocal(t *testing.T) {
	for _, a := range []net.Addr{named{"udp", "127.0.0.1:1"}, named{"unix", "127.0.0.1:1"}, named{"", "[::1]:1"}} {
		if IsLocal(a) {
			t.Errorf("IsLocal(%s %q) = true, want false", a.Network(), a.String())
		}
	}
}

// On net.Pipe or bufconn, a typed nil peer address is no peer address, as
// nil is: the connection is local (IsLocalPeer does not call a nil
// pointer's String, which would panic and so report it not local).
func TestIsLocalPeer_TypedNilPeerOnPipeOrBufconnIsLocal(t *testing.T) {
	for _, local := range []net.Addr{PipeAddr(), bufconnAddr} {
		if !IsLocalPeer((*named)(nil), local) {
			t.Errorf("IsLocalPeer((*named)(nil), %v) = false, want true", local)
		}
	}
}

// On a Unix socket, an address of the IP types (TCP, UDP, IP) is a
// forwarded client's, so not local, even when it does not print as an
// ip:port (no IP, or no port).
func TestIsLocalPeer_IPTypedAddressOnAUnixSocketIsNotLocalEvenWithoutIPPort(t *testing.T) {
	sock := &net.UnixAddr{Name: "/run/s", Net: "unix"}
	for _, a := range []net.Addr{&net.TCPAddr{}, &net.UDPAddr{}, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1)}, &net.IPAddr{IP: net.IPv4(192, 0, 2, 1)}} {
		if IsLocalPeer(a, sock) {
			t.Errorf("IsLocalPeer(%T %q, Unix socket) = true, want false", a, a.String())
		}
	}
}

// TLS of a typed nil *credentials.TLSInfo, as an adapter building its
// peer by hand may leave for a plaintext request, is no TLS, and no panic.
func TestTLS_TypedNilTLSInfoIsNoTLS(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("TLS panicked: %v", r)
		}
	}()
	if certs, isTLS := TLS((*credentials.TLSInfo)(nil)); isTLS || certs != nil {
		t.Errorf("TLS = %v, %v, want nil, false", certs, isTLS)
	}
}

// chainOf returns n selfReferential values, each embedding a pointer to
// the next and the last a nil one, reporting PrivacyAndIntegrity.
func chainOf(n int) *selfReferential {
	level := credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}
	var head *selfReferential
	for range n {
		head = &selfReferential{selfReferential: head, CommonAuthInfo: level}
	}
	return head
}

// Secure follows embedded pointers up to maxEmbedHops of them, that many
// included, and refuses an AuthInfo that needs one more.
func TestSecure_FollowsExactlyMaxEmbedHopsPointers(t *testing.T) {
	testSecure(t, []secureCase{
		{"pointers as deep as the bound", chainOf(maxEmbedHops), true},
		{"pointers one past the bound", chainOf(maxEmbedHops + 1), false},
	})
}

// Types embedding, four levels down, two pointers side by side: Secure
// checks each of them, not the last one twice.
type (
	deep0 struct {
		credentials.CommonAuthInfo
		deep1
	}
	deep1 struct{ deep2 }
	deep2 struct{ deep3 }
	deep3 struct {
		*embedsTLSInfo
		*counter
	}
)

func (deep0) AuthType() string { return "custom" }

// An unfinished TLS handshake deep in an AuthInfo type, beside another
// embedded field, keeps the connection insecure.
func TestSecure_UnfinishedHandshakeBesideAnotherDeepEmbeddedFieldIsInsecure(t *testing.T) {
	level := credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}
	incomplete := credentials.TLSInfo{CommonAuthInfo: level}
	done := incomplete
	done.State.HandshakeComplete = true
	n := counter(1)
	testSecure(t, []secureCase{
		{"handshake not complete", deep0{level, deep1{deep2{deep3{&embedsTLSInfo{incomplete}, &n}}}}, false},
		{"handshake complete", deep0{level, deep1{deep2{deep3{&embedsTLSInfo{done}, &n}}}}, true},
	})
}
