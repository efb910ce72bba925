package jwks

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
)

// firstFetchError starts a Set on cfg, waits for its first fetch and returns
// that fetch's error (nil on success).
func firstFetchError(t *testing.T, cfg Config) (*Set, error) {
	t.Helper()
	s, ft := startSet(t, cfg)
	ft.peek(t)
	if e := s.lastErr.Load(); e != nil {
		return s, e.err
	}
	return s, nil
}

func TestFetch_OversizeResponseRejected(t *testing.T) {
	body := jwksDoc(t, rsaJWK(t, 0, "a"))
	tests := []struct {
		name    string
		limit   int64
		chunked bool
		wantErr bool
	}{
		{"exactly at the limit", int64(len(body)), false, false},
		{"one byte over, with Content-Length", int64(len(body)) - 1, false, true},
		{"one byte over, chunked", int64(len(body)) - 1, true, true},
		{"far over, chunked", 64, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.chunked {
					for _, part := range bytes.SplitAfter(body, []byte(",")) {
						w.Write(part)
						w.(http.Flusher).Flush()
					}
					return
				}
				w.Write(body)
			}))
			t.Cleanup(srv.Close)
			s, err := firstFetchError(t, Config{URL: srv.URL, MaxResponseSize: tt.limit})
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "limit") || s.Current("a") != nil {
					t.Fatalf("fetch error = %v, key loaded = %v; want a size-limit failure and no key", err, s.Current("a") != nil)
				}
				return
			}
			if err != nil || s.Current("a") == nil {
				t.Fatalf("fetch error = %v; want key a loaded", err)
			}
		})
	}
}

func TestFetch_Non200Rejected(t *testing.T) {
	body := jwksDoc(t, rsaJWK(t, 0, "a"))
	for _, status := range []int{201, 203, 204, 206, 304, 400, 401, 403, 404, 429, 500, 502, 503} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			ts := newTestServer(t)
			ts.set("/keys", reply{status: status, body: body})
			s, err := firstFetchError(t, Config{URL: ts.URL + "/keys"})
			var se *statusError
			if !errors.As(err, &se) || se.code != status || s.Current("a") != nil {
				t.Fatalf("fetch error = %v; want status %d failure and no key", err, status)
			}
		})
	}
}

func TestFetch_SendsNoCredentials(t *testing.T) {
	ts := newTestServer(t)
	ts.set("/start", reply{status: http.StatusFound, header: map[string]string{"Location": "/keys"}})
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/start")})

	// A caller's client with a cookie jar holding a cookie for the issuer.
	jar, err := cookiejar.New(nil)
	must(t, err)
	u, _ := url.Parse(ts.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: "s3cret", Path: "/"}})
	client := &http.Client{Jar: jar}
	t.Cleanup(client.CloseIdleConnections)

	s, _ := startSet(t, Config{Issuer: ts.URL, Client: client})
	ready(t, s)
	for _, path := range []string{oidcPath, "/start", "/keys"} {
		hs := ts.requestHeaders(path)
		if len(hs) == 0 {
			t.Fatalf("no request for %s", path)
		}
		for _, h := range hs {
			for _, name := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
				if v := h.Get(name); v != "" {
					t.Errorf("request for %s carried %s: %q", path, name, v)
				}
			}
		}
	}
	if client.Jar != jar || client.CheckRedirect != nil {
		t.Error("the caller's client was modified")
	}
}

