package jwks

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	oidcPath  = "/.well-known/openid-configuration"
	oauthPath = "/.well-known/oauth-authorization-server"
)

func TestDiscovery_OpenIDConfiguration(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/keys")})
	ts.set(oauthPath, reply{status: 500})
	s, ft := startSet(t, Config{Issuer: ts.URL})
	ready(t, s)
	if s.Current("a") == nil {
		t.Fatal("key a not loaded through discovery")
	}
	ft.refreshNow(t)
	if got := ts.count(oidcPath); got != 1 {
		t.Errorf("openid-configuration fetched %d times over two refreshes, want 1 (cached)", got)
	}
	if got := ts.count(oauthPath); got != 0 {
		t.Errorf("oauth-authorization-server fetched %d times, want 0", got)
	}
	if got := ts.count("/keys"); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2", got)
	}
	if st := s.Stats(); st.Discoveries != 1 || st.Fetches != 2 {
		t.Errorf("Stats = %+v, want 1 discovery and 2 fetches", st)
	}
}

func TestDiscovery_FallsBackToOAuthAuthorizationServer(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ts.set(oauthPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/keys")})
	s, _ := startSet(t, Config{Issuer: ts.URL})
	ready(t, s)
	if s.Current("a") == nil {
		t.Fatal("key a not loaded through RFC 8414 metadata")
	}
	if ts.count(oidcPath) != 1 || ts.count(oauthPath) != 1 {
		t.Fatalf("requests: openid %d, oauth %d; want 1 each", ts.count(oidcPath), ts.count(oauthPath))
	}
}

func TestDiscovery_RFC8414PathInsertionForIssuerWithPath(t *testing.T) {
	ts := newTestServer(t)
	issuer := ts.URL + "/tenant1"
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ts.set(oauthPath+"/tenant1", reply{body: discoveryDoc(t, issuer, ts.URL+"/keys")})
	s, _ := startSet(t, Config{Issuer: issuer})
	ready(t, s)
	if s.Current("a") == nil {
		t.Fatal("key a not loaded")
	}
}

func TestDiscoveryURLs_Order(t *testing.T) {
	tests := []struct {
		issuer string
		want   []string
	}{
		{"https://a.example", []string{"https://a.example" + oidcPath, "https://a.example" + oauthPath}},
		{"https://a.example/", []string{"https://a.example" + oidcPath, "https://a.example" + oauthPath}},
		{"https://a.okta.com/oauth2/default", []string{
			"https://a.okta.com/oauth2/default" + oidcPath,
			"https://a.okta.com/oauth2/default" + oauthPath,
			"https://a.okta.com" + oauthPath + "/oauth2/default",
		}},
	}
	for _, tt := range tests {
		if got := discoveryURLs(tt.issuer); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("discoveryURLs(%q) = %q, want %q", tt.issuer, got, tt.want)
		}
	}
}

func TestDiscovery_IssuerMismatchRejected(t *testing.T) {
	tests := []struct {
		name      string
		cfgIssuer func(base string) string
		docIssuer func(base string) string
	}{
		{"another issuer", func(b string) string { return b }, func(b string) string { return "https://evil.example" }},
		{"document adds a trailing slash", func(b string) string { return b }, func(b string) string { return b + "/" }},
		{"config has a trailing slash", func(b string) string { return b + "/" }, func(b string) string { return b }},
		{"different case", func(b string) string { return b }, func(b string) string { return strings.ToUpper(b) }},
		{"empty issuer", func(b string) string { return b }, func(b string) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.setKeys(t, rsaJWK(t, 0, "a"))
			doc := reply{body: discoveryDoc(t, tt.docIssuer(ts.URL), ts.URL+"/keys")}
			ts.set(oidcPath, doc)
			ts.set(oauthPath, doc)
			s, ft := startSet(t, Config{Issuer: tt.cfgIssuer(ts.URL)})
			ft.next(t) // first fetch done
			if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "does not equal the configured issuer") {
				t.Fatalf("Key = %v, want ErrUnavailable for the issuer mismatch", err)
			}
			if got := ts.count("/keys"); got != 0 {
				t.Fatalf("JWKS fetched %d times from a mismatched document, want 0", got)
			}
		})
	}
}

func TestDiscovery_JWKSURIFailingCheckURLRejected(t *testing.T) {
	for _, uri := range []string{"http://example.com/keys", "ftp://127.0.0.1/keys", "https://user:pw@example.com/keys", "/keys", ""} {
		t.Run(uri, func(t *testing.T) {
			ts := newTestServer(t)
			ts.setKeys(t, rsaJWK(t, 0, "a"))
			ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, uri)})
			s, ft := startSet(t, Config{Issuer: ts.URL})
			ft.next(t)
			if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "jwks_uri") {
				t.Fatalf("Key = %v, want ErrUnavailable naming jwks_uri", err)
			}
			if strings.Contains(s.lastErr.Load().err.Error(), "pw@") {
				t.Fatal("error leaks userinfo")
			}
		})
	}
}

