package endpoint

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Parse's error keeps url.Parse's words and its quotes but nothing of the
// URL: neither the "parse" operation that quotes the whole URL nor what
// the quotes held.
func TestParse_ErrorKeepsTheQuotesAndNothingBetweenThem(t *testing.T) {
	_, err := Parse("https://as.example:SECRET/keys")
	if err == nil || err.Error() != `invalid port "…" after host` {
		t.Errorf(`Parse = %v, want invalid port "…" after host`, err)
	}
}

// WithoutURL drops the URL (and the operation) of a *url.Error, which
// net/http's client returns quoting the request's whole URL, query
// included; any other error stays as it is.
func TestWithoutURL_DropsTheURLOfAURLError(t *testing.T) {
	ue := &url.Error{Op: "Post", URL: "https://as.example/introspect?key=SECRET", Err: io.ErrUnexpectedEOF}
	if got := WithoutURL(ue); got != io.ErrUnexpectedEOF || strings.Contains(got.Error(), "SECRET") {
		t.Errorf("WithoutURL(%v) = %v, want %v", ue, got, io.ErrUnexpectedEOF)
	}
	other := errors.New("other")
	if got := WithoutURL(other); got != other {
		t.Errorf("WithoutURL(other) = %v", got)
	}
}

// The name localhost is dialled on loopback without a lookup in any case
// (host names are case-insensitive), as Check lets plain http reach it in
// any case.
func TestNewClient_LocalhostInAnyCaseIsDialledWithoutALookup(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c := NewClient(5*time.Second, 2)
	defer c.CloseIdleConnections()
	for _, host := range []string{"LOCALHOST", "LocalHost"} {
		var lookups []string
		trace := &httptrace.ClientTrace{DNSStart: func(i httptrace.DNSStartInfo) { lookups = append(lookups, i.Host) }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, "http://"+host+":"+port+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET http://%s:%s/: %v", host, port, err)
		}
		resp.Body.Close()
		if len(lookups) != 0 {
			t.Errorf("%s: the dial looked up %q", host, lookups)
		}
	}
}

// A program whose default transport has no proxy gets a client without
// one, not a proxy function that would call a nil one.
func TestNewClient_DefaultTransportWithoutAProxyGivesNoProxy(t *testing.T) {
	orig := http.DefaultTransport
	std := orig.(*http.Transport).Clone()
	std.Proxy = nil
	http.DefaultTransport = std
	t.Cleanup(func() { http.DefaultTransport = orig })
	c := NewClient(5*time.Second, 2)
	defer c.CloseIdleConnections()
	if c.Transport.(*http.Transport).Proxy != nil {
		t.Error("client has a proxy function; the default transport had none")
	}
}

// When neither loopback address answers, the dial of localhost reports
// the first address's failure, 127.0.0.1's.
func TestNewClient_LocalhostDialFailureIsTheFirstAddresss(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	c := NewClient(5*time.Second, 2)
	defer c.CloseIdleConnections()
	_, err = c.Get("http://localhost:" + port + "/")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:"+port) {
		t.Errorf("GET = %v, want the failure to dial 127.0.0.1:%s", err, port)
	}
}

// Clip to fewer bytes than a character has cuts before that character,
// at the start too: the result is still valid text.
func TestClip_ShorterThanTheFirstCharacterKeepsNoneOfIt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"éé", 1, "…"},
		{"€€", 2, "…"},
		{"😀😀", 3, "…"},
	} {
		if got := Clip(tc.in, tc.max); got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// The response header limit is the documented 64 KiB (docs/README.md):
// headers of about 96 KiB are refused.
func TestNewClient_RefusesResponseHeadersOf96KiB(t *testing.T) {
	big := strings.Repeat("a", 4<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 96 << 10 / len(big) {
			w.Header().Set("X-Pad-"+string(rune('A'+i%26))+strings.Repeat("x", i/26), big)
		}
	}))
	defer srv.Close()
	c := NewClient(5*time.Second, 2)
	defer c.CloseIdleConnections()
	if resp, err := c.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Error("headers of about 96 KiB accepted, want an error past 64 KiB")
	}
}

// A configured URL with user info prints as the placeholder alone, a
// query or fragment it also has not marked after it.
func TestForConfig_UserInfoWithAQueryIsThePlaceholderAlone(t *testing.T) {
	for _, raw := range []string{"https://alice:SECRET@as.example/keys?key=SECRET", "https://alice:SECRET@as.example/keys#SECRET"} {
		if got := ForConfig(raw); got != userInfoURL {
			t.Errorf("ForConfig(%q) = %q, want %q", raw, got, userInfoURL)
		}
	}
}

// The loopback-Host guard applies only to a listener on a loopback
// address: a server listening on another address (or on all of them)
// answers whatever Host it is asked by.
func TestLoopbackHostsOnly_GuardsOnlyALoopbackListener(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, addr := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443},
		&net.TCPAddr{IP: net.IPv6unspecified, Port: 443},
		&net.UnixAddr{Name: "/run/s", Net: "unix"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://app.example/", nil)
		LoopbackHostsOnly(addr, ok).ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("listener on %v, Host app.example: status %d, want 200", addr, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	LoopbackHostsOnly(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, ok).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://app.example/", nil))
	if rec.Code != http.StatusMisdirectedRequest {
		t.Errorf("loopback listener, Host app.example: status %d, want %d", rec.Code, http.StatusMisdirectedRequest)
	}
}

// Redact, which callers also use for URLs they did not check (a
// redirect's target), drops the user info with the query and the
// fragment.
func TestRedact_DropsUserInfoQueryAndFragment(t *testing.T) {
	u, err := url.Parse("https://alice:SECRET@as.example/keys?key=SECRET#SECRET")
	if err != nil {
		t.Fatal(err)
	}
	if got := Redact(u); got != "https://as.example/keys" {
		t.Errorf("Redact = %q, want https://as.example/keys", got)
	}
}
