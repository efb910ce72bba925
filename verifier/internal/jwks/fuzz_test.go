package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
)

// FuzzParseJWKS: any document parses without panic, not even one that
// parseJWKS recovers (jwxpanictest.FailOnRecovered reports it with its
// stack), and every key returned
// is an asymmetric public key of a supported type with a unique, non-empty
// kid and a fitting alg.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"AAAA","y":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","kid":"o","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, _, err := parseJWKS(body)
		jwxpanictest.FailOnRecovered(t, err)
		if err != nil && len(keys) != 0 {
			t.Fatal("keys returned with an error")
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if k.ID == "" || seen[k.ID] {
				t.Fatalf("kid %q empty or repeated", k.ID)
			}
			seen[k.ID] = true
			switch p := k.Public.(type) {
			case *rsa.PublicKey:
				if p.N.BitLen() < minRSABits {
					t.Fatalf("weak RSA key %d bits", p.N.BitLen())
				}
			case *ecdsa.PublicKey:
				if p.Curve != elliptic.P256() && p.Curve != elliptic.P384() && p.Curve != elliptic.P521() {
					t.Fatalf("curve %v", p.Curve)
				}
			case ed25519.PublicKey:
				if len(p) != ed25519.PublicKeySize {
					t.Fatal("bad Ed25519 key")
				}
			default:
				t.Fatalf("non-asymmetric or unsupported key %T", k.Public)
			}
			if k.Algorithm != "" {
				ok := false
				for _, a := range algorithmsFor(k.Public) {
					ok = ok || a == k.Algorithm
				}
				if !ok {
					t.Fatalf("alg %q on %T", k.Algorithm, k.Public)
				}
			}
		}
	})
}

// FuzzDiscovery: any discovery document parses without panic, no jwks_uri
// comes back with an error, and an accepted one parses, passes
// checkNamedURL (CheckURL's rule, an "@" after the host allowed) and, the
// issuer being https, is https (no downgrade to loopback http). Whether
// the document names the configured issuer is left to the unit tests.
func FuzzDiscovery(f *testing.F) {
	const issuer = "https://a.example/oauth2/default"
	f.Add([]byte(`{"issuer":"https://a.example/oauth2/default","jwks_uri":"https://a.example/oauth2/default/v1/keys"}`))
	f.Add([]byte(`{"issuer":"https://a.example/oauth2/default","jwks_uri":"http://127.0.0.1/keys"}`))
	f.Add([]byte(`{"issuer":"https://a.example/oauth2/default/","jwks_uri":"https://a.example/keys"}`))
	f.Add([]byte(`{"issuer":"https://a.example/oauth2/default","jwks_uri":"http://evil.example/keys"}`))
	f.Add([]byte(`{"issuer":"https://a.example/oauth2/default","jwks_uri":"https://b.example/jwk/a@b.example"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		uri, err := parseDiscovery(body, issuer)
		if err != nil {
			if uri != "" {
				t.Fatal("URI returned with an error")
			}
			return
		}
		u, perr := parseURL(uri)
		if perr != nil {
			t.Fatalf("accepted jwks_uri %q does not parse: %v", uri, perr)
		}
		if cerr := checkNamedURL(u); cerr != nil {
			t.Fatalf("accepted jwks_uri %q fails checkNamedURL: %v", uri, cerr)
		}
		if u.Scheme != "https" {
			t.Fatalf("accepted jwks_uri %q of an https issuer is not https", uri)
		}
	})
}

// urlStarts are what FuzzCheckURL_NeverQuotesAPassword writes before the
// user: a scheme and "//", or a slip of them (no authority then, or no
// scheme).
var urlStarts = []string{"https://", "https:", "https:/", `https:\\`, "http://", "", "//", "localhost:"}

// FuzzCheckURL_NeverQuotesAPassword: a configured URL with a password in
// it (whatever the user and password hold: "/", "?", "#", "@", "\", "%",
// brackets; whatever starts it: a scheme with or without "//", none) is
// refused, and neither CheckURL's error nor RedactString
// (which names a configured issuer in NewMulti's error) quotes the end of
// the password, marked ZQXJ.
func FuzzCheckURL_NeverQuotesAPassword(f *testing.F) {
	for _, s := range [][2]string{{"rs", "hunter2"}, {"rs", "1234/pa"}, {"rs", "1234?pa"}, {"rs", "1234#pa"}, {"rs", "pa%zz"},
		{"rs", "12\\34/"}, {"[::1]", "99/"}, {"rs@x", "1"}, {"", "/"}, {"rs", "1234/pa%40"}, {"rs", "12/{"}} {
		for start := range byte(len(urlStarts)) {
			f.Add(start, s[0], s[1])
		}
	}
	f.Fuzz(func(t *testing.T, start byte, user, pw string) {
		raw := urlStarts[int(start)%len(urlStarts)] + user + ":" + pw + "ZQXJ@idp.example/keys"
		err := CheckURL(raw)
		if err == nil {
			t.Fatalf("CheckURL(%q) accepted", raw)
		}
		if strings.Contains(err.Error(), "ZQXJ") {
			t.Fatalf("CheckURL(%q) = %v, quoting the password", raw, err)
		}
		if r := RedactString(raw); strings.Contains(r, "ZQXJ") {
			t.Fatalf("RedactString(%q) = %q, quoting the password", raw, r)
		}
	})
}
