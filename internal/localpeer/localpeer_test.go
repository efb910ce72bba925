package localpeer

import (
	"net"
	"testing"

	"google.golang.org/grpc/credentials"
)

// named is an address of a type this package does not know.
type named struct{ network, s string }

func (a named) Network() string { return a.network }
func (a named) String() string  { return a.s }

func TestIsLocal(t *testing.T) {
	tests := []struct {
		name string
		addr net.Addr
		want bool
	}{
		{"127.0.0.1", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, true},
		{"::1", &net.TCPAddr{IP: net.IPv6loopback}, true},
		{"another host", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}, false},
		{"Unix socket", &net.UnixAddr{Name: "/run/s", Net: "unix"}, true},
		{"net.Pipe", PipeAddr(), true},
		{"bufconn", bufconnAddr, true},
		{"string loopback", named{"tcp", "127.0.0.1:1"}, true},
		{"string host name", named{"tcp", "localhost:1"}, false},
		{"named pipe", named{"pipe", `\\.\pipe\app`}, false},
		{"named bufconn", named{"bufconn", "bufconn"}, false},
		{"nil", nil, false},
		{"typed nil of another type", (*named)(nil), false},
		{"typed nil *net.UnixAddr", (*net.UnixAddr)(nil), false},
	}
	for _, tt := range tests {
		if got := IsLocal(tt.addr); got != tt.want {
			t.Errorf("%s: IsLocal = %v, want %v", tt.name, got, tt.want)
		}
	}
}

type info struct{ credentials.CommonAuthInfo }

func (info) AuthType() string { return "test" }

func TestSecure(t *testing.T) {
	for level, want := range map[credentials.SecurityLevel]bool{
		credentials.InvalidSecurityLevel: false,
		credentials.NoSecurity:           false,
		credentials.IntegrityOnly:        false,
		credentials.PrivacyAndIntegrity:  true,
	} {
		if got := Secure(info{credentials.CommonAuthInfo{SecurityLevel: level}}); got != want {
			t.Errorf("%v: Secure = %v, want %v", level, got, want)
		}
	}
	if Secure(nil) {
		t.Error("Secure(nil) = true")
	}
}

