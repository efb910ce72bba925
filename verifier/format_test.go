package verifier

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// formatVerbs are the verbs and flags a value is printed with in these
// tests: %p aside (fmt prints a non-pointer's fields for it, without its
// methods, and go vet reports it), every one fmt accepts for a struct.
var formatVerbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%d", "%t", "%U", "%10v", "%-v", "%.3s", "%#q", "%+q", "%c", "%o", "%b", "%e"}

// shows reports whether out shows secret: as it is, or hex-encoded (%x,
// %X, and "% x" with its spaces).
func shows(out, secret string) bool {
	flat := strings.ToLower(strings.ReplaceAll(out, " ", ""))
	return strings.Contains(out, secret) || strings.Contains(flat, hex.EncodeToString([]byte(secret)))
}

// headerTransport is a transport of the kind that adds a credential to
// every request: fmt must not print it, nor slog's JSON handler encode it.
type headerTransport struct {
	Header http.Header
	Base   http.RoundTripper
}

// valueTransport is a headerTransport used as a value: fmt prints its
// fields wherever it prints the client's.
type valueTransport struct{ Header http.Header }

func (h valueTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return (&headerTransport{Header: h.Header, Base: http.DefaultTransport}).RoundTrip(r)
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.Header {
		r.Header[k] = v
	}
	return h.Base.RoundTrip(r)
}

// TestFormat_ConfigAndVerifiersNeverShowURLSecretsOrTheHTTPClient: a Config,
// a Verifier or a MultiVerifier printed with any verb, inside other
// values, or logged with slog (text or JSON) shows neither the user info
// of Issuer nor the query or fragment of JWKSURL (where a key set's URL
// may carry an API key), nor what its HTTP client's transport holds; that
// a query and a fragment were there, and the Config's other fields, still
// show. The Verifier still fetches its keys from the URL with its query.
func TestFormat_ConfigAndVerifiersNeverShowURLSecretsOrTheHTTPClient(t *testing.T) {
	secrets := []string{"alice", "pa55word", "s3cretKEY", "fr4gment", "t0psecret"}
	client := &http.Client{Transport: &headerTransport{
		Header: http.Header{"Authorization": {"Bearer t0psecret"}},
		Base:   http.DefaultTransport,
	}}
	cfg := Config{
		Issuer:     "https://alice:pa55word@as.example/oauth2",
		Audiences:  []string{"api://items"},
		JWKSURL:    "https://as.example/keys?key=s3cretKEY&v=2#fr4gment",
		HTTPClient: client,
	}
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) {
		c.JWKSURL += "?key=s3cretKEY"
		c.HTTPClient = client
	})
	m, err := NewMulti(t.Context(), f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	values := map[string]any{
		"Config":         cfg,
		"*Config":        &cfg,
		"fixture Config": f.cfg,
		"*Verifier":      f.v,
		"*MultiVerifier": m,
		"struct{Config}": struct{ C Config }{cfg},
		"[]Config":       []Config{cfg, f.cfg},
		"map value":      map[string]Config{"a": cfg},
		"struct{*Verifier}": struct {
			V *Verifier
			M *MultiVerifier
		}{f.v, m},
		// Embedded, the Config's Format and LogValue are promoted.
		"embedded Config":  struct{ Config }{cfg},
		"embedded *Config": struct{ *Config }{&cfg},
		// %s, %q and the like would print the client's transport, a
		// value's fields and all.
		"Config with a value transport": Config{HTTPClient: &http.Client{Transport: valueTransport{Header: http.Header{"X-Api-Key": {"t0psecret"}}}}},
		"errors.Join":                   errors.Join(errors.New("starting"), fmt.Errorf("config %+v", cfg)),
		"wrapped error":                 fmt.Errorf("wrapped: %w", fmt.Errorf("config %#v", &cfg)),
	}
	for name, val := range values {
		for _, verb := range formatVerbs {
			out := fmt.Sprintf(verb, val)
			for _, s := range secrets {
				if shows(out, s) {
					t.Errorf("%s formatted with %s shows %q: %s", name, verb, s, out)
				}
			}
		}
		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var b bytes.Buffer
			slog.New(h(&b)).Info("config", slog.Any("value", val), "direct", val)
			for _, s := range secrets {
				if shows(b.String(), s) {
					t.Errorf("%s logged with slog shows %q: %s", name, s, b.String())
				}
			}
			// A JSON handler encodes a Config's fields, and fails on Now,
			// unless the Config is logged as its text.
			if name == "Config" && !strings.Contains(b.String(), "https://as.example/keys?…#…") {
				t.Errorf("%s logged with slog does not show the redacted Config: %s", name, b.String())
			}
		}
	}
	// The key set is fetched from the URL with its query all the same.
	if _, err := f.v.VerifyAccessToken(t.Context(), f.mint(t, nil)); err != nil {
		t.Fatalf("the Verifier no longer verifies: %v", err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		out := fmt.Sprintf(verb, cfg)
		for _, want := range []string{"https://as.example/keys?…#…", "<URL with userinfo>", "api://items"} {
			if !strings.Contains(out, want) {
				t.Errorf("Config with %s does not show %q: %s", verb, want, out)
			}
		}
	}
	if out := fmt.Sprintf("%#v", &cfg); !strings.HasPrefix(out, "verifier.Config{") {
		t.Errorf("%%#v of a *Config: %s, want it to start verifier.Config{", out)
	}
	plain := Config{Issuer: "https://as.example/oauth2", JWKSURL: "https://as.example/keys"}
	if out := fmt.Sprintf("%+v", plain); !strings.Contains(out, "Issuer:https://as.example/oauth2 ") || !strings.Contains(out, "JWKSURL:https://as.example/keys ") {
		t.Errorf("a Config whose URLs hide nothing does not show them as they are: %s", out)
	}
	if out := fmt.Sprintf("%v", Config{JWKSURL: "https://as.example/keys\x7f?key=s3cretKEY"}); shows(out, "s3cretKEY") || !strings.Contains(out, "<invalid URL>") {
		t.Errorf("a Config whose JWKSURL does not parse: %s, want <invalid URL>", out)
	}
	// Also without "@", "?" or "#": the doc's "<invalid URL>", not the raw
	// text, a line break and all.
	if out := fmt.Sprintf("%v", Config{JWKSURL: "https://as.example/keys\nforged log line"}); strings.Contains(out, "forged") || !strings.Contains(out, "<invalid URL>") {
		t.Errorf("a Config whose JWKSURL does not parse, without @, ? or #: %q, want <invalid URL>", out)
	}
	// A type defined from Config has no methods: converted back, it prints
	// redacted.
	type local Config
	if out := fmt.Sprintf("%v", Config(local(cfg))); shows(out, "s3cretKEY") {
		t.Errorf("a Config converted back from a type defined from it shows the key: %s", out)
	}
}

