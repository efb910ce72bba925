package dpop

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/grpcauth/grpcauth/internal/ascii"
	"github.com/grpcauth/grpcauth/internal/redact"
)

// origin is a normalised scheme and authority: ASCII letters in lower
// case, without a default port.
type origin struct {
	scheme string // "http" or "https"
	host   string // host[:port], port only when not the scheme's default
}

// parseURL parses and normalises an absolute http or https URI as RFC 9449
// (section 4.3, item 9) compares htu: syntax-based and scheme-based
// normalisation (RFC 3986, sections 6.2.2 and 6.2.3), ignoring the query and
// fragment. It returns the origin and the normalised path ("/" when empty).
func parseURL(s string) (origin, string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return origin{}, "", errors.New("not a URI")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return origin{}, "", errors.New("not an http or https URI")
	}
	if u.Opaque != "" || u.User != nil || u.Host == "" {
		return origin{}, "", errors.New("not an absolute URI with a host and no user info")
	}
	host := normalizeHost(u.Host, u.Scheme)
	if host == "" || host[0] == ':' {
		return origin{}, "", errors.New("no host")
	}
	// The path as written: url.Parse keeps it in RawPath when it differs
	// from the default encoding of the decoded Path, and leaves RawPath
	// empty when it does not, EscapedPath (that encoding) then being as
	// written. EscapedPath alone would not do: when RawPath holds a
	// character it escapes ("|", "{", a space, a non-ASCII byte), it
	// encodes the decoded Path anew, in which "%2F" is "/", and
	// "/a%2Fb|c" (one segment after "/") would be "/a/b%7Cc" (two), the
	// htu of another resource. Nor would Path, decoded: "%3F" is "?"
	// there.
	path := u.RawPath
	if path == "" {
		path = u.EscapedPath()
	}
	return origin{scheme: u.Scheme, host: host}, normalizePath(path), nil
}

// parseOrigin parses a configured origin: scheme and authority, optionally
// followed by "/", nothing else.
func parseOrigin(s string) (origin, error) {
	o, path, err := parseURL(s)
	if err != nil {
		return origin{}, fmt.Errorf("%q: %w", redact.UserInfo(s), err)
	}
	u, _ := url.Parse(s) // parsed above
	if path != "/" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(s, "#") {
		return origin{}, fmt.Errorf("%q: an origin has no path, query or fragment", redact.UserInfo(s))
	}
	if strings.Contains(o.host, "*") { // a URI's host may hold "*" (a sub-delim), which no client would sign
		return origin{}, fmt.Errorf("%q: an origin names one host; wildcards are not supported", s)
	}
	return o, nil
}

// requestOrigin normalises the scheme and authority a request arrived with
// as parseURL normalises an htu's, so that percent-encodings in the host
// (an IPv6 zone's "%25", non-ASCII bytes) compare the same on both sides.
// It reports false for an authority that could not appear in a URI's host
// part.
func requestOrigin(scheme, authority string) (origin, bool) {
	scheme = ascii.Lower(scheme)
	if (scheme != "http" && scheme != "https") || authority == "" || strings.ContainsAny(authority, "/?#@ \t\r\n") {
		return origin{}, false
	}
	o, _, err := parseURL(scheme + "://" + authority)
	return o, err == nil
}

// normalizeHost lower-cases the ASCII letters of host[:port], and only
// those (RFC 3986, section 6.2.2.1: strings.ToLower would make a
// look-alike such as "İ" or the Kelvin sign, or any invalid UTF-8, match
// another host), and drops an empty port or the scheme's default one (80
// for http, 443 for https).
func normalizeHost(hostport, scheme string) string {
	hostport = ascii.Lower(hostport)
	colon := strings.LastIndexByte(hostport, ':')
	if colon < 0 || colon < strings.LastIndexByte(hostport, ']') {
		return hostport // no port (an IPv6 literal's colons are inside [])
	}
	port := hostport[colon+1:]
	if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return hostport[:colon]
	}
	return hostport
}