func TestDiscovery_RedoneAfterFailureCachedAfterSuccess(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ts.set(oidcPath, reply{status: 503})
	s, ft := startSet(t, Config{Issuer: ts.URL})
	if w := ft.peek(t); w.d != backoffBase {
		t.Fatalf("wait after failed discovery = %v, want back-off %v", w.d, backoffBase)
	}
	if s.Current("a") != nil || ts.count("/keys") != 0 {
		t.Fatal("keys loaded without discovery")
	}
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/keys")})
	ft.refreshNow(t)
	ft.refreshNow(t)
	if s.Current("a") == nil {
		t.Fatal("key a not loaded after discovery recovered")
	}
	if got := ts.count(oidcPath); got != 2 {
		t.Fatalf("openid-configuration fetched %d times, want 2 (failed, then once and cached)", got)
	}
}

func TestDiscovery_RedoneWhenDiscoveredJWKSURLFails(t *testing.T) {
	ts := newTestServer(t)
	ts.set("/old-keys", reply{body: jwksDoc(t, rsaJWK(t, 0, "a"))})
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/old-keys")})
	s, ft := startSet(t, Config{Issuer: ts.URL})
	ready(t, s)
	// The issuer moves its keys.
	ts.set("/old-keys", reply{status: 404})
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/keys")})
	ft.refreshNow(t) // fails on /old-keys and forgets it
	ft.refreshNow(t) // rediscovers
	if ts.count("/keys") != 1 || ts.count(oidcPath) != 2 {
		t.Fatalf("requests: /keys %d, discovery %d; want 1 and 2", ts.count("/keys"), ts.count(oidcPath))
	}
}

func TestDiscovery_UnreachableIssuerTriesNoFurtherDocuments(t *testing.T) {
	ts := newTestServer(t)
	ts.set(oidcPath, reply{hang: true})
	ts.set(oauthPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/keys")})
	_, ft := startSet(t, Config{Issuer: ts.URL})
	ft.next(t)
	if got := ts.count(oauthPath); got != 0 {
		t.Fatalf("oauth-authorization-server requested %d times after a network failure, want 0", got)
	}
}

// An issuer that answers a discovery document with 429 or 503 is
// rate-limiting or overloaded: the next document, on the same host, is not
// asked at once, but with the next attempt after the back-off (and the
// Retry-After).
func TestDiscovery_BusyIssuerTriesNoFurtherDocuments(t *testing.T) {
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			ts := newTestServer(t)
			ts.set(oidcPath, reply{status: code, header: map[string]string{"Retry-After": "60"}})
			ts.set(oauthPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+"/keys")})
			_, ft := startSet(t, Config{Issuer: ts.URL})
			w := ft.next(t)
			if got := ts.count(oauthPath); got != 0 {
				t.Fatalf("oauth-authorization-server requested %d times right after a %d, want 0", got, code)
			}
			if got := w.span(t, nil); got != time.Minute {
				t.Errorf("wait after %d with Retry-After 60 = %v, want 1m", code, got)
			}
		})
	}
}

// A document other than the first that answers 429 or 503 ends the round
// too, after documents that answered 404: its Retry-After, joined with
// their errors, still sets the back-off (before, errors.As found the first
// document's 404 and the back-off was a second).
func TestDiscovery_RetryAfterOfALaterDocumentSetsTheBackOff(t *testing.T) {
	for _, tt := range []struct {
		name, issuerPath, busy string
		code                   int
	}{
		{"second document 429", "", oauthPath, http.StatusTooManyRequests},
		{"second document 503", "", oauthPath, http.StatusServiceUnavailable},
		{"third document 429", "/tenant1", oauthPath + "/tenant1", http.StatusTooManyRequests},
		{"third document 503", "/tenant1", oauthPath + "/tenant1", http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t) // every other document is a 404
			ts.set(tt.busy, reply{status: tt.code, header: map[string]string{"Retry-After": "60"}})
			_, ft := startSet(t, Config{Issuer: ts.URL + tt.issuerPath})
			w := ft.next(t)
			if got := ts.count(tt.busy); got != 1 {
				t.Fatalf("busy document requested %d times, want 1", got)
			}
			if got := w.span(t, nil); got != time.Minute {
				t.Errorf("wait after a %d with Retry-After 60 = %v, want 1m", tt.code, got)
			}
		})
	}
}

