package grpcauthtest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// newClient returns an HTTP client that keeps no idle connections, so no
// client goroutine outlives a test.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

// get fetches url and returns the response and its body.
func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	return do(t, mustRequest(t, http.MethodGet, url, nil))
}

func mustRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// fetchKeySet downloads and parses the issuer's served JWKS.
func fetchKeySet(t *testing.T, iss *grpcauthtest.Issuer) jwk.Set {
	t.Helper()
	resp, body := get(t, iss.JWKSURL())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS status %d", resp.StatusCode)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		t.Fatalf("parse JWKS: %v", err)
	}
	return set
}

// segments decodes a compact JWT's header and payload as JSON objects,
// without verifying anything.
func segments(t *testing.T, tok string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3", len(parts))
	}
	return decodeSegment(t, parts[0]), decodeSegment(t, parts[1])
}

func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment not base64url: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("segment not a JSON object: %v", err)
	}
	return m
}

// spoil changes the public key pub in place, as a test building a forged
// key from one it was given might.
func spoil(t *testing.T, pub crypto.PublicKey) {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		k.N.SetInt64(15)
		k.E = 3
	case *ecdsa.PublicKey:
		k.X.SetInt64(1)
		k.Y.SetInt64(1)
	case ed25519.PublicKey:
		k[0] ^= 0xff
	default:
		t.Fatalf("unexpected public key type %T", pub)
	}
}

// checkErrorDescription fails t when desc holds a byte RFC 6749 §5.2 does
// not allow in an error_description: %x20-21 / %x23-5B / %x5D-7E only.
func checkErrorDescription(t *testing.T, desc string) {
	t.Helper()
	for i := 0; i < len(desc); i++ {
		if c := desc[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Fatalf("error_description %q has byte %#x, outside RFC 6749 §5.2's set", desc, c)
		}
	}
}
