package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrLoopbackOnly reports a plain-http URL whose host is not loopback.
var ErrLoopbackOnly = errors.New("plain http is allowed only for loopback hosts (localhost, 127.0.0.0/8, ::1)")

// ErrUserInfo reports a URL with userinfo, or with an "@" after its host,
// which is where the rest of a password holding "/", "?" or "#" lands: such
// a character ends the authority early, so url.Parse reads
// "https://alice:1234?pa@host" as host "alice:1234" and query "pa@host",
// and a request would go to the wrong host with the password in its query,
// path or fragment; or with an "@" and no "//" after its scheme
// (errOpaqueAt). An error wrapping it should quote nothing of the URL
// that may hold the password: its host and what follows included.
var ErrUserInfo = errors.New("URL must not contain userinfo")

// errAtAfterHost is ErrUserInfo for an "@" after the host.
var errAtAfterHost = fmt.Errorf(`%w: it holds "@" after its host, where a password holding "/", "?" or "#" puts the rest of itself (write an "@" of the path, query or fragment as %%40)`, ErrUserInfo)

// errOpaqueAt is ErrUserInfo for an "@" in a URL without "//" after its
// scheme ("https:user:pass@host", "user:pass@host"), which url.Parse
// keeps whole as opaque, userinfo and all.
var errOpaqueAt = fmt.Errorf(`%w: it has no //host and holds "@": write it in full, https://host/path, without userinfo`, ErrUserInfo)

// Check reports whether u is acceptable as an authorization server's URL: an
// absolute https URL, or plain http only when the host is loopback, so that
// development and test issuers work without a flag. It rejects other
// schemes, a missing host, and userinfo (credentials in a URL would be sent
// to, and logged by, every hop), also userinfo whose password holds a "/",
// "?" or "#" and so ends the authority early ("https://alice:1234/pa@host"
// is host "alice:1234" and path "/pa@host", "https://alice:1234?pa@host"
// host "alice:1234" and query "pa@host"): an "@" in the path, query or
// fragment is refused, "%40" is not; so is an "@" in a URL without "//"
// after its scheme, whose userinfo url.Parse keeps in Opaque
// ("https:alice:1234@host"). All these refusals wrap ErrUserInfo. Its
// errors do not repeat the URL; callers add a redacted form of it where
// that helps, and none for ErrUserInfo. A URL an authorization server
// named, rather than the operator, goes through CheckNamed instead.
func Check(u *url.URL) error { return check(u, false) }

// CheckNamed is Check for a URL that an authorization server named (a
// discovery document's jwks_uri, a redirect's target), not the operator:
// an "@" after its host is accepted, since it cannot be the rest of a
// password the operator wrote, and servers do name one (Firebase's
// jwks_uri is
// https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com).
// Userinfo is still refused, with ErrUserInfo.
func CheckNamed(u *url.URL) error { return check(u, true) }

// ErrIssuerQuery is CheckIssuer's error. Its text quotes nothing of the
// issuer, whose query may hold a secret: callers name the setting and
// show the URL without its userinfo, query or fragment where that helps.
var ErrIssuerQuery = errors.New("an issuer identifier has no query or fragment")

// CheckIssuer refuses raw, an issuer identifier as configured, when it
// has a query or a fragment, an empty one ("https://idp/?",
// "https://idp/#") too, with ErrIssuerQuery: RFC 8414, section 2 and
// OpenID Connect Discovery 1.0, section 3 forbid both, since discovery
// appends /.well-known/... to the issuer's path and a token's iss names
// it exactly. It reads raw as written, any "?" or "#" in it, because
// url.Parse keeps no trace of an empty fragment and only ForceQuery of an
// empty query; a "%3F" or "%23" is a character of the path, and is
// accepted. It is only the rule an issuer adds: callers check the rest
// of the URL (Check, or the part of it that applies) first, so that a
// "?" or "#" in a password is reported as userinfo. verifier.New,
// introspect.New and the items example's server and client share it.
func CheckIssuer(raw string) error {
	if strings.ContainsAny(raw, "?#") {
		return ErrIssuerQuery
	}
	return nil
}

// check is Check, or CheckNamed when named is set.
func check(u *url.URL, named bool) error {
	switch {
	case u.User != nil:
		return ErrUserInfo
	case !named && atAfterHost(u):
		return errAtAfterHost
	case !named && strings.Contains(u.Opaque, "@"):
		return errOpaqueAt
	case u.Scheme == "":
		return errors.New("URL has no scheme: write it in full, https://host/path")
	case u.Opaque != "":
		// "localhost:8080/realms/dev" parses as scheme "localhost" and
		// opaque "8080/realms/dev".
		return errors.New("URL has no //host: write it in full, https://host/path")
	case u.Hostname() == "":
		return errors.New("URL has no host")
	case strings.EqualFold(u.Scheme, "https"):
		return nil
	case !strings.EqualFold(u.Scheme, "http"):
		return errors.New("URL scheme must be https")
	case IsLoopback(u.Hostname()):
		return nil
	}
	return ErrLoopbackOnly
}