func TestParseDiscovery(t *testing.T) {
	const iss = "https://a.example/oauth2/default"
	tests := []struct {
		name, body string
		want       string
		wantErr    string
		issuer     string // iss when empty
	}{
		{"ok", `{"issuer":"` + iss + `","jwks_uri":"https://a.example/keys"}`, "https://a.example/keys", "", ""},
		{"ok loopback http for a loopback http issuer", `{"issuer":"http://127.0.0.1:8080","jwks_uri":"http://127.0.0.1:8080/keys"}`, "http://127.0.0.1:8080/keys", "", "http://127.0.0.1:8080"},
		{"ok https for a loopback http issuer", `{"issuer":"http://localhost:8080","jwks_uri":"https://a.example/keys"}`, "https://a.example/keys", "", "http://localhost:8080"},
		{"loopback http for an https issuer", `{"issuer":"` + iss + `","jwks_uri":"http://127.0.0.1:8080/keys"}`, "", "downgrade from https to http is refused: " + ruleIssuer, ""},
		{"loopback http for an HTTPS issuer", `{"issuer":"HTTPS://a.example","jwks_uri":"http://localhost:8080/keys"}`, "", "downgrade from https to http is refused: " + ruleIssuer, "HTTPS://a.example"},
		{"not JSON", `<html>`, "", "not valid JSON", ""},
		{"issuer wrong type", `{"issuer":1,"jwks_uri":"https://a.example/keys"}`, "", "not valid JSON", ""},
		{"missing issuer", `{"jwks_uri":"https://a.example/keys"}`, "", "does not equal", ""},
		{"trailing slash", `{"issuer":"` + iss + `/","jwks_uri":"https://a.example/keys"}`, "", "does not equal", ""},
		{"missing jwks_uri", `{"issuer":"` + iss + `"}`, "", "no jwks_uri", ""},
		{"http remote jwks_uri", `{"issuer":"` + iss + `","jwks_uri":"http://a.example/keys"}`, "", "jwks_uri refused", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer := cmp.Or(tt.issuer, iss)
			got, err := parseDiscovery([]byte(tt.body), issuer)
			if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("parseDiscovery = %q, %v; want %q, error containing %q", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// deadlineRecorder is an http.RoundTripper that records the path and the
// context deadline of every request it passes on.
type deadlineRecorder struct {
	tr        *http.Transport
	mu        sync.Mutex
	paths     []string
	deadlines []time.Time
}

func newDeadlineRecorder(t *testing.T) *deadlineRecorder {
	d := &deadlineRecorder{tr: &http.Transport{}}
	t.Cleanup(d.tr.CloseIdleConnections)
	return d
}

func (d *deadlineRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	dl, _ := r.Context().Deadline()
	d.mu.Lock()
	d.paths, d.deadlines = append(d.paths, r.URL.Path), append(d.deadlines, dl)
	d.mu.Unlock()
	return d.tr.RoundTrip(r)
}

// A discovery round asks up to three documents, and each may answer just
// before FetchTimeout (a slow 404): with a deadline per document the round
// could last three FetchTimeouts, and the fetch four with the JWKS request.
// One deadline bounds the round: every document is asked under the
// deadline the first one got, and the document that never answers ends
// there.
func TestDiscovery_OneFetchTimeoutBoundsTheWholeRound(t *testing.T) {
	ts := newTestServer(t)
	issuer := ts.URL + "/tenant"
	// The first two documents answer 404; the third never answers.
	ts.set(oauthPath+"/tenant", reply{stall: true})
	rec := newDeadlineRecorder(t)
	// Short, yet ample for two loopback 404s: the stall ends at it.
	const timeout = time.Second
	s, ft := startSet(t, Config{Issuer: issuer, FetchTimeout: timeout, Client: &http.Client{Transport: rec}})
	ft.next(t) // the first fetch has ended
	rec.mu.Lock()
	paths, deadlines := rec.paths, rec.deadlines
	rec.mu.Unlock()
	want := []string{"/tenant" + oidcPath, "/tenant" + oauthPath, oauthPath + "/tenant"}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("requests %q, want the three discovery documents %q", paths, want)
	}
	for i, d := range deadlines {
		if d.IsZero() || !d.Equal(deadlines[0]) {
			t.Errorf("document %d asked with deadline %v, want the round's, %v: the round can outlast one FetchTimeout", i, d, deadlines[0])
		}
	}
	if e := s.lastErr.Load(); e == nil || !errors.Is(e.err, context.DeadlineExceeded) {
		t.Fatalf("last error = %v, want the round's deadline", e)
	}
}

// A jwks_uri is the issuer's to name, and some name an "@" in its path:
// Firebase's discovery document names
// https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com.
// The "@" after the host that a configured URL may not hold (it may end an
// operator's password) is no password there: the key set is fetched from
// it, and a failed fetch names it.
func TestDiscovery_JWKSURIWithAnAtInItsPathIsFetchedAndNamed(t *testing.T) {
	const path = "/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
	ts := newTestServer(t)
	ts.set(path, reply{body: jwksDoc(t, rsaJWK(t, 0, "a"))})
	ts.set(oidcPath, reply{body: discoveryDoc(t, ts.URL, ts.URL+path)})
	s, ft := startSet(t, Config{Issuer: ts.URL})
	ready(t, s)
	if s.Current("a") == nil || ts.count(path) != 1 {
		t.Fatalf("key a not loaded from %s (%d requests)", path, ts.count(path))
	}
	ts.set(path, reply{status: 500})
	ft.refreshNow(t)
	if e := s.lastErr.Load(); e == nil || !strings.Contains(e.err.Error(), ts.URL+path) {
		t.Fatalf("last error %v, want one naming %s", e, ts.URL+path)
	}
}
