package connectauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	connectcors "connectrpc.com/cors"
	"golang.org/x/net/http/httpguts"

	"github.com/grpcauth/grpcauth/internal/redact"
)

// Headers a browser must be allowed to send and to read beyond what
// connectrpc.com/cors lists for the protocols themselves: the credentials
// (Authorization, and DPoP's proof) and the challenge a refusal carries
// (WWW-Authenticate, and DPoP-Nonce for a server that demands nonces).
// Each response name comes twice: a grpc-go server behind vanguard's
// transcoder sends them as gRPC trailers, which the Connect protocol
// carries in a unary response as headers prefixed with "Trailer-".
var (
	authRequestHeaders  = []string{"Authorization", "DPoP"}
	authResponseHeaders = []string{"WWW-Authenticate", "DPoP-Nonce", "Trailer-WWW-Authenticate", "Trailer-DPoP-Nonce"}
)

// The protocols' compression headers, which connectrpc.com/cors v0.1.0
// does not list: a page that compresses its requests or accepts compressed
// messages (connect-es's universal transports or connect-dart's, given
// compression; connect-web's own compress nothing) sends them, and
// must read the encoding of the messages it receives, or it cannot decode
// them. A Connect unary request names its encoding in Content-Encoding;
// its response's Content-Encoding the browser decodes itself, and is not
// exposed (a page that read it would decode the body twice). The browser
// sets Accept-Encoding itself.
var (
	encodingRequestHeaders  = []string{"Content-Encoding", "Connect-Content-Encoding", "Connect-Accept-Encoding", "Grpc-Encoding", "Grpc-Accept-Encoding"}
	encodingResponseHeaders = []string{"Connect-Content-Encoding", "Connect-Accept-Encoding", "Grpc-Encoding", "Grpc-Accept-Encoding"}
)

// CORS returns h behind a CORS policy that lets pages served from origins
// call it with the Connect, gRPC-Web and gRPC protocols, with or without
// their compression (the encoding headers Content-Encoding,
// Connect-Content-Encoding, Connect-Accept-Encoding, Grpc-Encoding and
// Grpc-Accept-Encoding, which connectrpc.com/cors does not list, are
// allowed, and those of a response's messages exposed), send an
// Authorization header and a DPoP proof, and read a refusal's status
// (grpc-status, grpc-message, grpc-status-details-bin, and the Connect
// protocol's error body) and its WWW-Authenticate and DPoP-Nonce headers,
// also as the Trailer-WWW-Authenticate and Trailer-DPoP-Nonce headers in
// which a Connect unary response through vanguard carries them without
// ChallengeHeaders.
//
// origins are origins such as "https://app.example.com" or
// "http://127.0.0.1:8080", normalised as NewCORS normalises them (a browser
// sends its Origin header in lower case, without a default port or a
// trailing "/"). A request from any other origin is served without CORS
// headers, so the browser withholds the response from the page. No
// cookies are involved: the token travels in a header the page sets, so
// the policy never allows credentials.
//
// CORS cannot return an error: an origin that NewCORS refuses ("*",
// "null", one with a path) never matches, and CORS logs it, once, as an
// error record of slog.Default(), and so it logs a call without any
// origin left, which serves every request without CORS headers, as if
// CORS were not there. It logs a nil h (or a nil pointer or func in it)
// likewise, and answers the requests that would reach h with 500
// Internal Server Error, rather than a panic on each (a preflight from a
// listed origin is still answered). Prefer NewCORS, which refuses all
// three.
func CORS(h http.Handler, origins ...string) http.Handler {
	if missing(h) {
		h = noHandler(errNoHandler("CORS", h))
	}
	var allowed []string
	for _, o := range origins {
		n, err := parseOrigin(o)
		if err != nil {
			slog.Default().Error("connectauth: CORS: ignoring an origin no browser sends", "err", err)
			continue
		}
		allowed = append(allowed, n)
	}
	if len(allowed) == 0 {
		slog.Default().Error("connectauth: CORS: no origin: pages on other origins cannot call the service")
	}
	return corsHandler(h, allowed, corsExtras{})
}

