package dpop_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/dpop"
)

// TestFormat_SignerAndNoncesNeverShowTheirSecrets: a Signer holding an
// Ed25519 key (a byte slice, which fmt prints in full at any depth) and an
// HMACNonces printed with any verb, inside other values, or logged with
// slog (text or JSON) show neither the private key nor the HMAC secret,
// as they are or hex-encoded; the Signer's algorithm and thumbprint, and
// the nonces' period, still show. Before, %v of either printed them; and
// until the secrets were held in a closure (sealed), a Signer or an
// HMACNonces in an unexported field, or printed with %p or %w, where fmt
// bypasses Format, still did.
func TestFormat_SignerAndNoncesNeverShowTheirSecrets(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dpop.NewSigner(priv, "EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("an HMAC secret of 32 bytes, ZQXJ")
	n, err := dpop.NewHMACNonces(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The secrets as fmt may write them: bytes in decimal (%v, %d) and hex
	// (%x, %X, "% x"), and as text (%s, %q).
	seed := priv.Seed()
	decimal := []string{strings.Trim(fmt.Sprint(seed[:6]), "[]"), strings.Trim(fmt.Sprint(secret[:6]), "[]"), "HMAC secret"}
	hexed := []string{hex.EncodeToString(seed[:6]), hex.EncodeToString(secret[:6]), hex.EncodeToString([]byte("ZQXJ"))}
	shows := func(out string) string {
		flat := strings.ToLower(strings.ReplaceAll(out, " ", ""))
		for _, l := range decimal {
			if strings.Contains(out, l) {
				return l
			}
		}
		for _, l := range hexed {
			if strings.Contains(flat, l) {
				return l
			}
		}
		return ""
	}
	type holder struct {
		s dpop.Signer
		n dpop.HMACNonces
	}
	values := map[string]any{
		"*Signer":     s,
		"Signer":      *s,
		"*HMACNonces": n,
		"HMACNonces":  *n,
		"struct": struct {
			S *dpop.Signer
			N *dpop.HMACNonces
		}{s, n},
		"slice":          []any{s, n},
		"Config.Nonces":  dpop.Config{Nonces: n},
		"*Config.Nonces": &dpop.Config{Nonces: n},
		// Where fmt cannot call Format: a value in an unexported field
		// (also %p and %w below, which go vet reports).
		"unexported fields": holder{*s, *n},
		"*unexported":       &holder{*s, *n},
	}
	for name, val := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%p", "%w"} {
			if l := shows(fmt.Sprintf(verb, val)); l != "" {
				t.Errorf("%s formatted with %s shows %q: %s", name, verb, l, fmt.Sprintf(verb, val))
			}
			if l := shows(fmt.Errorf(verb, val).Error()); l != "" {
				t.Errorf("%s in fmt.Errorf with %s shows %q: %v", name, verb, l, fmt.Errorf(verb, val))
			}
		}
		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var b bytes.Buffer
			slog.New(h(&b)).Info("dpop", "value", val)
			if l := shows(b.String()); l != "" {
				t.Errorf("%s logged shows %q: %s", name, l, b.String())
			}
		}
	}
	if got, want := fmt.Sprintf("%v", s), fmt.Sprintf("dpop.Signer{Alg: %q, Thumbprint: %q}", "EdDSA", s.Thumbprint()); got != want {
		t.Errorf("Signer prints as %s, want %s", got, want)
	}
	if got, want := fmt.Sprintf("%+v", n), "dpop.HMACNonces{Period: 1m0s}"; got != want {
		t.Errorf("HMACNonces prints as %s, want %s", got, want)
	}
	var nilS *dpop.Signer
	var nilN *dpop.HMACNonces
	if got := fmt.Sprintf("%v %v", nilS, nilN); got != "<nil> <nil>" {
		t.Errorf("nil Signer and HMACNonces print as %s, want <nil> <nil>", got)
	}
	// Still signs and checks.
	if _, err := s.Proof("GET", "https://rs.example/items", "", ""); err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); !n.Valid(n.Nonce(now), now) {
		t.Fatal("the HMACNonces no longer validates its own nonce")
	}
}

// TestFormat_PrintingABusyReplayCacheReadsNothingThatChanges: a
// MemoryReplayCache printed while proofs are added to it shows its size
// only: fmt does not walk its maps and heap, which it would read without
// the lock (a data race, run with -race; and a crash when a map is
// iterated while it is written).
func TestFormat_PrintingABusyReplayCacheReadsNothingThatChanges(t *testing.T) {
	c := dpop.NewMemoryReplayCache(100, nil)
	const n = 8
	done := make(chan error, n)
	for i := range n {
		go func() {
			_, err := c.AddIfAbsent(t.Context(), fmt.Sprintf("jti-%d", i), time.Now().Add(time.Minute))
			done <- err
		}()
	}
	printsWhileBusy(t, c, (*dpop.MemoryReplayCache)(nil), "dpop.MemoryReplayCache{MaxEntries: 100}", done, n)
}