// TestFormat_PrintingABusyVerifierReadsNothingThatChanges: a Verifier or a
// MultiVerifier printed while tokens are verified shows its issuers only.
// fmt does not walk its counters, cache and key set, which it would read
// without their atomics and locks: a data race (run with -race).
func TestFormat_PrintingABusyVerifierReadsNothingThatChanges(t *testing.T) {
	f, m := newMultiFixture(t)
	tok := f.mint(t, nil)
	const n = 8
	done := make(chan error, 2*n)
	for range n {
		go func() {
			_, err := f.v.VerifyAccessToken(t.Context(), tok) // a cache hit, counted
			if err == nil {
				_, err = m.VerifyAccessToken(t.Context(), "not a JWT") // Malformed, counted
			}
			done <- err
		}()
		go func() {
			_, err := f.v.VerifyAccessToken(t.Context(), "x.y") // Malformed, counted
			done <- err
		}()
	}
	wantV := fmt.Sprintf("verifier.Verifier{Issuer: %q}", f.cfg.Issuer)
	wantM := fmt.Sprintf("verifier.MultiVerifier{Issuers: [%q]}", f.cfg.Issuer)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d"} {
		if got := fmt.Sprintf(verb, f.v); got != wantV {
			t.Errorf("Verifier with %s: %s, want %s", verb, got, wantV)
		}
		if got := fmt.Sprintf(verb, m); got != wantM {
			t.Errorf("MultiVerifier with %s: %s, want %s", verb, got, wantM)
		}
	}
	for range 2 * n {
		if err := <-done; err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("verification: %v", err)
		}
	}
	var nilV *Verifier
	var nilM *MultiVerifier
	if got := fmt.Sprintf("%v %v", nilV, nilM); got != "<nil> <nil>" {
		t.Errorf("nil Verifier and MultiVerifier: %s, want <nil> <nil>", got)
	}
}

// FuzzFormat_ConfigNeverShowsAPasswordOrQuery: a Config printed with %+v
// shows neither the end of a password in its Issuer's user info (whatever
// the user and password hold: "/", "?", "#", "@", "%", brackets) nor the
// end of its JWKSURL's query (whatever the path and query hold), both
// marked ZQXJ.
func FuzzFormat_ConfigNeverShowsAPasswordOrQuery(f *testing.F) {
	for _, s := range [][3]string{{"rs", "hunter2", "key="}, {"rs", "1234/pa", "a=1&key="}, {"rs", "1234?pa", "#"},
		{"rs@x", "1#", "k=%zz"}, {"", "/", "@"}, {"[::1]", "99/", "?"}, {"rs", "pa%40", "x=y;key="}} {
		f.Add(s[0], s[1], "keys", s[2])
		f.Add(s[0], s[1], "a/b@c", s[2])
	}
	f.Fuzz(func(t *testing.T, user, pw, path, query string) {
		cfg := Config{
			Issuer:  "https://" + user + ":" + pw + "ZQXJ@idp.example/oauth2",
			JWKSURL: "https://idp.example/" + path + "?" + query + "ZQXJ",
		}
		if out := fmt.Sprintf("%+v", cfg); strings.Contains(out, "ZQXJ") {
			t.Fatalf("Config %q, %q printed as %s", cfg.Issuer, cfg.JWKSURL, out)
		}
	})
}