// atAfterHost reports whether u, as written, holds an "@" in its path,
// query or fragment. url.Parse keeps the path and fragment as written in
// RawPath and RawFragment when they differ from the default encoding of
// the decoded ones (a "%40" does), and leaves them empty when they do
// not, so that Path and Fragment are as written. EscapedPath and
// EscapedFragment would not do: they re-escape the decoded form, "%40"
// turned to "@", when the form as written holds a character they escape
// ("{").
func atAfterHost(u *url.URL) bool {
	path, fragment := u.RawPath, u.RawFragment
	if path == "" {
		path = u.Path
	}
	if fragment == "" {
		fragment = u.Fragment
	}
	return strings.Contains(path, "@") || strings.Contains(u.RawQuery, "@") || strings.Contains(fragment, "@")
}

// IsLoopback reports whether host (without port or brackets) names the
// loopback interface. Only the literal name "localhost" is trusted; other
// names are not resolved, so DNS cannot turn a remote host into a loopback
// one.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LowerLocalhost rewrites u's host, in place, to "localhost" when it names
// localhost in another case ("http://LOCALHOST:8080/keys", or any other
// spelling strings.EqualFold takes for it), and reports whether it did;
// any other URL is left as it is. Check lets plain http reach the name in
// any case, as loopback (IsLoopback), but Go's environment proxy
// (http.ProxyFromEnvironment, which http.DefaultTransport and so a given
// &http.Client{} use) goes direct only for "localhost" in lower case and
// for loopback addresses: a request for any other spelling went to
// HTTP_PROXY in clear text, where the proxy could read its credentials or
// answer in the server's place (a key set of its own). NewClient's
// transport never proxies a loopback host, but a client or transport the
// caller gave is its own, so every request to an authorization server's
// URL (discovery document, key set, token and introspection endpoints, a
// redirect's target) is made for the URL as LowerLocalhost leaves it.
// What is compared with a token or a discovery document (an issuer) is
// not rewritten. "localhost." is not loopback (IsLoopback), so plain http
// never reaches it, and no other host IsLoopback accepts is proxied.
func LowerLocalhost(u *url.URL) bool {
	host := u.Hostname()
	if host == "localhost" || !strings.EqualFold(host, "localhost") {
		return false
	}
	if port := u.Port(); port != "" {
		u.Host = "localhost:" + port
	} else {
		u.Host = "localhost"
	}
	return true
}

