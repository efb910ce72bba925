package dpop

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	pathpkg "path"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestParseURL_NormalisesAsRFC3986(t *testing.T) {
	tests := []struct {
		in         string
		scheme     string
		host, path string
		wantErr    bool
	}{
		{in: "https://api.example.com/pkg.Svc/M", scheme: "https", host: "api.example.com", path: "/pkg.Svc/M"},
		{in: "HTTPS://API.Example.COM/pkg.Svc/M", scheme: "https", host: "api.example.com", path: "/pkg.Svc/M"},
		{in: "https://api.example.com:443/pkg.Svc/M", scheme: "https", host: "api.example.com", path: "/pkg.Svc/M"},
		{in: "http://api.example.com:80/pkg.Svc/M", scheme: "http", host: "api.example.com", path: "/pkg.Svc/M"},
		{in: "http://api.example.com:443/pkg.Svc/M", scheme: "http", host: "api.example.com:443", path: "/pkg.Svc/M"},
		{in: "https://api.example.com:/pkg.Svc/M", scheme: "https", host: "api.example.com", path: "/pkg.Svc/M"},
		{in: "https://api.example.com/pkg.Svc/M?x=1#frag", scheme: "https", host: "api.example.com", path: "/pkg.Svc/M"},
		{in: "https://api.example.com/pkg.%53vc/%4D", scheme: "https", host: "api.example.com", path: "/pkg.Svc/M"},
		{in: "https://api.example.com/a%2fb", scheme: "https", host: "api.example.com", path: "/a%2Fb"},
		{in: "https://api.example.com/a/b|c", scheme: "https", host: "api.example.com", path: "/a/b%7Cc"},
		{in: "https://api.example.com/a/b/\u00e9", scheme: "https", host: "api.example.com", path: "/a/b/%C3%A9"},
		{in: "https://api.example.com/a/b c{}^", scheme: "https", host: "api.example.com", path: "/a/b%20c%7B%7D%5E"},
		{in: "https://api.example.com/a%2Fb[c]", scheme: "https", host: "api.example.com", path: "/a%2Fb%5Bc%5D"},
		// With an escaped "/", a byte URL.EscapedPath re-escapes is kept
		// raw (net/http reads the "%2F" as a "/" then).
		{in: "https://api.example.com/a%2fb|c", scheme: "https", host: "api.example.com", path: "/a%2Fb|c"},
		{in: "https://api.example.com/a%2Fb/\u00e9%41", scheme: "https", host: "api.example.com", path: "/a%2Fb/\u00e9A"},
		{in: "https://api.example.com/a%2Fb c{}^[", scheme: "https", host: "api.example.com", path: "/a%2Fb c{}^["},
		{in: "https://api.example.com/a(b)%28|", scheme: "https", host: "api.example.com", path: "/a(b)%28%7C"},
		{in: "https://api.example.com/a%3Fb%23c%25", scheme: "https", host: "api.example.com", path: "/a%3Fb%23c%25"},
		{in: "https://api.example.com/x/../pkg.Svc/./M", scheme: "https", host: "api.example.com", path: "/pkg.Svc/M"},
		{in: "https://api.example.com/a/b/..", scheme: "https", host: "api.example.com", path: "/a/"},
		{in: "https://api.example.com/files/%2E%2E", scheme: "https", host: "api.example.com", path: "/files/%2E%2E"},
		{in: "https://api.example.com/a/%2e./.%2E/%2e/b/%2E%2E%2E/c%2E%2E", scheme: "https", host: "api.example.com", path: "/a/%2E%2E/%2E%2E/%2E/b/.../c.."},
		{in: "https://api.example.com/a/%2E%2E/../b/%2E/./c", scheme: "https", host: "api.example.com", path: "/a/b/%2E/c"},
		{in: "https://api.example.com", scheme: "https", host: "api.example.com", path: "/"},
		{in: "https://[::1]:443/p", scheme: "https", host: "[::1]", path: "/p"},
		{in: "https://[::1]:8443/p", scheme: "https", host: "[::1]:8443", path: "/p"},
		{in: "https://user:pw@api.example.com/p", wantErr: true},
		{in: "ftp://api.example.com/p", wantErr: true},
		{in: "/pkg.Svc/M", wantErr: true},
		{in: "https:opaque", wantErr: true},
		{in: "https://api.example.com/%zz", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		o, path, err := parseURL(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseURL(%q) = %v %q, want an error", tt.in, o, path)
			}
			continue
		}
		if err != nil || o.scheme != tt.scheme || o.host != tt.host || path != tt.path {
			t.Errorf("parseURL(%q) = %+v %q %v, want %s %s %s", tt.in, o, path, err, tt.scheme, tt.host, tt.path)
		}
	}
}

