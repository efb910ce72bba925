package tokencreds_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/grpc/credentials"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/tokencreds"
)

// grpcAudience is the per-call URI grpc-go (v1.85, http2Client.createAudience)
// passes to GetRequestMetadata for a call to method on a connection whose
// :authority is host.
func grpcAudience(host, method string) string {
	host = strings.TrimSuffix(host, ":443")
	pos := strings.LastIndex(method, "/")
	if pos == -1 {
		pos = len(method)
	}
	return "https://" + host + method[:pos]
}

// FuzzDPoPHTUClientMatchesServer checks that the htu of the proof NewDPoP's
// Credentials build for a call is accepted by the server's check of the
// same call (dpop.Verifier.Verify with the dpop.Request grpcauth's
// checkDPoP builds: POST, the connection's scheme, the :authority and the
// method as path) whenever the call is well formed: an RFC 3986 authority
// (RFC 6874 zones included) and a method "/service/method" of path
// characters. When the client refuses a call up front, the server must
// refuse every htu naming it too. For other inputs the client may build a
// proof the server refuses, but neither may panic.
func FuzzDPoPHTUClientMatchesServer(f *testing.F) {
	for _, a := range []string{
		"api.example.com", "api.example.com:443", "API.Example.COM:443", "api.example.com:80",
		"api.example.com:8443", "api.example.com:", "api.example.com.", "api.example.com.:443",
		"localhost:50051", "127.0.0.1", "127.0.0.1:443", "[::1]", "[::1]:443", "[::1]:50051",
		"[2001:DB8::1]:8443", "[fe80::1%25eth0]:50051", "[fe80::1%25EtH0]", "[fe80::1%eth0]:50051",
		"ex%41mple.com", "caf%C3%A9.example:443", "xn--caf-dma.example", "a_b~c-d.example",
		"a!$&'()*+,;=b", "[v1.fe80::a+en1]",
	} {
		for _, m := range []string{"/pkg.Service/Method", "/a.b.c.Svc_2/Get_Thing"} {
			f.Add(a, m, true)
			f.Add(a, m, false)
		}
	}
	for _, m := range []string{
		"/Service/Method", "/pkg.S/M-v2", "/pkg.S/M~x", "/pkg.S/M%41", "/pkg.S/M%2f", "/pkg.S/M%2F",
		"/pkg.S/M:x@y", "/pkg.S/M!$&'()*+,;=", "/pkg.S/M?x", "/pkg.S/M#x", "/pkg.S/a/../M",
		"/pkg.S/./M", "/pkg S/M", "pkg.S/M", "/", "//", "/pkg.S/", "/pkg.S/M%", "/pkg.S/é",
	} {
		f.Add("api.example.com:443", m, true)
		f.Add("localhost:50051", m, false)
	}

	signer := newSigner(f)
	// A replay cache that records nothing: one key signs every proof, and
	// a real one refuses its proofs once the key's quota is full (25,000
	// entries), after which every well-formed call "fails".
	v, err := dpop.NewVerifier(dpop.Config{ReplayCache: forgetfulReplayCache{}})
	if err != nil {
		f.Fatal(err)
	}
	tok := &oauth2.Token{AccessToken: "at", TokenType: "DPoP"}
	creds := tokencreds.NewDPoP(oauth2.StaticTokenSource(tok), signer)
	loopback := peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})

	f.Fuzz(func(t *testing.T, authority, method string, tls bool) {
		info, scheme := insecureInfo(), "http"
		if tls {
			info, scheme = credentials.TLSInfo{}, "https"
		}
		ctx := credentials.NewContextWithRequestInfo(loopback, credentials.RequestInfo{Method: method, AuthInfo: info})
		// grpc-go's per-call URI drops a ":443" whatever the transport, so
		// on a connection without TLS the client cannot tell "host:443"
		// from "host" (docs/dpop.md, "The htu of a gRPC call").
		lostPort := !tls && strings.HasSuffix(authority, ":443")
		wellFormed := wellFormedAuthority(authority) && wellFormedMethod(method) && !lostPort
		md, err := creds.GetRequestMetadata(ctx, grpcAudience(authority, method))
		req := dpop.Request{Method: "POST", Scheme: scheme, Authority: authority, Path: method, AccessToken: "at", KeyThumbprint: signer.Thumbprint()}
		if err != nil {
			if !strings.HasPrefix(method, "/") || !strings.Contains(method[1:], "/") {
				return // a grpc-go server refuses the method before any interceptor
			}
			// Refused up front: then no htu naming the call is accepted.
			for _, a := range []string{authority, strings.TrimSuffix(authority, ":443")} {
				proof, perr := signer.Proof("POST", scheme+"://"+a+method, "at", "")
				if perr != nil {
					continue
				}
				if _, verr := v.Verify(t.Context(), proof, req); verr == nil {
					t.Fatalf("client refused a call (%s, authority %q, method %q) the server accepts with htu %q: %v", scheme, authority, method, scheme+"://"+a+method, err)
				}
			}
			return
		}
		_, err = v.Verify(t.Context(), md["dpop"], req)
		if err != nil && wellFormed {
			t.Fatalf("server refused the client's proof for a well-formed call (%s, authority %q, method %q): %v", scheme, authority, method, err)
		}
	})
}