// An adapter that builds its peer by hand may leave a typed nil
// *credentials.TLSInfo for a plaintext request, or a typed nil of another
// AuthInfo type; it is no security, and no panic (their
// GetCommonAuthInfo, promoted from the embedded value, would dereference
// the nil pointer).
func TestSecure_TLSInfoValuePointerOrEmbedded(t *testing.T) {
	tls := credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	tls.State.HandshakeComplete = true
	incomplete := tls
	incomplete.State.HandshakeComplete = false
	tests := []struct {
		name string
		ai   credentials.AuthInfo
		want bool
	}{
		{"TLSInfo", tls, true},
		{"*TLSInfo", &tls, true},
		{"TLSInfo, level unset", credentials.TLSInfo{}, false},
		{"*TLSInfo, level unset", &credentials.TLSInfo{}, false},
		{"TLSInfo, handshake not complete", incomplete, false},
		{"*TLSInfo, handshake not complete", &incomplete, false},
		{"typed nil *TLSInfo", (*credentials.TLSInfo)(nil), false},
		{"typed nil of another type embedding CommonAuthInfo", (*info)(nil), false},
		// An AuthInfo type embedding a credentials.TLSInfo keeps its rule,
		// and one whose GetCommonAuthInfo panics, promoted through a nil
		// pointer, is no security, without a panic.
		{"embedding TLSInfo", embedsTLSInfo{tls}, true},
		{"pointer to a type embedding TLSInfo", &embedsTLSInfo{tls}, true},
		{"embedding *TLSInfo", tlsInfoByPointer{&tls}, true},
		{"embedding TLSInfo, handshake not complete", embedsTLSInfo{incomplete}, false},
		{"pointer to a type embedding TLSInfo, handshake not complete", &embedsTLSInfo{incomplete}, false},
		{"embedding *TLSInfo, handshake not complete", tlsInfoByPointer{&incomplete}, false},
		{"embedding a nil *TLSInfo", tlsInfoByPointer{}, false},
		{"embedding a nil *CommonAuthInfo", commonInfoByPointer{}, false},
		{"typed nil of a type embedding TLSInfo", (*embedsTLSInfo)(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Secure panicked: %v", r)
				}
			}()
			if got := Secure(tt.ai); got != tt.want {
				t.Errorf("Secure = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIsLocalPeer(t *testing.T) {
	sock := &net.UnixAddr{Name: "/run/s", Net: "unix"}
	tcp := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 9), Port: 443}
	tests := []struct {
		name        string
		addr, local net.Addr
		want        bool
	}{
		{"loopback peer", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, tcp, true},
		{"remote peer", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}, tcp, false},
		{"ServeHTTP on a Unix socket", named{"tcp", "@"}, sock, true},
		{"ServeHTTP on a Unix socket, empty address", named{"", ""}, sock, true},
		{"no peer address on a Unix socket", nil, sock, true},
		{"PROXY protocol on a Unix socket", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, sock, false},
		{"forwarded ip:port string on a Unix socket", named{"tcp", "192.0.2.1:1"}, sock, false},
		{"no usable peer address on TCP", named{"tcp", "@"}, tcp, false},
		{"no peer address, no local address", nil, nil, false},
		{"ServeHTTP on bufconn", named{"tcp", "bufconn"}, bufconnAddr, true},
		{"ServeHTTP on net.Pipe", named{"tcp", "pipe"}, PipeAddr(), true},
		{"forwarded ip:port string on bufconn", named{"tcp", "192.0.2.1:1"}, bufconnAddr, false},
		{"PROXY protocol on net.Pipe", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, PipeAddr(), false},
		{"no peer address on net.Pipe (connectauth)", nil, PipeAddr(), true},
		{"another label for the caller on net.Pipe", named{"tcp", "client.example:443"}, PipeAddr(), false},
		{"forwarded IP address without port on bufconn", named{"tcp", "192.0.2.1"}, bufconnAddr, false},
		{"no usable peer address, local address named bufconn", named{"tcp", "bufconn"}, named{"bufconn", "bufconn"}, false},
		{"typed nil *net.TCPAddr", (*net.TCPAddr)(nil), tcp, false},
		{"typed nil of another address type", (*named)(nil), tcp, false},
		{"typed nil of another address type on a Unix socket", (*named)(nil), sock, true},
		{"typed nil *net.UnixAddr on TCP", (*net.UnixAddr)(nil), tcp, false},
		{"typed nil *net.UnixAddr on a Unix socket", (*net.UnixAddr)(nil), sock, true},
		{"no peer address, typed nil *net.UnixAddr local address", nil, (*net.UnixAddr)(nil), false},
		{"ServeHTTP string, typed nil *net.UnixAddr local address", named{"tcp", "@"}, (*net.UnixAddr)(nil), false},
	}
	for _, tt := range tests {
		if got := IsLocalPeer(tt.addr, tt.local); got != tt.want {
			t.Errorf("%s: IsLocalPeer = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// AuthInfo types of transport credentials of their own.
type (
	embedsTLSInfo       struct{ credentials.TLSInfo }
	tlsInfoByPointer    struct{ *credentials.TLSInfo }
	commonInfoByPointer struct{ *credentials.CommonAuthInfo }
)

func (commonInfoByPointer) AuthType() string { return "custom" }

// viaPointer embeds, through a pointer, a struct that embeds a
// credentials.TLSInfo.
type viaPointer struct{ *embedsTLSInfo }

// A nil pointer on the way to an embedded credentials.TLSInfo is no TLS
// and no security, and no panic: TLS reads the fields without calling a
// method, and the server calls it for certificate binding once Secure
// has let such a connection through as local.
func TestTLS_NilPointerOnTheWayIsNoTLS(t *testing.T) {
	done := credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	done.State.HandshakeComplete = true
	for name, tt := range map[string]struct {
		ai              credentials.AuthInfo
		wantTLS, secure bool
	}{
		"through a pointer":            {viaPointer{&embedsTLSInfo{done}}, true, true},
		"through a nil pointer":        {viaPointer{}, false, false},
		"pointer, through nil pointer": {&viaPointer{}, false, false},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			if _, isTLS := TLS(tt.ai); isTLS != tt.wantTLS {
				t.Errorf("TLS = %v, want %v", isTLS, tt.wantTLS)
			}
			if got := Secure(tt.ai); got != tt.secure {
				t.Errorf("Secure = %v, want %v", got, tt.secure)
			}
		})
	}
}