// CORSConfig configures NewCORS.
type CORSConfig struct {
	// Origins are the origins whose pages may call the service, each
	// spelled scheme://host or scheme://host:port, as a browser's Origin
	// header spells it ("https://app.example.com",
	// "http://127.0.0.1:8080"). NewCORS lower-cases the scheme and host,
	// drops a trailing "/", a port's leading zeros and the scheme's default
	// port (80 for http, 443 for https), and writes an IPv6 address as a
	// browser does ("[::1]"); it refuses anything else that no browser
	// sends, which would never match: a port above 65535, an IPv4 address
	// not in dotted decimal ("127.1"), "*" or a wildcard in the host such as
	// "https://*.example.com" (list the origins), "null" (the origin of
	// sandboxed frames and local files, which any site can make), a path,
	// query, fragment or user info, a host that is not ASCII (spell an
	// internationalised name in its punycode form, "xn--...") or that holds
	// a character URLs forbid in a host ("<", ">", "]", a second ":"). At
	// least one is needed.
	Origins []string

	// AllowedHeaders are request headers that pages may send beyond those
	// of the protocols (Content-Type, Connect-Protocol-Version, X-Grpc-Web,
	// ...) and the credentials (Authorization, DPoP): for instance
	// "traceparent" and "tracestate", which the OpenTelemetry web SDKs send
	// to propagate W3C Trace Context. Each is a header name; "*" is
	// refused: list the names. Default: none.
	AllowedHeaders []string

	// AllowedMethods are HTTP methods that pages may use beyond the
	// protocols' GET and POST: for instance "PUT", "PATCH" and "DELETE"
	// for REST routes that a transcoder such as Vanguard serves from the
	// same handler. Methods are case-sensitive, and browsers send a custom
	// one as the page wrote it (fetch upper-cases only DELETE, GET, HEAD,
	// OPTIONS, POST and PUT, and NewCORS lists those upper-cased too), so
	// list "PATCH" as the pages spell it. Each
	// is a method token; "*" is refused (list the methods), and so are
	// CONNECT, TRACE and TRACK, which browsers never send. Default: none.
	AllowedMethods []string

	// ExposedHeaders are response headers that pages may read beyond those
	// of the protocols (Grpc-Status, Grpc-Message, ...) and the
	// credentials (WWW-Authenticate, DPoP-Nonce and their trailer forms):
	// for instance a request id the service returns. Each is a header
	// name; "*" is refused: list the names. Default: none.
	ExposedHeaders []string
}

// NewCORS returns h behind the CORS policy of CORS, for cfg.Origins, also
// letting pages send cfg.AllowedHeaders, use cfg.AllowedMethods and read
// cfg.ExposedHeaders. It fails when h is nil (or a nil pointer or func in
// it, such as a *http.ServeMux variable left unset), when an origin, a
// header name or a method is malformed or refused (see CORSConfig) or when
// there is no origin.
func NewCORS(h http.Handler, cfg CORSConfig) (http.Handler, error) {
	if missing(h) {
		return nil, errNoHandler("NewCORS", h)
	}
	if len(cfg.Origins) == 0 {
		return nil, errors.New("connectauth: CORSConfig.Origins is empty")
	}
	var origins []string
	for _, o := range cfg.Origins {
		n, err := parseOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("connectauth: CORSConfig.Origins: %w", err)
		}
		origins = append(origins, n)
	}
	for _, f := range []struct {
		field string
		names []string
	}{{"AllowedHeaders", cfg.AllowedHeaders}, {"ExposedHeaders", cfg.ExposedHeaders}} {
		for _, name := range f.names {
			if name == "*" || !httpguts.ValidHeaderFieldName(name) {
				return nil, fmt.Errorf("connectauth: CORSConfig.%s: %q is not a header name (a wildcard is refused: list the names)", f.field, name)
			}
		}
	}
	methods := make([]string, 0, len(cfg.AllowedMethods))
	for _, m := range cfg.AllowedMethods {
		switch {
		case m == "*" || !httpguts.ValidHeaderFieldName(m): // a method is a token, as a header name is
			return nil, fmt.Errorf("connectauth: CORSConfig.AllowedMethods: %q is not a method (a wildcard is refused: list the methods)", m)
		case slices.ContainsFunc([]string{"CONNECT", "TRACE", "TRACK"}, func(f string) bool { return strings.EqualFold(f, m) }):
			return nil, fmt.Errorf("connectauth: CORSConfig.AllowedMethods: %q is a method browsers never send", m)
		}
		methods = append(methods, normalizeMethod(m))
	}
	return corsHandler(h, origins, corsExtras{headers: cfg.AllowedHeaders, methods: methods, exposed: cfg.ExposedHeaders}), nil
}

// normalizeMethod returns m as a browser sends it (Fetch, "normalize a
// method"): DELETE, GET, HEAD, OPTIONS, POST and PUT in upper case, in
// whatever case they were written, and any other method as written. A
// preflight's Access-Control-Allow-Methods is compared with the request's
// method byte for byte, so a listed "delete" would never match.
func normalizeMethod(m string) string {
	for _, n := range []string{"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"} {
		if strings.EqualFold(m, n) {
			return n
		}
	}
	return m
}

// corsExtras are what NewCORS allows beyond CORS's policy: request headers,
// methods and exposed response headers, each validated.
type corsExtras struct{ headers, methods, exposed []string }

// forbiddenHostBytes are the printable ASCII characters that WHATWG URL
// forbids in a host ("forbidden host code point"), which no browser's
// Origin header holds, and of which Go's url.Parse lets ":" (before a
// port), "<", ">" and "]" through. (A bracketed IPv6 host is checked as an
// address instead; "%" and non-ASCII bytes are refused before.)
const forbiddenHostBytes = " #/:<>?@[\\]^|"

