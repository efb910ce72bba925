package introspect_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/introspect"
)

// leaksSecret reports whether out shows secret: as it is, or hex-encoded
// (%x, %X, and "% x" with its spaces).
func leaksSecret(out, secret string) bool {
	flat := strings.ToLower(strings.ReplaceAll(out, " ", ""))
	return strings.Contains(out, secret) || strings.Contains(flat, hex.EncodeToString([]byte(secret)))
}

// keyTransport is a transport, used as a value, that would add a key to
// every request.
type keyTransport struct{ key string }

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Api-Key", k.key)
	return http.DefaultTransport.RoundTrip(r)
}

// TestFormat_ConfigAndVerifierNeverShowTheClientSecret: a Config or a
// Verifier printed with any verb (but %p, for which fmt prints a
// non-pointer's fields without its methods), inside other values, or
// logged with slog (text or JSON) shows neither the client secret nor its
// hex form; the Config's other fields, and where the secret was, still
// show. The Verifier keeps the secret where fmt cannot reach it, and
// still authenticates with it (newEnv's endpoint checks the credentials).
func TestFormat_ConfigAndVerifierNeverShowTheClientSecret(t *testing.T) {
	e := newEnv(t, nil)
	secret := rsClient.Secret
	cfg := e.cfg
	v := newVerifier(t, cfg)
	combined, err := introspect.Combine(v, v)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{
		"Config":            cfg,
		"*Config":           &cfg,
		"*Verifier":         v,
		"*Combined":         combined,
		"struct{Config}":    struct{ C introspect.Config }{cfg},
		"[]Config":          []introspect.Config{cfg},
		"map value":         map[string]introspect.Config{"a": cfg},
		"struct{*Verifier}": struct{ V *introspect.Verifier }{v},
		// Embedded, the Config's Format and LogValue are promoted.
		"embedded Config":  struct{ introspect.Config }{cfg},
		"embedded *Config": struct{ *introspect.Config }{&cfg},
		"errors.Join":      errors.Join(errors.New("starting"), fmt.Errorf("config %+v", cfg)),
		"wrapped error":    fmt.Errorf("wrapped: %w", fmt.Errorf("config %#v", &cfg)),
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%d", "%t", "%U", "%10v", "%-v", "%.3s", "%#q", "%+q", "%c", "%o", "%b", "%e"}
	for name, val := range values {
		for _, verb := range verbs {
			if out := fmt.Sprintf(verb, val); leaksSecret(out, secret) {
				t.Errorf("%s formatted with %s shows the secret: %s", name, verb, out)
			}
		}
		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var b bytes.Buffer
			slog.New(h(&b)).Info("config", slog.Any("value", val), "direct", val)
			if leaksSecret(b.String(), secret) {
				t.Errorf("%s logged with slog shows the secret: %s", name, b.String())
			}
		}
	}
	// After the printing: fmt reads the Verifier's fields without its locks.
	if _, err := v.VerifyAccessToken(t.Context(), e.opaque(t, nil)); err != nil {
		t.Fatalf("the Verifier no longer authenticates: %v", err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		if out := fmt.Sprintf(verb, cfg); !strings.Contains(out, "[REDACTED]") || !strings.Contains(out, cfg.Endpoint) {
			t.Errorf("Config with %s does not show the endpoint and the redacted secret: %s", verb, out)
		}
	}
	if out := fmt.Sprintf("%#v", cfg); !strings.HasPrefix(out, "introspect.Config{") {
		t.Errorf("%%#v of a Config: %s, want it to start introspect.Config{", out)
	}
	// A verb fmt cannot print a pointer with (%s, %q, ...) would print
	// the HTTP client's transport, and a value transport's credential.
	withTransport := introspect.Config{HTTPClient: &http.Client{Transport: keyTransport{key: "tr4nsportKEY"}}}
	for _, verb := range verbs {
		if out := fmt.Sprintf(verb, withTransport); leaksSecret(out, "tr4nsportKEY") {
			t.Errorf("a Config whose HTTP client's transport holds a key, formatted with %s, shows it: %s", verb, out)
		}
	}
	urls := introspect.Config{Endpoint: "https://alice:pa55word@as.example/introspect", Issuer: "https://bob:hunter2@as.example"}
	for _, verb := range verbs {
		if out := fmt.Sprintf(verb, urls); leaksSecret(out, "pa55word") || leaksSecret(out, "hunter2") {
			t.Errorf("a Config whose URLs hold a password, formatted with %s, shows it: %s", verb, out)
		}
	}
}

// TestFormat_ConfigNeverShowsTheEndpointsQueryOrFragment: a Config whose
// Endpoint carries a key in its query (or a fragment), printed with any
// verb or logged with slog, shows the endpoint without them, "?…" and
// "#…" marking where they were, as verifier.Config shows its key-set URL.
// Before, only the user info was redacted and the query showed in full.
func TestFormat_ConfigNeverShowsTheEndpointsQueryOrFragment(t *testing.T) {
	cfg := introspect.Config{
		Endpoint: "https://[2001:db8::1]:8443/oauth2/v1/introspect?api_key=s3cretKEY#fr4gment",
		Issuer:   "https://as.example/oauth2?tenant=t0psecret",
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%d", "%10v", "%.3s", "%#q", "%+q"}
	for _, val := range []any{cfg, &cfg, []introspect.Config{cfg}, struct{ C *introspect.Config }{&cfg}} {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, val)
			for _, s := range []string{"s3cretKEY", "fr4gment", "t0psecret"} {
				if leaksSecret(out, s) {
					t.Errorf("%T formatted with %s shows %q: %s", val, verb, s, out)
				}
			}
		}
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("config", "cfg", cfg)
		if out := b.String(); leaksSecret(out, "s3cretKEY") || leaksSecret(out, "fr4gment") || !strings.Contains(out, "https://[2001:db8::1]:8443/oauth2/v1/introspect?…#…") {
			t.Errorf("logged: %s, want the endpoint without its query and fragment, marked ?…#…", out)
		}
	}
	out := fmt.Sprintf("%+v", cfg)
	for _, want := range []string{"Endpoint:https://[2001:db8::1]:8443/oauth2/v1/introspect?…#… ", "Issuer:https://as.example/oauth2?… "} {
		if !strings.Contains(out, want) {
			t.Errorf("%%+v: %s, want it to contain %q", out, want)
		}
	}
	if out := fmt.Sprintf("%+v", introspect.Config{}); strings.Contains(out, "[REDACTED]") {
		t.Errorf("a Config without a secret says one is redacted: %s", out)
	}
}