// LoopbackHostsOnly returns h, the handler of a server listening on addr,
// wrapped, when addr is a loopback TCP address, to refuse with 421
// Misdirected Request a request whose Host is not a loopback name
// (IsLoopback). Such a server has no other legitimate name: any other means
// DNS rebinding, a remote site whose name now resolves to this machine,
// whose pages would otherwise share the server's origin and read its
// answers from a browser on this machine. On any other address it returns h.
func LoopbackHostsOnly(addr net.Addr, h http.Handler) http.Handler {
	if a, ok := addr.(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if name, _, err := net.SplitHostPort(host); err == nil {
			host = name
		}
		if !IsLoopback(strings.Trim(host, "[]")) {
			http.Error(w, "misdirected request: this server answers to loopback names only", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// MaxResponseHeaderBytes bounds the response headers NewClient's clients
// read (the status line and header fields, over HTTP/1.1 and HTTP/2): 64
// KiB, far above the few KiB an authorization server sends, and far below
// net/http's default of 10 MiB, which a hostile or broken server could make
// every fetch hold.
const MaxResponseHeaderBytes = 64 << 10

// NewClient returns an HTTP client for requests to an authorization server:
// bounded dial, TLS-handshake and response-header times, the whole request
// bounded by timeout, response headers bounded by MaxResponseHeaderBytes,
// at most maxIdlePerHost idle connections kept per host, and no cookie jar.
// Like http.DefaultTransport, which it clones (or, when the program has
// replaced it with another type of RoundTripper, which cannot be cloned,
// a transport with net/http's default settings), it uses the proxy the
// environment names (http.ProxyFromEnvironment: HTTPS_PROXY, HTTP_PROXY,
// NO_PROXY), but never for a loopback host (directToLoopback), the
// system's root certificates and Go's default minimum of TLS 1.2. The name
// localhost is dialled on the loopback addresses, never looked up
// (dialLocalhost). Redirect policy is the caller's to set.
func NewClient(timeout time.Duration, maxIdlePerHost int) *http.Client {
	var t *http.Transport
	if std, ok := http.DefaultTransport.(*http.Transport); ok {
		t = std.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, MaxIdleConns: 100}
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && strings.EqualFold(host, "localhost") {
			return dialLocalhost(ctx, d, network, port)
		}
		return d.DialContext(ctx, network, addr)
	}
	t.Proxy = directToLoopback(t.Proxy)
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = timeout
	t.ExpectContinueTimeout = time.Second
	t.MaxResponseHeaderBytes = MaxResponseHeaderBytes
	t.MaxIdleConnsPerHost = maxIdlePerHost
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t, Timeout: timeout}
}

// directToLoopback returns proxy (which may be nil) made to answer "no
// proxy" for a loopback host (IsLoopback). Check lets plain http reach such
// a host because the request stays on this machine; through a proxy it
// would cross the network in clear text and reach the proxy's own
// loopback. http.ProxyFromEnvironment skips loopback hosts, but the name
// localhost only in lower case: http://LOCALHOST/ went to HTTP_PROXY.
func directToLoopback(proxy func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	if proxy == nil {
		return nil
	}
	return func(r *http.Request) (*url.URL, error) {
		if IsLoopback(r.URL.Hostname()) {
			return nil, nil
		}
		return proxy(r)
	}
}

// dialLocalhost dials port on 127.0.0.1, then on ::1. Check lets plain http
// reach the name localhost because it is loopback, but Go resolves it like
// any name (the hosts file, then DNS), so a host whose hosts file lacks it
// could send a token or client secret in clear text to whatever DNS
// answers. RFC 6761, section 6.3, lets a resolver answer localhost with
// loopback addresses only; this dials them without asking one.
func dialLocalhost(ctx context.Context, d *net.Dialer, network, port string) (net.Conn, error) {
	var first error
	for _, ip := range []string{"127.0.0.1", "::1"} {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip, port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// WithoutURL drops the URL a *url.Error carries (url.Parse's and
// http.Client's errors quote it whole, query and userinfo included, which
// may hold a secret the operator configured) and keeps the cause; any
// other error is returned as it is. Errors that reach logs go through it.
func WithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Parse is url.Parse with an error that repeats nothing of raw, whose
// userinfo or query may hold a secret the operator configured: not the URL
// (WithoutURL), nor the part of it that three of url.Parse's errors quote
// (a port, a percent-escape, a character of the host), replaced by "…". A
// "?", "#" or "/" in a password ends the authority early, so what
// url.Parse reports as an invalid port is the start of the password.
func Parse(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		msg := WithoutURL(err).Error()
		if i, j := strings.IndexByte(msg, '"'), strings.LastIndexByte(msg, '"'); i < j {
			msg = msg[:i+1] + "…" + msg[j:]
		}
		return nil, errors.New(msg)
	}
	return u, nil
}

// MaxErrorText bounds the text of a failure that ClipError lets into a log
// line or an error.
const MaxErrorText = 1024

// Clip returns s, text another party chose (an authorization server or
// whoever answers in its place, a caller, a token, code that panicked),
// cut to its first max bytes or fewer, at a UTF-8 boundary, with "…"
// marking the cut, so that it cannot make a log line or an error as long
// as a response, a method name or a token may be. It never copies more
// than that. The key set, the introspection client, the interceptors'
// records, celcond and tokencreds share it.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:cutAt(s, max)] + "…"
}

// cutAt is where Clip cuts s, longer than max bytes: before the character
// that s[max-1] is part of when that character runs past max; text that
// is not UTF-8 is cut at max, not walked back to its start.
func cutAt(s string, max int) int {
	n := max
	for i := max - 1; i >= 0 && i > max-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if r, size := utf8.DecodeRuneInString(s[i:]); (r != utf8.RuneError || size > 1) && i+size > max {
				n = i
			}
			break
		}
	}
	return n
}

// ClipSized is Clip with the full length of s noted after the cut,
// "…(70000 bytes)", for text whose size tells something: a method name or
// a claim a caller made long.
func ClipSized(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s(%d bytes)", Clip(s, max), len(s))
}

// ClipError is the text of err clipped to MaxErrorText bytes: a failure of
// a request may quote what the server sent (net/http quotes a malformed
// header line whole, up to the client's header limit, 10 MiB by default)
// or a URL a discovery document named.
func ClipError(err error) string { return Clip(err.Error(), MaxErrorText) }