func TestFetch_RedirectPolicy(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(ts *testServer) string // returns the JWKS URL to configure
		wantErr string
	}{
		{"three redirects followed", func(ts *testServer) string {
			ts.set("/r1", reply{status: 302, header: map[string]string{"Location": "/r2"}})
			ts.set("/r2", reply{status: 301, header: map[string]string{"Location": "/r3"}})
			ts.set("/r3", reply{status: 307, header: map[string]string{"Location": "/keys"}})
			return ts.URL + "/r1"
		}, ""},
		{"four redirects refused", func(ts *testServer) string {
			ts.set("/r0", reply{status: 302, header: map[string]string{"Location": "/r1"}})
			ts.set("/r1", reply{status: 302, header: map[string]string{"Location": "/r2"}})
			ts.set("/r2", reply{status: 302, header: map[string]string{"Location": "/r3"}})
			ts.set("/r3", reply{status: 302, header: map[string]string{"Location": "/keys"}})
			return ts.URL + "/r0"
		}, "redirects"},
		{"redirect to plain http remote refused", func(ts *testServer) string {
			ts.set("/r", reply{status: 302, header: map[string]string{"Location": "http://example.com/keys"}})
			return ts.URL + "/r"
		}, "redirect refused"},
		{"redirect to another scheme refused", func(ts *testServer) string {
			ts.set("/r", reply{status: 302, header: map[string]string{"Location": "ftp://127.0.0.1/keys"}})
			return ts.URL + "/r"
		}, "redirect refused"},
		{"redirect with userinfo refused", func(ts *testServer) string {
			ts.set("/r", reply{status: 302, header: map[string]string{"Location": strings.Replace(ts.URL, "http://", "http://u:p@", 1) + "/keys"}})
			return ts.URL + "/r"
		}, "redirect refused"},
		// The target is the server's to name: an "@" in its path is no
		// password of the operator's (endpoint.CheckNamed).
		{"redirect to a path holding @ followed", func(ts *testServer) string {
			ts.set("/r", reply{status: 302, header: map[string]string{"Location": "/jwk/keys@example.com"}})
			ts.set("/jwk/keys@example.com", reply{status: 302, header: map[string]string{"Location": "/keys"}})
			return ts.URL + "/r"
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.setKeys(t, rsaJWK(t, 0, "a"))
			s, err := firstFetchError(t, Config{URL: tt.setup(ts)})
			if tt.wantErr == "" {
				if err != nil || s.Current("a") == nil {
					t.Fatalf("fetch error = %v, want key a", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ts.count("/keys") != 0 {
				t.Fatalf("fetch error = %v, /keys requests %d; want error containing %q and no JWKS request", err, ts.count("/keys"), tt.wantErr)
			}
		})
	}
}

// No hop of a redirect chain goes from https down to http: not the first
// (https -> http), and not a later one of a chain that started on loopback
// http (http -> https -> http): the check is per hop. The error names the
// redirect's rule, not an issuer's: the URL is configured, and no issuer
// named it.
func TestFetch_RedirectFromHTTPSToHTTPRefused(t *testing.T) {
	for _, viaPlainStart := range []bool{false, true} {
		plain := newTestServer(t)
		plain.setKeys(t, rsaJWK(t, 0, "a"))
		tlsSrv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/keys", http.StatusFound))
		t.Cleanup(tlsSrv.Close)
		url := tlsSrv.URL + "/keys"
		if viaPlainStart {
			start := httptest.NewServer(http.RedirectHandler(url, http.StatusFound))
			t.Cleanup(start.Close)
			url = start.URL + "/keys"
		}
		client := tlsSrv.Client()
		t.Cleanup(client.CloseIdleConnections)
		_, err := firstFetchError(t, Config{URL: url, Client: client})
		if err == nil || !strings.Contains(err.Error(), "a downgrade from https to http is refused: "+ruleRedirect) ||
			strings.Contains(err.Error(), "issuer") || plain.count("/keys") != 0 {
			t.Fatalf("chain starting on plain http %v: fetch error = %v; want the https-to-http hop refused", viaPlainStart, err)
		}
	}
}

func TestFetch_HTTPSServerWorks(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(jwksDoc(t, rsaJWK(t, 0, "a")))
	}))
	t.Cleanup(tlsSrv.Close)
	client := tlsSrv.Client()
	t.Cleanup(client.CloseIdleConnections)
	s, err := firstFetchError(t, Config{URL: tlsSrv.URL, Client: client})
	if err != nil || s.Current("a") == nil {
		t.Fatalf("fetch over https = %v", err)
	}
}

