package jwks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

// selfSignedChain returns the x5c, x5t and x5t#S256 members that Entra ID,
// Auth0 and Keycloak publish beside a key: a certificate of the key itself.
func selfSignedChain(t *testing.T, i int) map[string]any {
	t.Helper()
	testKeys(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "accounts.example"},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1900000000, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKeys[i].PublicKey, rsaKeys[i])
	must(t, err)
	s1, s256 := sha1.Sum(der), sha256.Sum256(der)
	return map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(der)},
		"x5t": base64.RawURLEncoding.EncodeToString(s1[:]), "x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:])}
}

// with merges extra members into m.
func with(m map[string]any, extra map[string]any) map[string]any {
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// Public key sets as providers publish them (their shapes: members, order
// of keys, certificate chains, encryption keys beside signing keys, keys of
// types this package does not use) hold no private material, so none of
// the rules for published private material may fire on them: every
// signing key stays usable, none is remembered as exposed, and the next
// document serves them all again.
func TestParseJWKS_ProviderPublicKeySetsExposeNothing(t *testing.T) {
	testKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(t, err)
	xPub, err := ecdhX25519Public()
	must(t, err)
	rsa := func(i int, kid string, extra map[string]any) json.RawMessage {
		return jwkJSON(t, &rsaKeys[i].PublicKey, kid, "", extra)
	}
	docs := []struct {
		name    string
		entries []json.RawMessage
		usable  []string // kids that must be served
	}{
		{"Okta", []json.RawMessage{rsa(0, "okta-1", map[string]any{"alg": "RS256", "use": "sig"}), rsa(1, "okta-2", map[string]any{"alg": "RS256", "use": "sig"})},
			[]string{"okta-1", "okta-2"}},
		{"Auth0 (x5c, x5t)", []json.RawMessage{rsa(0, "auth0-1", with(selfSignedChain(t, 0), map[string]any{"alg": "RS256", "use": "sig", "x5t#S256": nil})),
			rsa(1, "auth0-2", with(selfSignedChain(t, 1), map[string]any{"alg": "RS256", "use": "sig", "x5t#S256": nil}))},
			[]string{"auth0-1", "auth0-2"}},
		{"Entra ID (x5c, x5t, issuer, cloud_instance_name)", []json.RawMessage{
			rsa(0, "entra-1", with(selfSignedChain(t, 0), map[string]any{"use": "sig", "x5t#S256": nil, "issuer": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0", "cloud_instance_name": "microsoftonline.com"})),
			rsa(1, "entra-2", with(selfSignedChain(t, 1), map[string]any{"use": "sig", "x5t#S256": nil, "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"})),
			rsa(2, "entra-3", with(selfSignedChain(t, 2), map[string]any{"use": "sig", "x5t#S256": nil}))},
			[]string{"entra-1", "entra-2", "entra-3"}},
		{"Microsoft.IdentityModel 7 (empty private members)", []json.RawMessage{rsa(0, "mi-1", map[string]any{"alg": "RS256", "oth": []any{}, "x5c": []any{}, "d": nil, "p": nil}),
			jwkJSON(t, &ecKey.PublicKey, "mi-ec", "ES256", map[string]any{"d": ""})},
			[]string{"mi-1", "mi-ec"}},
		{"Google", []json.RawMessage{rsa(0, "google-1", map[string]any{"alg": "RS256", "use": "sig"}), rsa(1, "google-2", map[string]any{"alg": "RS256", "use": "sig"})},
			[]string{"google-1", "google-2"}},
		{"Keycloak (enc key, x5c, x5t#S256, EC and Ed25519 keys)", []json.RawMessage{
			rsa(0, "kc-rs256", with(selfSignedChain(t, 0), map[string]any{"alg": "RS256", "use": "sig"})),
			rsa(1, "kc-enc", with(selfSignedChain(t, 1), map[string]any{"alg": "RSA-OAEP", "use": "enc"})),
			jwkJSON(t, &ecKey.PublicKey, "kc-es256", "ES256", map[string]any{"use": "sig"}),
			jwkJSON(t, &p384.PublicKey, "kc-es384", "ES384", map[string]any{"use": "sig"}),
			jwkJSON(t, edPub, "kc-eddsa", "EdDSA", map[string]any{"use": "sig"})},
			[]string{"kc-rs256", "kc-es256", "kc-es384", "kc-eddsa"}},
		{"Cognito", []json.RawMessage{rsa(0, "cognito-1", map[string]any{"alg": "RS256", "use": "sig"}), rsa(2, "cognito-2", map[string]any{"alg": "RS256", "use": "sig"})},
			[]string{"cognito-1", "cognito-2"}},
		{"oct, X25519, secp256k1 and unknown kty beside RSA and EC keys", []json.RawMessage{
			json.RawMessage(`{"kty":"oct","kid":"hs","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA","alg":"HS256"}`),
			jwkJSON(t, xPub, "x25519", "", map[string]any{"use": "enc"}),
			jwkJSON(t, &ecKey.PublicKey, "k1", "", map[string]any{"crv": "secp256k1"}),
			json.RawMessage(`{"kty":"AKP","kid":"mldsa","alg":"ML-DSA-44","pub":"` + strings.Repeat("A", 1744) + `"}`),
			rsa(0, "rsa", map[string]any{"alg": "RS256"}),
			jwkJSON(t, &ecKey.PublicKey, "ec", "ES256", nil),
			jwkJSON(t, edPub, "ed", "EdDSA", nil)},
			[]string{"rsa", "ec", "ed"}},
	}
	for _, tc := range docs {
		t.Run(tc.name, func(t *testing.T) {
			doc := jwksDoc(t, tc.entries...)
			keys, skipped, err := parseJWKS(doc)
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			for _, sk := range skipped {
				if len(sk.Exposes) > 0 || len(sk.Factors) > 0 || len(sk.Curves) > 0 || strings.Contains(sk.Reason, "exposed") {
					t.Errorf("entry %d (kid %q) taken for published private material: %+v", sk.Index, sk.KID, sk)
				}
			}
			got := map[string]bool{}
			for _, k := range keys {
				got[k.ID] = true
			}
			for _, kid := range tc.usable {
				if !got[kid] {
					t.Errorf("key %q not usable; skipped: %+v", kid, skipped)
				}
			}

			// Served, twice: after the first document, the second finds
			// nothing remembered as exposed.
			ts := newTestServer(t)
			ts.set("/keys", reply{body: doc})
			s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
			ready(t, s)
			ft.refreshNow(t)
			for _, kid := range tc.usable {
				if s.Current(kid) == nil {
					t.Errorf("key %q not served after a second fetch", kid)
				}
			}
			if len(s.exposed.has) != 0 {
				t.Errorf("%d keys remembered as exposed, want none", len(s.exposed.has))
			}
		})
	}
}