// printsWhileBusy checks that val, which n goroutines use until each sends
// its error on done, prints as want with every verb, and nilVal, a nil
// pointer of its type, as <nil>.
func printsWhileBusy(t *testing.T, val, nilVal any, want string, done <-chan error, n int) {
	t.Helper()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d"} {
		if got := fmt.Sprintf(verb, val); got != want {
			t.Errorf("%T with %s: %s, want %s", val, verb, got, want)
		}
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(nilVal); got != "<nil>" {
		t.Errorf("nil %T: %s, want <nil>", nilVal, got)
	}
}

// TestFormat_RequestNeverShowsTheAccessToken: a Request printed with any
// verb, inside other values, or logged with slog (text or JSON) shows
// "[REDACTED]" for its AccessToken, and its other fields as they are;
// so does its JSON encoding. Before, fmt, slog and encoding/json showed
// the token in full.
func TestFormat_RequestNeverShowsTheAccessToken(t *testing.T) {
	const token = "eyJhbGciOiJFUzI1NiJ9.ACCESS-TOKEN-s3cret.sig"
	req := dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example", Path: "/pkg.S/M", AccessToken: token, KeyThumbprint: "jkt-1"}
	values := map[string]any{
		"Request":  req,
		"*Request": &req,
		"struct":   struct{ R dpop.Request }{req},
		"slice":    []dpop.Request{req},
		"map":      map[string]*dpop.Request{"r": &req},
	}
	for name, val := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			out := fmt.Sprintf(verb, val)
			if strings.Contains(out, "s3cret") || strings.Contains(strings.ToLower(out), hex.EncodeToString([]byte("s3cret"))) {
				t.Errorf("%s formatted with %s shows the access token: %s", name, verb, out)
			}
		}
		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var b bytes.Buffer
			slog.New(h(&b)).Info("dpop", "request", val)
			if strings.Contains(b.String(), "s3cret") {
				t.Errorf("%s logged shows the access token: %s", name, b.String())
			}
		}
	}
	if got, want := fmt.Sprintf("%+v", req), "{Method:POST Scheme:https Authority:api.example Path:/pkg.S/M AccessToken:[REDACTED] KeyThumbprint:jkt-1}"; got != want {
		t.Errorf("%%+v: %s, want %s", got, want)
	}
	if got := fmt.Sprintf("%#v", req); !strings.HasPrefix(got, "dpop.Request{") {
		t.Errorf("%%#v: %s, want it to name dpop.Request", got)
	}
	if b, err := json.Marshal(req); err != nil || string(b) != `{"Method":"POST","Scheme":"https","Authority":"api.example","Path":"/pkg.S/M","AccessToken":"[REDACTED]","KeyThumbprint":"jkt-1"}` {
		t.Errorf("json.Marshal: %s, %v", b, err)
	}
	if got := fmt.Sprintf("%+v", dpop.Request{Method: "POST"}); strings.Contains(got, "REDACTED") {
		t.Errorf("a Request without a token says one is redacted: %s", got)
	}
}

// TestFormat_PrintingABusyVerifierReadsNothingThatChanges: a Verifier
// printed with any verb while it accepts proofs shows its algorithms
// only. Before, %s and %q followed its ReplayCache pointer and walked the
// MemoryReplayCache's maps without the lock (a data race, run with
// -race), and the other verbs printed its internals.
func TestFormat_PrintingABusyVerifierReadsNothingThatChanges(t *testing.T) {
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dpop.NewSigner(priv, "EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	done := make(chan error, n)
	for range n {
		go func() {
			proof, err := s.Proof("POST", "https://api.example/pkg.S/M", "", "")
			if err == nil {
				_, err = v.Verify(t.Context(), proof, dpop.Request{Method: "POST", Scheme: "https", Authority: "api.example", Path: "/pkg.S/M"})
			}
			done <- err
		}()
	}
	printsWhileBusy(t, v, (*dpop.Verifier)(nil), `dpop.Verifier{Algorithms: ["ES256" "EdDSA" "Ed25519"]}`, done, n)
}

// TestFormat_ZeroVerifierSaysItWasNotBuilt: a Verifier NewVerifier did not
// build prints, with any verb, that it was not built, as the verifier and
// introspect packages' verifiers do. Before, it printed as a Verifier
// without algorithms (dpop.Verifier{Algorithms: []}).
func TestFormat_ZeroVerifierSaysItWasNotBuilt(t *testing.T) {
	var zero dpop.Verifier
	for _, val := range []any{&zero, new(dpop.Verifier)} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			if got, want := fmt.Sprintf(verb, val), "dpop.Verifier{not built with NewVerifier}"; got != want {
				t.Errorf("%s of a zero Verifier: %s, want %s", verb, got, want)
			}
		}
	}
}