// parseOrigin normalises a configured origin to the serialization a
// browser sends in its Origin header (RFC 6454, section 6.2): the scheme
// and host in lower case, no default port, no trailing "/". It refuses what
// a browser never sends.
func parseOrigin(s string) (string, error) {
	switch s {
	case "*":
		return "", errors.New(`"*" is not an origin: list each origin whose pages may call the service`)
	case "null":
		return "", errors.New(`"null" is refused: it is the origin of sandboxed frames, local files and redirected requests, which any site can make`)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%q is not an origin: want scheme://host[:port]", redact.UserInfo(s))
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(s, "#") {
		return "", fmt.Errorf("%q: an origin has no path, query or fragment", redact.UserInfo(s))
	}
	if strings.Contains(u.Host, "*") {
		return "", fmt.Errorf("%q: an origin has no wildcard: list each origin whose pages may call the service", s)
	}
	for _, c := range []byte(u.Host) {
		if c >= utf8.RuneSelf || c == '%' {
			return "", fmt.Errorf("%q: spell the host in ASCII, as a browser sends it (punycode for an internationalised name)", s)
		}
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return "", fmt.Errorf("%q is not an origin: no host", s)
	}
	if !strings.HasPrefix(u.Host, "[") && strings.ContainsAny(host, forbiddenHostBytes) {
		return "", fmt.Errorf("%q: the host holds a character no browser sends in one", s)
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return "", fmt.Errorf("%q: the port is not a number from 0 to 65535", s)
		}
		port = strconv.FormatUint(n, 10) // a browser drops leading zeros
	}
	host, err = ipHost(host, strings.HasPrefix(u.Host, "["))
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	if port != "" && !(u.Scheme == "http" && port == "80" || u.Scheme == "https" && port == "443") {
		host += ":" + port
	}
	return u.Scheme + "://" + host, nil
}

// ipHost returns host, an origin's lower-case host (without brackets), as
// a browser serialises it (WHATWG URL, "host serializing"): an IPv6
// address, bracketed says it is one, compressed as RFC 5952 has it
// ("[::1]", not "[0:0:0:0:0:0:0:1]"), and an IPv4-mapped one in hex
// ("[::ffff:102:304]"). A host a browser reads as an IPv4 address (its last
// label a number) must be one in dotted decimal already: a browser turns
// "127.1" or "0x7f.0.0.1" into "127.0.0.1", so either would never match.
func ipHost(host string, bracketed bool) (string, error) {
	if bracketed {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", errors.New("not an IPv6 address")
		}
		if a.Is4In6() {
			b := a.As16()
			return fmt.Sprintf("[::ffff:%x:%x]", uint16(b[12])<<8|uint16(b[13]), uint16(b[14])<<8|uint16(b[15])), nil
		}
		return "[" + a.String() + "]", nil
	}
	labels := strings.Split(host, ".")
	if len(labels) > 1 && labels[len(labels)-1] == "" {
		labels = labels[:len(labels)-1]
	}
	last := labels[len(labels)-1]
	hex, isHex := strings.CutPrefix(last, "0x")
	if strings.Trim(last, "0123456789") != "" && (!isHex || strings.Trim(hex, "0123456789abcdef") != "") {
		return host, nil // a name
	}
	if a, err := netip.ParseAddr(host); err != nil || !a.Is4() {
		return "", errors.New("write an IPv4 address as four decimal numbers without leading zeros, as a browser sends it")
	}
	return host, nil
}

// corsHandler is the policy of CORS and NewCORS: origins normalised by
// parseOrigin, extra's names validated by NewCORS.
func corsHandler(h http.Handler, origins []string, extra corsExtras) http.Handler {
	allowed := slices.Clone(origins)
	methods := strings.Join(union(connectcors.AllowedMethods(), extra.methods, func(a, b string) bool { return a == b }), ", ") // methods are case-sensitive
	allowedHeaders := strings.Join(union(connectcors.AllowedHeaders(), slices.Concat(encodingRequestHeaders, authRequestHeaders, extra.headers), strings.EqualFold), ", ")
	exposed := strings.Join(union(connectcors.ExposedHeaders(), slices.Concat(encodingResponseHeaders, authResponseHeaders, extra.exposed), strings.EqualFold), ", ")
	maxAge := strconv.Itoa(2 * 60 * 60)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if origin == "" || !slices.Contains(allowed, origin) {
			h.ServeHTTP(w, r)
			return
		}
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hdr.Add("Vary", "Access-Control-Request-Method")
			hdr.Add("Vary", "Access-Control-Request-Headers")
			hdr.Set("Access-Control-Allow-Methods", methods)
			hdr.Set("Access-Control-Allow-Headers", allowedHeaders)
			hdr.Set("Access-Control-Max-Age", maxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		hdr.Set("Access-Control-Expose-Headers", exposed)
		h.ServeHTTP(w, r)
	})
}

// union returns base followed by the names of more that base does not hold
// yet, by same.
func union(base, more []string, same func(a, b string) bool) []string {
	out := slices.Clone(base)
	for _, name := range more {
		if !slices.ContainsFunc(out, func(have string) bool { return same(have, name) }) {
			out = append(out, name)
		}
	}
	return out
}