// normalizePath applies percent-encoding normalisation (unreserved
// characters decoded, other escapes in upper case) and removes dot
// segments (RFC 3986, sections 6.2.2.2, 6.2.2.3 and 5.2.4), those written
// "." and ".." only: a segment whose dots are percent-encoded ("%2E%2E",
// "%2e.", "%2E") is kept, as "%2E" for each dot. RFC 3986 makes "%2E" and
// "." the same, but servers route such a segment as a name: net/http's
// ServeMux redirects "/files/.." to "/" and serves "/files/%2E%2E" at
// "/files/{name}" (name ".."), so removing it would let a proof for "/"
// through at "/files/%2E%2E", a request the server tells from "/".
// RFC 9449 asks for the normalisation to spare clients false refusals
// (SHOULD); it is no reason to accept what the server routes elsewhere.
// For the same reason Verifier.Verify refuses a request path with a "."
// or ".." segment before it normalises it (hasDotSegment): only an htu's
// are removed.
// A byte that a
// URI never holds raw but a parser may let through (a space, one of
// `"<>[\]^{|}` and the backquote, a non-ASCII byte) is percent-encoded,
// as an HTTP client sends it, so that a path compares the same whichever
// side wrote it raw; an escape is never decoded into such a byte, nor
// into a "/". So is a "%" that starts no escape (a request's path may
// hold one; an htu's never does), as "%25", the literal "%" that lenient
// parsers take it for: kept as it was, it made an escape of what follows
// it once that was decoded ("%%32F" was "%2F", an escaped "/"). But in a
// path that also holds an escaped "/" ("%2F") and a byte that net/url's
// URL.EscapedPath re-escapes (one of those but "[" and "]"), these bytes
// are kept raw (rereadBySlash): EscapedPath, by which net/http's ServeMux routes, then encodes the
// decoded path anew, "%2F" a "/" there, so that ServeMux serves
// "/files/a%2Fb|c" at "/files/{dir}/{name}" and "/files/a%2Fb%7Cc" at
// "/files/{name}"; kept raw, they keep such a path from normalising as
// any path written without them. Control bytes, "?" and "#" are kept as
// they are: no htu's path holds them, so a request path that does matches
// none. An empty path is "/".
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	// Dot segments first: they are literal (an encoded dot is kept, and
	// normalizePercent never decodes one), and removing one can remove the
	// only "%2F" that rereadBySlash looks for, which decided afterwards
	// would make the result normalise anew to another path. A path that
	// does not start with "/" (no htu's or request's does) gets one here,
	// as removeDotSegments gives it: "%2E0" would otherwise become ".0",
	// and that "/.0".
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "/.") {
		p = removeDotSegments(p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '%' || mustEscape(p[i]) {
			p = normalizePercent(p, rereadBySlash(p))
			break
		}
	}
	return p
}

// mustEscape reports whether c may not appear raw in a URI (RFC 3986,
// section 2) and is no control byte, "%", "?" or "#" (which
// normalizePercent handles).
func mustEscape(c byte) bool {
	return c >= 0x80 || strings.IndexByte(" \"<>[\\]^`{|}", c) >= 0
}

// rereadBySlash reports whether p holds an escaped "/" and a byte that
// makes net/url's URL.EscapedPath encode the decoded path anew (a byte
// mustEscape reports but "[" and "]", which it lets through), so that
// net/http reads the "%2F" as a "/".
func rereadBySlash(p string) bool {
	if !strings.Contains(p, "%2F") && !strings.Contains(p, "%2f") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if mustEscape(p[i]) && p[i] != '[' && p[i] != ']' {
			return true
		}
	}
	return false
}

// normalizePercent is normalizePath's percent-encoding normalisation;
// keepRaw keeps the bytes mustEscape reports as they are.
func normalizePercent(p string, keepRaw bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if i == 0 || p[i-1] == '/' {
			end := strings.IndexByte(p[i:], '/')
			if end < 0 {
				end = len(p) - i
			}
			if n := encodedDots(p[i : i+end]); n > 0 {
				b.WriteString("%2E%2E"[:3*n])
				i += end - 1
				continue
			}
		}
		if mustEscape(c) && !keepRaw {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			b.WriteString("%25")
			continue
		}
		v := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(v) {
			b.WriteByte(v)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[v>>4])
			b.WriteByte(hex[v&0xf])
		}
		i += 2
	}
	return b.String()
}

// encodedDots returns the number of dots of seg when it is a dot segment
// with a dot percent-encoded ("%2E", "%2e.", "%2E%2E"), and 0 otherwise.
func encodedDots(seg string) int {
	if strings.IndexByte(seg, '%') < 0 {
		return 0
	}
	n := 0
	for seg != "" && n < 3 {
		switch {
		case seg[0] == '.':
			seg = seg[1:]
		case len(seg) >= 3 && seg[0] == '%' && seg[1] == '2' && (seg[2] == 'E' || seg[2] == 'e'):
			seg = seg[3:]
		default:
			return 0
		}
		n++
	}
	if seg != "" || n > 2 {
		return 0
	}
	return n
}

// hasDotSegment reports whether p has a segment "." or "..", as written:
// one whose dots are percent-encoded is no dot segment.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// removeDotSegments is RFC 3986, section 5.2.4, for a path that starts
// with "/" (a relative one is made absolute first).
func removeDotSegments(p string) string {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "") // "/a/." and "/a/b/.." keep the trailing slash
		}
	}
	return "/" + strings.Join(out, "/")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// isUnreserved reports whether c is ALPHA / DIGIT / "-" / "." / "_" / "~".
func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