// forgetfulReplayCache is a dpop.ReplayCache that accepts every proof and
// records none: FuzzDPoPHTUClientMatchesServer checks htu, not replay.
type forgetfulReplayCache struct{}

func (forgetfulReplayCache) AddIfAbsent(context.Context, string, time.Time) (bool, error) {
	return true, nil
}

// wellFormedMethod reports whether m is "/" service "/" method, both
// non-empty segments of RFC 3986 pchars (percent-encodings included), not
// dot segments: a path grpc-go sends and a server can register.
func wellFormedMethod(m string) bool {
	rest, ok := strings.CutPrefix(m, "/")
	if !ok {
		return false
	}
	svc, meth, ok := strings.Cut(rest, "/")
	return ok && isSegment(svc) && isSegment(meth)
}

func isSegment(s string) bool {
	return s != "" && s != "." && s != ".." && isChars(s, "-._~!$&'()*+,;=:@", true)
}

// wellFormedAuthority reports whether a is an RFC 3986 authority without
// user info, with a non-empty host: reg-name, IPv4 or IP-literal (with an
// RFC 6874 zone), and an optional port.
func wellFormedAuthority(a string) bool {
	host, port := a, ""
	if i := strings.LastIndexByte(a, ':'); i >= 0 && i > strings.LastIndexByte(a, ']') {
		host, port = a[:i], a[i+1:]
	}
	if strings.Trim(port, "0123456789") != "" || host == "" {
		return false
	}
	if lit, ok := strings.CutPrefix(host, "["); ok {
		lit, ok = strings.CutSuffix(lit, "]")
		if !ok {
			return false
		}
		if strings.HasPrefix(lit, "v") || strings.HasPrefix(lit, "V") { // IPvFuture
			ver, rest, ok := strings.Cut(lit[1:], ".")
			return ok && ver != "" && strings.Trim(strings.ToLower(ver), "0123456789abcdef") == "" &&
				rest != "" && isChars(rest, "-._~!$&'()*+,;=:", false)
		}
		addr, zone, hasZone := strings.Cut(lit, "%25")
		if strings.IndexByte(addr, '%') >= 0 || hasZone && (zone == "" || !isChars(zone, "-._~", true)) {
			return false // a zone is written "%25" (RFC 6874)
		}
		ip, err := netip.ParseAddr(addr)
		return err == nil && ip.Is6()
	}
	return isChars(host, "-._~!$&'()*+,;=", true)
}

// isChars reports whether s has only letters, digits, bytes of extra and,
// if pct, percent-encodings.
func isChars(s, extra string, pct bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte(extra, c) >= 0:
		case pct && c == '%' && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
