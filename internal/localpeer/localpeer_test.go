package localpeer

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/credentials/local"
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
	tests := []secureCase{
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
		{"typed nil whose own method reports a level", (*levelOfItsOwn)(nil), false},
	}
	testSecure(t, tests)
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

// levelOfItsOwn reports PrivacyAndIntegrity by a method of its own, even
// through a nil pointer.
type levelOfItsOwn struct{}

func (*levelOfItsOwn) AuthType() string { return "custom" }
func (*levelOfItsOwn) GetCommonAuthInfo() credentials.CommonAuthInfo {
	return credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}
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

// Ways an AuthInfo type may embed a credentials.TLSInfo that TLS, which
// follows Go's promotion of the name TLSInfo, does not find, while Go
// still promotes the TLSInfo's GetCommonAuthInfo, and so its level.
type (
	tlsInfoAlias = credentials.TLSInfo
	// underAlias embeds a TLSInfo under the name of an alias.
	underAlias struct{ tlsInfoAlias }
	// shadowed embeds a TLSInfo below a field named TLSInfo.
	shadowed struct {
		TLSInfo string
		embedsTLSInfo
	}
	// definedFromTLSInfo keeps TLSInfo's fields, not its methods, but
	// those of the CommonAuthInfo it embeds.
	definedFromTLSInfo credentials.TLSInfo
	// embedsDefined embeds a definedFromTLSInfo.
	embedsDefined struct{ definedFromTLSInfo }
	// securityInfo is the interface an AuthInfo reporting a level has.
	securityInfo interface {
		credentials.AuthInfo
		GetCommonAuthInfo() credentials.CommonAuthInfo
	}
	// inInterface embeds an interface that may hold a TLSInfo.
	inInterface struct{ securityInfo }
	// selfReferential embeds a pointer to its own type.
	selfReferential struct {
		*selfReferential
		credentials.CommonAuthInfo
	}
)

func (selfReferential) AuthType() string    { return "custom" }
func (definedFromTLSInfo) AuthType() string { return "custom" }

// Secure finds a credentials.TLSInfo by its type wherever an AuthInfo
// type embeds it, and refuses one whose handshake is not complete: its
// level, promoted to the AuthInfo, proves nothing yet.
func TestSecure_EmbeddedTLSInfoWithoutHandshakeIsInsecureWhateverItsName(t *testing.T) {
	done := credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	done.State.HandshakeComplete = true
	incomplete := done
	incomplete.State.HandshakeComplete = false
	loop := &selfReferential{CommonAuthInfo: done.CommonAuthInfo}
	loop.selfReferential = loop
	tests := []secureCase{
		{"under an alias", underAlias{done}, true},
		{"under an alias, handshake not complete", underAlias{incomplete}, false},
		{"shadowed by a field named TLSInfo", shadowed{"x", embedsTLSInfo{done}}, true},
		{"shadowed by a field named TLSInfo, handshake not complete", shadowed{"x", embedsTLSInfo{incomplete}}, false},
		{"in an embedded interface", inInterface{done}, true},
		{"in an embedded interface, handshake not complete", inInterface{incomplete}, false},
		{"*TLSInfo in an embedded interface, handshake not complete", inInterface{&incomplete}, false},
		{"in an embedded interface, through pointers, handshake not complete", &inInterface{&viaPointer{&embedsTLSInfo{incomplete}}}, false},
		{"of a type defined from TLSInfo", definedFromTLSInfo(done), true},
		{"of a type defined from TLSInfo, handshake not complete", definedFromTLSInfo(incomplete), false},
		{"embedding a type defined from TLSInfo, handshake not complete", embedsDefined{definedFromTLSInfo(incomplete)}, false},
		{"pointers leading back to where they start", loop, false},
	}
	testSecure(t, tests)
}

// handshakeConn is a connection that local credentials judge by its
// remote address alone, without reading or writing.
type handshakeConn struct {
	net.Conn
	remote net.Addr
}

func (c handshakeConn) RemoteAddr() net.Addr { return c.remote }

// altsLike has the shape of the AuthInfo of gRPC's ALTS credentials
// (internal to grpc-go): a pointer to a struct of named fields, with
// methods of its own.
type altsLike struct {
	p    *struct{ peer string }
	info credentials.CommonAuthInfo
}

func (*altsLike) AuthType() string                                { return "alts" }
func (a *altsLike) GetCommonAuthInfo() credentials.CommonAuthInfo { return a.info }