// Only ASCII letters are compared without case (RFC 3986, section 6.2.2.1):
// strings.ToLower would make "İ" (U+0130) an "i" and the Kelvin sign
// (U+212A) a "k", so that a proof made for a look-alike host named another,
// and passed Config.OnlyOrigins.
func TestParseURL_FoldsOnlyASCIICase(t *testing.T) {
	for _, s := range []string{"https://\u0130tems.example/p", "https://%C4%B0tems.example/p", "https://\u212Aey.example/p"} {
		o, _, err := parseURL(s)
		if err != nil {
			continue
		}
		if o.host == "items.example" || o.host == "key.example" {
			t.Errorf("parseURL(%q): host %q, an ASCII host it does not name", s, o.host)
		}
		if r, ok := requestOrigin("https", "items.example"); ok && r == o {
			t.Errorf("parseURL(%q) = %+v, the origin of a request to items.example", s, o)
		}
	}
	if o, _, err := parseURL("https://\u00C0.EXAMPLE/p"); err != nil || o.host != "\u00C0.example" {
		t.Errorf("parseURL: host %q %v, want its ASCII letters only in lower case", o.host, err)
	}
}

func TestRequestOrigin_RefusesAuthoritiesThatAreNotHosts(t *testing.T) {
	for _, a := range []string{"", "evil.com/x", "a@b", "a b", "a?b", "a#b"} {
		if o, ok := requestOrigin("http", a); ok {
			t.Errorf("requestOrigin(http, %q) = %+v, want refused", a, o)
		}
	}
	if _, ok := requestOrigin("ws", "a"); ok {
		t.Error("requestOrigin accepted scheme ws")
	}
	if o, ok := requestOrigin("HTTPS", "Api.Example.com:443"); !ok || o != (origin{"https", "api.example.com"}) {
		t.Errorf("requestOrigin = %+v %v", o, ok)
	}
}

func TestParseOrigin_RefusesPathQueryAndFragment(t *testing.T) {
	for _, s := range []string{"https://a.example/x", "https://a.example?q", "https://a.example#f", "https://a.example/?", "a.example"} {
		if _, err := parseOrigin(s); err == nil {
			t.Errorf("parseOrigin(%q) accepted", s)
		}
	}
	for _, s := range []string{"https://a.example", "https://a.example/", "HTTPS://A.example:443"} {
		if o, err := parseOrigin(s); err != nil || o != (origin{"https", "a.example"}) {
			t.Errorf("parseOrigin(%q) = %+v, %v", s, o, err)
		}
	}
}

// FuzzParseURL checks that URL normalisation never panics, is
// idempotent (a normalised URL normalises to itself), and keeps the
// path's segments: without dot segments, the normalised path has the
// segments of the path as written, each decoding to the same bytes, so
// that an escaped "/" ("%2F") is never a segment boundary, nor a "/" part
// of a segment, whatever else the path holds.
//
//	go test -run '^$' -fuzz FuzzParseURL ./dpop
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"https://a.example/p", "HTTP://A:80/./x/../y?q#f", "https://[::1]:443/%7e%2f", "https://a.example:/", "http://a/b/c/./../../g", "https://a/%41%zz", "https://a/b%2Fc|d", "https://a/b%2f\u00e9?x", "https://a/files/%2E%2E/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, path, err := parseURL(s)
		if err != nil {
			return
		}
		if o.scheme != "http" && o.scheme != "https" || !strings.HasPrefix(path, "/") {
			t.Fatalf("parseURL(%q) = %+v %q", s, o, path)
		}
		o2, path2, err := parseURL(o.scheme + "://" + o.host + path)
		if err != nil || o2 != o || path2 != path {
			t.Fatalf("not idempotent: %q -> %+v %q -> %+v %q %v", s, o, path, o2, path2, err)
		}
		written := writtenPath(s)
		if written == "" {
			return
		}
		if hasDotSegment(written) {
			return
		}
		want := lenientSegments(written) // url.Parse accepted no "%" that starts no escape
		if got := lenientSegments(path); !slices.Equal(got, want) {
			t.Fatalf("parseURL(%q): path %q has the segments %q, want %q", s, path, got, want)
		}
	})
}