// TestFormat_PrintingABusyVerifierReadsNothingThatChanges: a Verifier (or
// a Combined) printed while requests are in flight shows its endpoint and
// issuer only: fmt does not walk its caches and in-flight requests, which
// it would read without their locks (a data race, and a crash when a map
// is written while fmt iterates it).
func TestFormat_PrintingABusyVerifierReadsNothingThatChanges(t *testing.T) {
	e := newEnv(t, nil)
	combined, err := introspect.Combine(e.v, e.v)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("introspect.Verifier{Endpoint: %q, Issuer: %q}", e.cfg.Endpoint, e.cfg.Issuer)
	const n = 20
	done := make(chan error, n)
	for i := range n {
		go func() {
			_, err := e.v.VerifyAccessToken(t.Context(), fmt.Sprintf("made-up-%d", i))
			done <- err
		}()
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d"} {
		if got := fmt.Sprintf(verb, e.v); got != want {
			t.Errorf("Verifier with %s: %s, want %s", verb, got, want)
		}
		if got, want := fmt.Sprintf(verb, combined), "introspect.Combined{Opaque: "+want+"}"; got != want {
			t.Errorf("Combined with %s: %s, want %s", verb, got, want)
		}
	}
	for range n {
		if err := <-done; !errors.Is(err, introspect.ErrInactive) {
			t.Fatalf("made-up token: %v, want ErrInactive", err)
		}
	}
}