func TestFetch_ErrorsOmitQueryAndRefuseBadURL(t *testing.T) {
	ts := newTestServer(t)
	ts.set("/keys", reply{status: 500})
	_, err := firstFetchError(t, Config{URL: ts.URL + "/keys?api_key=s3cret"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("fetch error = %v; want a failure without the query", err)
	}
	ts2 := newTestServer(t)
	ts2.set("/keys", reply{hang: true})
	_, err = firstFetchError(t, Config{URL: ts2.URL + "/keys?api_key=s3cret"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("transport error = %v; want it without the query", err)
	}
	_, err = firstFetchError(t, Config{URL: "http://example.com/keys"})
	if err == nil || !errors.Is(err, errLoopbackOnly) {
		t.Fatalf("fetch of a plain-http remote URL = %v, want refused", err)
	}
	_, err = firstFetchError(t, Config{})
	if err == nil || !strings.Contains(err.Error(), "neither URL nor Issuer") {
		t.Fatalf("fetch without URL or Issuer = %v", err)
	}
}

// Without a client of its own, a Set uses the verifier's default client
// (endpoint.NewClient: bounded dial, header size and time, localhost dialled
// on loopback), not a bare clone of http.DefaultTransport.
func TestNewClient_NilIsTheDefaultEndpointClient(t *testing.T) {
	c, own := newClient(nil, 3*time.Second)
	tr, ok := c.Transport.(*http.Transport)
	if !own || !ok {
		t.Fatalf("newClient(nil) transport %T, own %v: want an *http.Transport of its own", c.Transport, own)
	}
	if _, own := newClient(&http.Client{}, 3*time.Second); own {
		t.Fatal("newClient(a caller's client) reports it as the Set's own")
	}
	if tr.MaxResponseHeaderBytes != endpoint.MaxResponseHeaderBytes || tr.ResponseHeaderTimeout != 3*time.Second || c.Timeout != 3*time.Second {
		t.Fatalf("newClient(nil): header limit %d, header timeout %v, timeout %v; want endpoint.NewClient's for 3s",
			tr.MaxResponseHeaderBytes, tr.ResponseHeaderTimeout, c.Timeout)
	}
	if c.Jar != nil || c.CheckRedirect == nil {
		t.Fatal("newClient(nil): want no cookie jar and the package's redirect policy")
	}
}

// FetchTimeout bounds the whole JWKS request, its body included: a server
// that sends its headers at once and then stalls in the body (a slow-loris
// issuer, or one that hangs halfway) fails the fetch at the deadline, with a
// caller's client that has no timeout of its own, and no half-read
// document is parsed.
func TestFetch_BodyStallingPastFetchTimeoutFailsTheFetch(t *testing.T) {
	body := jwksDoc(t, rsaJWK(t, 0, "a"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{} // no Timeout: only the Set's FetchTimeout ends the read
	t.Cleanup(client.CloseIdleConnections)
	// Short, yet ample for loopback headers to arrive before it (the test
	// is about the body; a deadline that ends the fetch before the headers
	// would fail it on "reading body"): the stall ends at it.
	const timeout = time.Second
	s, err := firstFetchError(t, Config{URL: srv.URL, Client: client, FetchTimeout: timeout})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "reading body") || s.Current("a") != nil {
		t.Fatalf("fetch error = %v, key loaded = %v; want the body read ended by FetchTimeout and no key", err, s.Current("a") != nil)
	}
	if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Key = %v, want ErrUnavailable, not a deadline of the caller's", err)
	}
}

// A key's x5u (RFC 7517, 4.6) and a jku are never fetched, and its x5c
// certificates are not the key: the key is the entry's own public members
// (here n/e of one key beside an x5c certifying another), and the Set
// requests no URL but the JWKS (and discovery) URL. A fetched x5u would let
// whoever controls that URL, or the path to it, take part in choosing the
// keys.
func TestFetch_X5UAndJKUAreNeverFetchedAndX5CIsNotTheKey(t *testing.T) {
	ts := newTestServer(t)
	ts.set("/x5u", reply{status: 500})
	ts.set("/jku", reply{status: 500})
	testKeys(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other key"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKeys[1].PublicKey, rsaKeys[1])
	must(t, err)
	entry := jwkJSON(t, &rsaKeys[0].PublicKey, "a", "RS256", map[string]any{
		"x5u": ts.URL + "/x5u", "jku": ts.URL + "/jku", "x5c": []string{base64.StdEncoding.EncodeToString(der)}})
	doc, err := json.Marshal(map[string]any{"keys": []json.RawMessage{entry}, "jku": ts.URL + "/jku"})
	must(t, err)
	ts.set("/keys", reply{body: doc})
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	ft.refreshNow(t) // a second fetch, the key already known
	if k := s.Current("a"); k == nil || !k.Public.(*rsa.PublicKey).Equal(&rsaKeys[0].PublicKey) {
		t.Fatalf("Current(a) = %v, want the entry's own RSA key, not its x5c's", k)
	}
	if n, m := ts.count("/x5u"), ts.count("/jku"); n != 0 || m != 0 {
		t.Fatalf("x5u requested %d times, jku %d times; want never", n, m)
	}
}