// FuzzNormalizePath checks that a request's path, whatever its bytes,
// normalises to a fixed point that has its segments: without dot
// segments, each segment of the normalised path decodes to the bytes its
// counterpart does, a "%" that starts no escape taken for a literal "%"
// (as lenient parsers take it), so that no escape is made up nor lost.
// And net/http's ServeMux routes a path net/url parses as it routes the
// normalised path (the same segments), unless it redirects the path; so
// does a real ServeMux, also behind http.StripPrefix, with the same
// pattern, wildcard values ({name...} ones too) and decoded path (by
// which vanguard and connect-go's generated handlers route): then two
// paths that normalise alike never reach two handlers.
//
//	go test -run '^$' -fuzz FuzzNormalizePath ./dpop
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/pkg.Service/Method", "/files/a%2Fb|c", "/a%%32Fb", "/a%%37A", "/%", "/a%zz/\u00e9", "/./a/../b", "/a%2E%2E/b", "/files/%2E%2E", "/a/%2e./../%2E/b", "/api/files/a%2Fb|c", "/api/a/b/c/d/e%2F%7C/f", "/a/b/c/d/e%2Ff|/g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		n := normalizePath(p)
		if again := normalizePath(n); again != n {
			t.Fatalf("normalizePath(%q) = %q, which normalises to %q", p, n, again)
		}
		if !strings.HasPrefix(p, "/") {
			return
		}
		if hasDotSegment(p) {
			return
		}
		want := lenientSegments(p)
		if got := lenientSegments(n); !slices.Equal(got, want) {
			t.Fatalf("normalizePath(%q) = %q, whose segments decode to %q, want %q", p, n, got, want)
		}
		if segs, routed := muxSegments(p); routed {
			if got, _ := muxSegments(n); !slices.Equal(got, segs) {
				t.Fatalf("ServeMux routes %q at the segments %q, and its normalisation %q at %q", p, segs, n, got)
			}
		}
		if route, served := serveMuxRoute(p); served {
			if got, _ := serveMuxRoute(n); got != route {
				t.Fatalf("%q is served as %s, and its normalisation %q as %s", p, route, n, got)
			}
		}
	})
}

// serveMuxRoute serves a GET for path through a real net/http ServeMux,
// with single, trailing-slash, {$} and multi-segment ({rest...}) wildcard
// patterns, and through an http.StripPrefix("/api") in front of another
// such ServeMux; it returns the patterns and wildcard values each served
// the request with, and the decoded path its handler got (URL.Path, by
// which vanguard and connect-go's generated handlers route), and false when net/url refuses the path or neither
// served it (a redirect or a 404 reaches no handler).
func serveMuxRoute(path string) (string, bool) {
	u, err := url.ParseRequestURI(path)
	if err != nil || u.RawQuery != "" || u.ForceQuery {
		return "", false
	}
	var b strings.Builder
	served := false
	for _, h := range routers() {
		r := &http.Request{Method: http.MethodGet, URL: new(*u), Host: "h", RequestURI: path, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			served = true
			b.WriteString(w.Body.String())
		}
		b.WriteString(" | ")
	}
	return b.String(), served
}