// Secure and TLS allocate nothing for the AuthInfo values gRPC's own
// credentials hand over (TLS, insecure, local on a Unix socket, ALTS) nor for a
// type of the credentials' own embedding a TLSInfo: the server and the
// client decide with them on every call.
func TestSecureAndTLS_AllocateNothingForGRPCsAuthInfo(t *testing.T) {
	done := credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	done.State.HandshakeComplete = true
	handshake := func(c credentials.TransportCredentials) credentials.AuthInfo {
		_, ai, err := c.ClientHandshake(context.Background(), "x", handshakeConn{remote: &net.UnixAddr{Name: "/run/s", Net: "unix"}})
		if err != nil {
			t.Fatal(err)
		}
		return ai
	}
	for _, tt := range []struct {
		name        string
		ai          credentials.AuthInfo
		secure, tls bool
	}{
		{"TLSInfo", done, true, true},
		{"*TLSInfo", &done, true, true},
		{"insecure", handshake(insecure.NewCredentials()), false, false},
		{"local on a Unix socket", handshake(local.NewCredentials()), true, false},
		{"ALTS-like", &altsLike{p: &struct{ peer string }{"x"}, info: done.CommonAuthInfo}, true, false},
		{"own type embedding TLSInfo", embedsTLSInfo{done}, true, true},
		{"pointer to own type embedding TLSInfo", &embedsTLSInfo{done}, true, true},
		{"pointer to own type embedding *TLSInfo", &tlsInfoByPointer{&done}, true, true},
	} {
		if _, isTLS := TLS(tt.ai); isTLS != tt.tls {
			t.Fatalf("%s: TLS = %v", tt.name, isTLS)
		}
		if Secure(tt.ai) != tt.secure {
			t.Fatalf("%s: Secure = %v, want %v", tt.name, !tt.secure, tt.secure)
		}
		if n := testing.AllocsPerRun(100, func() {
			Secure(tt.ai)
			TLS(tt.ai)
		}); n != 0 {
			t.Errorf("%s: Secure and TLS allocate %v times, want 0", tt.name, n)
		}
	}
}

// panickingAddr is a net.Addr whose methods panic.
type panickingAddr struct{}

func (panickingAddr) Network() string { panic("Network") }
func (panickingAddr) String() string  { panic("String") }

// unixAddrOf embeds a *net.UnixAddr, whose Network method, promoted,
// dereferences it.
type unixAddrOf struct{ *net.UnixAddr }

// An address whose methods panic, as one embedding a nil pointer may, is
// not local, and ends no process: neither grpc-go's server nor its client
// recovers a panic of an interceptor or of per-RPC credentials.
func TestIsLocal_AddressWhoseMethodsPanicIsNotLocal(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v", r)
		}
	}()
	sock := &net.UnixAddr{Name: "/run/s", Net: "unix"}
	if IsLocal(panickingAddr{}) || IsLocal(unixAddrOf{}) {
		t.Error("IsLocal = true")
	}
	if IsLocalPeer(panickingAddr{}, sock) || IsLocalPeer(panickingAddr{}, PipeAddr()) {
		t.Error("IsLocalPeer = true")
	}
}

// secureCase is an AuthInfo and whether Secure reports it secure.
type secureCase struct {
	name string
	ai   credentials.AuthInfo
	want bool
}

// testSecure checks Secure on each of tests, failing on a panic too.
func testSecure(t *testing.T, tests []secureCase) {
	t.Helper()
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

// Kinds an AuthInfo type may embed that Go promotes no TLSInfo's methods
// through, and an interface, embedded unexported, whose value reflect
// reads only as read-only.
type (
	anything       interface{}
	tlsInfoMap     map[string]credentials.TLSInfo
	tlsInfoSlice   []credentials.TLSInfo
	tlsInfoArray   [1]credentials.TLSInfo
	callback       func()
	events         chan int
	counter        int
	oddlyEmbedding struct {
		credentials.CommonAuthInfo
		anything
		tlsInfoMap
		tlsInfoSlice
		tlsInfoArray
		callback
		events
		*counter
	}
	// withContext embeds a context.Context, whose chain Secure follows.
	withContext struct {
		credentials.CommonAuthInfo
		context.Context
	}
)

func (oddlyEmbedding) AuthType() string { return "custom" }
func (withContext) AuthType() string    { return "custom" }

// Secure's walk neither panics on the kinds an AuthInfo type may embed
// (maps, slices, arrays, functions, channels, pointers to non-structs, an
// interface holding a non-struct) nor trusts a TLSInfo it reaches only
// read-only (through an unexported embedded interface, by pointers), and
// it follows an embedded context.Context's chain, two hops a layer, up to
// its bound.
func TestSecure_WalkSurvivesEveryEmbeddedKind(t *testing.T) {
	level := credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}
	incomplete := credentials.TLSInfo{CommonAuthInfo: level}
	done := incomplete
	done.State.HandshakeComplete = true
	pIncomplete, pDone := &incomplete, &done
	n := counter(1)
	// context.Background is one hop, and each WithValue two more.
	chain := func(values int) context.Context {
		ctx := context.Background()
		for i := range values {
			ctx = context.WithValue(ctx, i, i)
		}
		return ctx
	}
	testSecure(t, []secureCase{
		{"maps, slices, arrays, funcs, chans of an unfinished TLSInfo", oddlyEmbedding{
			CommonAuthInfo: level, anything: 1, tlsInfoMap: tlsInfoMap{"a": incomplete},
			tlsInfoSlice: tlsInfoSlice{incomplete}, tlsInfoArray: tlsInfoArray{incomplete},
			callback: func() {}, events: make(events), counter: &n,
		}, true},
		{"interface holding a map", oddlyEmbedding{CommonAuthInfo: level, anything: map[int]int{1: 1}}, true},
		{"unexported interface holding **TLSInfo, handshake not complete", oddlyEmbedding{CommonAuthInfo: level, anything: &pIncomplete}, false},
		{"unexported interface holding **TLSInfo", oddlyEmbedding{CommonAuthInfo: level, anything: &pDone}, true},
		{"context with 15 values (31 hops)", withContext{level, chain(15)}, true},
		{"context with 16 values (33 hops)", withContext{level, chain(16)}, false},
	})
}