// routers is serveMuxRoute's handlers.
var routers = sync.OnceValue(func() []http.Handler {
	mux := func() *http.ServeMux {
		m := http.NewServeMux()
		for _, pat := range []string{"/{a}", "/{a}/{$}", "/{a}/{b}", "/{a}/{b}/{$}", "/{a}/{b}/{c}", "/{a}/{b}/{c}/", "/{a}/{b}/{c}/{d}", "/{a}/{b}/{c}/{d}/{rest...}"} {
			m.HandleFunc(pat, func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s %q %q %q %q %q %q", r.Pattern, r.PathValue("a"), r.PathValue("b"), r.PathValue("c"), r.PathValue("d"), r.PathValue("rest"), r.URL.Path)
			})
		}
		return m
	}
	return []http.Handler{mux(), http.StripPrefix("/api", mux())}
})

// muxSegments returns the segments at which net/http's ServeMux routes a
// request for path, and false when net/url refuses the path or ServeMux
// redirects it (to its cleaned path): ServeMux cleans URL.EscapedPath
// and matches its segments each percent-decoded.
func muxSegments(path string) ([]string, bool) {
	u, err := url.ParseRequestURI(path)
	if err != nil || u.Opaque != "" || u.RawQuery != "" || u.ForceQuery {
		return nil, false
	}
	e := u.EscapedPath()
	clean := pathpkg.Clean(e)
	if strings.HasSuffix(e, "/") && clean != "/" {
		clean += "/"
	}
	if clean != e {
		return nil, false
	}
	segs := strings.Split(e, "/")
	for i, seg := range segs {
		if segs[i], err = url.PathUnescape(seg); err != nil {
			return nil, false
		}
	}
	return segs, true
}

// lenientSegments splits path at its "/"s and percent-decodes each
// segment, a "%" that starts no escape taken as it is.
func lenientSegments(path string) []string {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		var b strings.Builder
		for j := 0; j < len(seg); j++ {
			if seg[j] == '%' && j+2 < len(seg) && isHex(seg[j+1]) && isHex(seg[j+2]) {
				b.WriteByte(unhex(seg[j+1])<<4 | unhex(seg[j+2]))
				j += 2
				continue
			}
			b.WriteByte(seg[j])
		}
		segs[i] = b.String()
	}
	return segs
}

// writtenPath is the path of the absolute URI s as written: what follows
// its authority, up to its query or fragment.
func writtenPath(s string) string {
	s, _, _ = strings.Cut(s, "#")
	s, _, _ = strings.Cut(s, "?")
	_, s, _ = strings.Cut(s, "//")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[i:]
	}
	return ""
}

// FuzzHTUForLog checks that an htu an error quotes never carries text of
// its query or fragment (what follows its first "?" or "#"), nor of a
// user info (what comes between "https://" and an "@" with no "@" after
// it), whatever else the htu holds.
//
//	go test -run '^$' -fuzz FuzzHTUForLog ./dpop
func FuzzHTUForLog(f *testing.F) {
	for _, s := range [][3]string{{"https://a.example/x", "?", "tok"}, {"https://a.example/x", "?to=a@", "b/x"}, {"https://u:", "#", "@a.example/x"}, {"https://a/b;c", "?", "d"}, {"https:", "//", "u:p@h"}} {
		f.Add(s[0], s[1], s[2])
	}
	const secret = "\x00SECRET\x00"
	f.Fuzz(func(t *testing.T, before, sep, after string) {
		if strings.Contains(before+sep+after, secret) {
			return
		}
		if sep != "" && (sep[0] == '?' || sep[0] == '#') && !strings.ContainsAny(before, "?#") {
			htu := before + sep + secret + after
			if got := htuForLog(htu); strings.Contains(got, "SECRET") {
				t.Fatalf("htuForLog(%q) = %q quotes its query or fragment", htu, got)
			}
		}
		if !strings.Contains(after, "@") {
			htu := "https://" + before + secret + sep + "@" + after
			if got := htuForLog(htu); strings.Contains(got, "SECRET") {
				t.Fatalf("htuForLog(%q) = %q quotes its user info", htu, got)
			}
		}
	})
}
