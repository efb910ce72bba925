package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/grpcauth/grpcauth/dpop"
)

// certDER returns a DER certificate of pub, issued by parent (nil:
// self-issued) and signed by signer, valid for an hour around t0 unless
// edit changes it.
func certDER(t *testing.T, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer, edit func(*x509.Certificate)) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dpop client"}, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)}
	if edit != nil {
		edit(tmpl)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// testCA returns a new key on curve and its self-signed CA certificate,
// as DER and parsed.
func testCA(t *testing.T, curve elliptic.Curve) (*ecdsa.PrivateKey, []byte, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der := certDER(t, key.Public(), nil, key, func(c *x509.Certificate) {
		c.Subject.CommonName, c.IsCA, c.BasicConstraintsValid = "ca", true, true
	})
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, der, ca
}

// p256Key returns a new EC P-256 key.
func p256Key(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// b64Certs is an x5c of ders: standard, padded base64 (RFC 7517, 4.7).
func b64Certs(ders ...[]byte) []string {
	s := make([]string, len(ders))
	for i, der := range ders {
		s[i] = base64.StdEncoding.EncodeToString(der)
	}
	return s
}

// x5cProof is a valid proof for testReq at t0 with the jti "x5c-<n>",
// signed by key under alg, whose header has the members hdr besides typ,
// alg and jwk.
func x5cProof(t *testing.T, alg string, key crypto.Signer, jwkMap, hdr map[string]any, n int) string {
	t.Helper()
	h := map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": jwkMap}
	for name, val := range hdr {
		h[name] = val
	}
	claims := map[string]any{"jti": fmt.Sprint("x5c-", n), "htm": "POST", "htu": testURL, "iat": t0.Unix(), "ath": dpop.AccessTokenHash(testToken)}
	return signJSON(t, alg, key, h, claims)
}

// thumbprintOf is the RFC 7638 thumbprint of pub's bare jwk (no x5c).
func thumbprintOf(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	k, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// A jwk may carry its key's certificate chain in x5c, as Nimbus's
// DefaultDPoPProofFactory (Java) sends it: the proof is accepted when
// the first certificate holds the jwk's own key (RFC 7517, 4.7), for RSA,
// EC and Ed25519 keys, under the jwk's thumbprint without x5c (RFC 7638
// takes the required members only), whatever follows in the chain: the
// chain is not validated (a leaf issued by a CA whose certificate is
// absent, an expired certificate, junk after the first are all accepted)
// and only its first member is read.
func TestVerify_JWKX5COfTheJWKsOwnKeyIsAccepted(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec384Key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caKey, caDER, ca := testCA(t, elliptic.P384())
	expired := func(c *x509.Certificate) { c.NotBefore, c.NotAfter = t0.Add(-48*time.Hour), t0.Add(-24*time.Hour) }

	v := newVerifier(t, dpop.Config{Algorithms: []string{"RS256", "PS256", "ES256", "ES384", "EdDSA", "Ed25519"}, MaxProofSize: 64 << 10})
	n := 0
	for _, tc := range []struct {
		name string
		alg  string
		key  crypto.Signer
		x5c  func(pub crypto.PublicKey) []string
	}{
		{"RSA self-signed", "RS256", rsaKey, func(pub crypto.PublicKey) []string { return b64Certs(certDER(t, pub, nil, rsaKey, nil)) }},
		{"RSA issued by a CA, chain [leaf, CA]", "PS256", rsaKey, func(pub crypto.PublicKey) []string {
			return b64Certs(certDER(t, pub, ca, caKey, nil), caDER)
		}},
		{"EC P-256 self-signed", "ES256", ecKey, func(pub crypto.PublicKey) []string { return b64Certs(certDER(t, pub, nil, ecKey, nil)) }},
		{"EC P-256 issued by a CA that is absent", "ES256", ecKey, func(pub crypto.PublicKey) []string { return b64Certs(certDER(t, pub, ca, caKey, nil)) }},
		{"EC P-256 expired", "ES256", ecKey, func(pub crypto.PublicKey) []string { return b64Certs(certDER(t, pub, nil, ecKey, expired)) }},
		{"EC P-256 followed by 500 junk members", "ES256", ecKey, func(pub crypto.PublicKey) []string {
			return append(b64Certs(certDER(t, pub, nil, ecKey, nil)), slices.Repeat([]string{"!!junk"}, 500)...)
		}},
		{"EC P-384", "ES384", ec384Key, func(pub crypto.PublicKey) []string { return b64Certs(certDER(t, pub, nil, ec384Key, nil)) }},
		{"Ed25519 under EdDSA", "EdDSA", edKey, func(pub crypto.PublicKey) []string { return b64Certs(certDER(t, pub, nil, edKey, nil)) }},
		{"Ed25519 under Ed25519", "Ed25519", edKey, func(pub crypto.PublicKey) []string { return b64Certs(certDER(t, pub, nil, edKey, nil)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := tc.key.Public()
			req := testReq
			req.KeyThumbprint = thumbprintOf(t, pub)
			jwkMap := publicJWK(t, tc.key)
			jwkMap["x5c"] = tc.x5c(pub)
			n++
			p, err := v.Verify(t.Context(), x5cProof(t, tc.alg, tc.key, jwkMap, nil, n), req)
			if err != nil {
				t.Fatalf("Verify = %v, want it accepted", err)
			}
			if p.Thumbprint != req.KeyThumbprint {
				t.Errorf("Thumbprint = %s, want %s, the jwk's without x5c", p.Thumbprint, req.KeyThumbprint)
			}
		})
	}
}

// A jwk's x5c that is not a certificate of the jwk's own key is refused,
// with the cause that says why, though the proof is signed by the jwk's
// key: a first certificate of another key (even followed by one of the
// jwk's key), of another type of key, junk (no base64, base64url,
// unpadded, unused bits set, line breaks, no DER, DER with trailing
// bytes), nothing (an empty array, null, an empty or null first member),
// a first certificate of the jwk's key longer than MaxX5CCertLen bytes of
// base64 (within MaxProofSize), or no array of strings. An x5u in the
// jwk, and a jku, x5u or x5c in the header, are refused as before, the
// last even when it is a certificate of the jwk's key (a header x5t:
// TestVerify_HeaderX5TIsRefusedWhateverItHolds).
func TestVerify_JWKX5CNotOfTheJWKsKeyIsRefused(t *testing.T) {
	holder, other := p256Key(t), p256Key(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// A certificate of the holder's key whose base64 is padded and has a
	// character base64url encodes otherwise (its signature's length and
	// bytes vary).
	var own []byte
	var ownB64 string
	for len(own)%3 == 0 || !strings.ContainsAny(ownB64, "+/") {
		own = certDER(t, holder.Public(), nil, holder, nil)
		ownB64 = base64.StdEncoding.EncodeToString(own)
	}
	otherDER := certDER(t, other.Public(), nil, other, nil)
	// ownB64 with the unused bits of its last character set, which
	// strict decoding refuses.
	const stdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	unpadded := strings.TrimRight(ownB64, "=")
	last := strings.IndexByte(stdAlphabet, unpadded[len(unpadded)-1])
	unusedBits := unpadded[:len(unpadded)-1] + string(stdAlphabet[last|3]) + ownB64[len(unpadded):]
	// A certificate of the holder's key whose base64 is just over the
	// bound: DNS names fill it.
	var names []string
	for i := 0; len(names)*24 < dpop.MaxX5CCertLen; i++ {
		names = append(names, fmt.Sprintf("h%06d.dpop.example.com", i))
	}
	bigOwn := certDER(t, holder.Public(), nil, holder, func(c *x509.Certificate) { c.DNSNames = names })
	if l := base64.StdEncoding.EncodedLen(len(bigOwn)); l <= dpop.MaxX5CCertLen || l > 2*dpop.MaxX5CCertLen {
		t.Fatalf("the big certificate is %d bytes of base64, want just over %d", l, dpop.MaxX5CCertLen)
	}
	runX5CCases(t, newVerifier(t, dpop.Config{MaxProofSize: 64 << 10}), holder, []x5cCase{
		{"of another key", map[string]any{"x5c": b64Certs(otherDER)}, nil, dpop.ErrX5CKey, ""},
		{"another key's first, the jwk's second", map[string]any{"x5c": b64Certs(otherDER, own)}, nil, dpop.ErrX5CKey, ""},
		{"of an Ed25519 key", map[string]any{"x5c": b64Certs(certDER(t, edKey.Public(), nil, edKey, nil))}, nil, dpop.ErrX5CKey, ""},
		{"no base64", map[string]any{"x5c": []string{"!!junk"}}, nil, dpop.ErrX5C, ""},
		{"base64url", map[string]any{"x5c": []string{base64.URLEncoding.EncodeToString(own)}}, nil, dpop.ErrX5C, ""},
		{"base64 unpadded", map[string]any{"x5c": []string{base64.RawStdEncoding.EncodeToString(own)}}, nil, dpop.ErrX5C, ""},
		{"base64 with its unused bits set", map[string]any{"x5c": []string{unusedBits}}, nil, dpop.ErrX5C, ""},
		{"base64 with a line break", map[string]any{"x5c": []string{ownB64[:64] + "\n" + ownB64[64:]}}, nil, dpop.ErrX5C, ""},
		{"no DER", map[string]any{"x5c": b64Certs([]byte{0x30, 0x82, 0xff, 0xff})}, nil, dpop.ErrX5C, ""},
		{"DER with a trailing byte", map[string]any{"x5c": b64Certs(append(slices.Clone(own), 0))}, nil, dpop.ErrX5C, ""},
		{"empty array", map[string]any{"x5c": []string{}}, nil, dpop.ErrX5C, ""},
		{"null", map[string]any{"x5c": nil}, nil, dpop.ErrX5C, ""},
		{"empty first member", map[string]any{"x5c": []string{"", ownB64}}, nil, dpop.ErrX5C, ""},
		{"null first member", map[string]any{"x5c": []any{nil, ownB64}}, nil, dpop.ErrX5C, ""},
		{"the jwk's key, over the bound", map[string]any{"x5c": b64Certs(bigOwn)}, nil, dpop.ErrX5C, ""},
		{"a string", map[string]any{"x5c": ownB64}, nil, dpop.ErrInvalidProof, "x5c"},
		{"a number", map[string]any{"x5c": 5}, nil, dpop.ErrInvalidProof, "x5c"},
		{"an object", map[string]any{"x5c": map[string]any{"0": ownB64}}, nil, dpop.ErrInvalidProof, "x5c"},
		{"a number member", map[string]any{"x5c": []any{5}}, nil, dpop.ErrInvalidProof, "x5c"},
		{"an object member", map[string]any{"x5c": []any{map[string]any{"a": 1}}}, nil, dpop.ErrInvalidProof, "x5c"},
		{"x5u in the jwk", map[string]any{"x5u": "https://dpop.example.com/cert.pem"}, nil, dpop.ErrKeyRef, ""},
		{"x5u in the jwk beside an x5c of its key", map[string]any{"x5u": "https://dpop.example.com/cert.pem", "x5c": []string{ownB64}}, nil, dpop.ErrKeyRef, ""},
		{"header x5c of the jwk's key", nil, map[string]any{"x5c": []string{ownB64}}, dpop.ErrKeyRef, ""},
		{"header and jwk x5c of the jwk's key", map[string]any{"x5c": []string{ownB64}}, map[string]any{"x5c": []string{ownB64}}, dpop.ErrKeyRef, ""},
		{"header x5u", nil, map[string]any{"x5u": "https://dpop.example.com/cert.pem"}, dpop.ErrKeyRef, ""},
		{"header jku", nil, map[string]any{"jku": "https://dpop.example.com/jwks.json"}, dpop.ErrKeyRef, ""},
	})
}

// x5cCase is a proof by the holder's key for runX5CCases: its jwk with the
// members jwk added, its header with the members hdr added; want is nil
// when it is accepted, else the error it is refused with, whose text names
// cause.
type x5cCase struct {
	name     string
	jwk, hdr map[string]any
	want     error
	cause    string
}

// runX5CCases verifies each case's proof, signed by holder under ES256,
// with v, for testReq bound to holder's key, as a subtest: an accepted
// one under the thumbprint of holder's bare jwk (RFC 7638: x5c and x5t
// are not in it).
func runX5CCases(t *testing.T, v *dpop.Verifier, holder *ecdsa.PrivateKey, cases []x5cCase) {
	t.Helper()
	req := testReq
	req.KeyThumbprint = thumbprintOf(t, holder.Public())
	for n, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jwkMap := publicJWK(t, holder)
			for name, val := range tc.jwk {
				jwkMap[name] = val
			}
			p, err := v.Verify(t.Context(), x5cProof(t, "ES256", holder, jwkMap, tc.hdr, n), req)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Verify = %v, want it accepted", err)
			case tc.want == nil && p.Thumbprint != req.KeyThumbprint:
				t.Errorf("Thumbprint = %s, want %s, the jwk's without x5c and x5t", p.Thumbprint, req.KeyThumbprint)
			case tc.want != nil && (!errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.cause)):
				t.Fatalf("Verify = %v, want %v (naming %q)", err, tc.want, tc.cause)
			}
		})
	}
}

// A jwk's x5t and x5t#S256 beside its x5c must be the SHA-1 and SHA-256
// thumbprints (unpadded base64url digests of the DER) of x5c's first
// certificate (RFC 7517, 4.8 and 4.9), the one whose key is the jwk's: a
// thumbprint of the chain's second certificate, of another certificate,
// of the wrong digest, padded, in hex or empty is refused (it names a
// certificate that is not the one checked against the jwk's key), as it
// used to be ignored. Without x5c, an x5t or x5t#S256 names no key and is
// left alone, as a kid is: the proof is accepted, whatever digest it
// holds. Either way the proof's thumbprint is the jwk's without them.
func TestVerify_JWKX5TMustBeTheThumbprintOfItsX5CsFirstCertificate(t *testing.T) {
	holder := p256Key(t)
	caKey, caDER, ca := testCA(t, elliptic.P256())
	leaf := certDER(t, holder.Public(), ca, caKey, nil)
	other := certDER(t, holder.Public(), nil, holder, nil) // of the holder's key too, but not in x5c
	s1 := func(der []byte) string { d := sha1.Sum(der); return base64.RawURLEncoding.EncodeToString(d[:]) }
	s256 := func(der []byte) string { d := sha256.Sum256(der); return base64.RawURLEncoding.EncodeToString(d[:]) }
	sha1Hex := sha1.Sum(leaf)
	chain := b64Certs(leaf, caDER)
	runX5CCases(t, newVerifier(t, dpop.Config{}), holder, []x5cCase{
		{"x5t of the first certificate", map[string]any{"x5c": chain, "x5t": s1(leaf)}, nil, nil, ""},
		{"x5t#S256 of the first certificate", map[string]any{"x5c": chain, "x5t#S256": s256(leaf)}, nil, nil, ""},
		{"both of the first certificate", map[string]any{"x5c": chain, "x5t": s1(leaf), "x5t#S256": s256(leaf)}, nil, nil, ""},
		{"x5t without x5c", map[string]any{"x5t": s1(other)}, nil, nil, ""},
		{"x5t#S256 without x5c", map[string]any{"x5t#S256": s256(other)}, nil, nil, ""},
		{"x5t of junk without x5c", map[string]any{"x5t": "not a digest", "x5t#S256": ""}, nil, nil, ""},
		{"x5t of the second certificate", map[string]any{"x5c": chain, "x5t": s1(caDER)}, nil, dpop.ErrX5T, ""},
		{"x5t#S256 of the second certificate", map[string]any{"x5c": chain, "x5t#S256": s256(caDER)}, nil, dpop.ErrX5T, ""},
		{"x5t of a certificate of the jwk's key not in x5c", map[string]any{"x5c": chain, "x5t": s1(other)}, nil, dpop.ErrX5T, ""},
		{"x5t#S256 of a certificate of the jwk's key not in x5c", map[string]any{"x5c": chain, "x5t#S256": s256(other)}, nil, dpop.ErrX5T, ""},
		{"x5t right, x5t#S256 wrong", map[string]any{"x5c": chain, "x5t": s1(leaf), "x5t#S256": s256(caDER)}, nil, dpop.ErrX5T, ""},
		{"x5t wrong, x5t#S256 right", map[string]any{"x5c": chain, "x5t": s1(caDER), "x5t#S256": s256(leaf)}, nil, dpop.ErrX5T, ""},
		{"x5t holding the SHA-256 digest", map[string]any{"x5c": chain, "x5t": s256(leaf)}, nil, dpop.ErrX5T, ""},
		{"x5t#S256 holding the SHA-1 digest", map[string]any{"x5c": chain, "x5t#S256": s1(leaf)}, nil, dpop.ErrX5T, ""},
		{"x5t padded", map[string]any{"x5c": chain, "x5t": s1(leaf) + "="}, nil, dpop.ErrX5T, ""},
		{"x5t in hex", map[string]any{"x5c": chain, "x5t": hex.EncodeToString(sha1Hex[:])}, nil, dpop.ErrX5T, ""},
		{"x5t empty", map[string]any{"x5c": chain, "x5t": ""}, nil, dpop.ErrX5T, ""},
		{"x5t#S256 empty", map[string]any{"x5c": chain, "x5t#S256": ""}, nil, dpop.ErrX5T, ""},
	})
}

// A header (not jwk) x5t or x5t#S256 (RFC 7515, 4.1.7 and 4.1.8) names
// the certificate of the key that signed the proof apart from its jwk,
// the proof's key (RFC 9449, 4.2 and 4.3, item 6): it is refused
// (ErrKeyRef) whatever it holds, as a header x5c is: the digest of a
// certificate of another key or of the jwk's key that is not in the
// proof, junk, null, and even the digest of the jwk's x5c's first
// certificate or the jwk's own x5t. Before, it was ignored and each proof
// accepted. A proof without them, with a kid, with the jwk's own x5c and
// x5t, or with members whose names differ in case (names are matched
// exactly) is accepted.
func TestVerify_HeaderX5TIsRefusedWhateverItHolds(t *testing.T) {
	holder, other := p256Key(t), p256Key(t)
	own := certDER(t, holder.Public(), nil, holder, nil)
	absent := certDER(t, holder.Public(), nil, holder, nil) // of the holder's key too, not in the proof
	otherDER := certDER(t, other.Public(), nil, other, nil)
	s1 := func(der []byte) string { d := sha1.Sum(der); return base64.RawURLEncoding.EncodeToString(d[:]) }
	s256 := func(der []byte) string { d := sha256.Sum256(der); return base64.RawURLEncoding.EncodeToString(d[:]) }
	withX5C := map[string]any{"x5c": b64Certs(own), "x5t": s1(own), "x5t#S256": s256(own)}
	runX5CCases(t, newVerifier(t, dpop.Config{}), holder, []x5cCase{
		{"none", nil, nil, nil, ""},
		{"none, the jwk's x5c and x5t", withX5C, nil, nil, ""},
		{"a kid", nil, map[string]any{"kid": s256(own)}, nil, ""},
		{"X5T and x5t#s256 (other names)", nil, map[string]any{"X5T": s1(otherDER), "x5t#s256": s256(otherDER)}, nil, ""},
		{"x5t of another key's certificate", nil, map[string]any{"x5t": s1(otherDER)}, dpop.ErrKeyRef, "x5t"},
		{"x5t#S256 of another key's certificate", nil, map[string]any{"x5t#S256": s256(otherDER)}, dpop.ErrKeyRef, "x5t"},
		{"x5t#S256 of another key's certificate, the jwk's x5c of its own", withX5C, map[string]any{"x5t#S256": s256(otherDER)}, dpop.ErrKeyRef, "x5t"},
		{"x5t of a certificate of the jwk's key not in the proof", nil, map[string]any{"x5t": s1(absent)}, dpop.ErrKeyRef, "x5t"},
		{"x5t#S256 of a certificate of the jwk's key not in the proof", nil, map[string]any{"x5t#S256": s256(absent)}, dpop.ErrKeyRef, "x5t"},
		{"x5t of the jwk's x5c's first certificate", withX5C, map[string]any{"x5t": s1(own)}, dpop.ErrKeyRef, "x5t"},
		{"x5t#S256 of the jwk's x5c's first certificate", withX5C, map[string]any{"x5t#S256": s256(own)}, dpop.ErrKeyRef, "x5t"},
		{"both of the jwk's x5c's first certificate", withX5C, map[string]any{"x5t": s1(own), "x5t#S256": s256(own)}, dpop.ErrKeyRef, "x5t"},
		{"x5t#S256 junk", nil, map[string]any{"x5t#S256": "not a digest"}, dpop.ErrKeyRef, "x5t"},
		{"x5t empty", nil, map[string]any{"x5t": ""}, dpop.ErrKeyRef, "x5t"},
		{"x5t null", nil, map[string]any{"x5t": nil}, dpop.ErrKeyRef, "x5t"},
		{"x5t#S256 a number", nil, map[string]any{"x5t#S256": 5}, dpop.ErrKeyRef, "x5t"},
		{"x5t an array", nil, map[string]any{"x5t": []string{s1(own)}}, dpop.ErrKeyRef, "x5t"},
	})
}

// realisticCert is a DER certificate of pub, issued by parent (nil:
// self-issued) and signed by signer, with what a private PKI's client or
// CA certificate carries: a full subject, key usages, names, and its
// issuer's OCSP, certificate and CRL URLs. The certificates of the
// chains whose proofs DefaultMaxProofSize is measured against.
func realisticCert(t testing.TB, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer, isCA bool) ([]byte, *x509.Certificate) {
	t.Helper()
	spiffe := &url.URL{Scheme: "spiffe", Host: "payments.example.com", Path: "/ns/payments/sa/client-service"}
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).Lsh(big.NewInt(1), 158),
		Subject: pkix.Name{Country: []string{"DE"}, Organization: []string{"Example Payments GmbH"},
			OrganizationalUnit: []string{"Platform Engineering"}, CommonName: "client-service.payments.example.com"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"client-service.payments.example.com"}, URIs: []*url.URL{spiffe},
		OCSPServer:            []string{"http://ocsp.pki.example.com"},
		IssuingCertificateURL: []string{"http://pki.example.com/issuing-ca-2030.crt"},
		CRLDistributionPoints: []string{"http://pki.example.com/issuing-ca-2030.crl"},
	}
	if isCA {
		tmpl.Subject = pkix.Name{Country: []string{"DE"}, Organization: []string{"Example Payments GmbH"}, CommonName: "Example Payments Issuing CA 2030"}
		tmpl.IsCA, tmpl.MaxPathLenZero, tmpl.KeyUsage, tmpl.ExtKeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign, nil
		tmpl.DNSNames, tmpl.URIs = nil, nil
		tmpl.IssuingCertificateURL = []string{"http://pki.example.com/root-ca.crt"}
		tmpl.CRLDistributionPoints = []string{"http://pki.example.com/root-ca.crl"}
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return der, c
}

// paddedProof is a proof by key under alg whose jwk is jwkMap, for
// testReq at t0, exactly size bytes long: a header member "pad" and the
// jti's length make it so (jti+"…", "j" added as needed).
func paddedProof(t testing.TB, alg string, key crypto.Signer, jwkMap map[string]any, jti string, size int) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodedLen
	hdr := map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": jwkMap, "pad": ""}
	claims := map[string]any{"jti": jti, "htm": "POST", "htu": testURL, "iat": t0.Unix(), "ath": dpop.AccessTokenHash(testToken)}
	trial := signJSON(t, alg, key, hdr, claims)
	sigLen := len(trial) - strings.LastIndexByte(trial, '.') - 1 // the same for every proof by key
	for j := range 4 {
		claims["jti"] = jti + strings.Repeat("j", j)
		c, err := json.Marshal(claims)
		if err != nil {
			t.Fatal(err)
		}
		hdr["pad"] = ""
		h, err := json.Marshal(hdr)
		if err != nil {
			t.Fatal(err)
		}
		// Each byte of pad adds one to the header's JSON.
		for pad := 0; enc(len(h)+pad)+enc(len(c))+sigLen+2 <= size; pad++ {
			if enc(len(h)+pad)+enc(len(c))+sigLen+2 == size {
				hdr["pad"] = strings.Repeat("a", pad)
				p := signJSON(t, alg, key, hdr, claims)
				if len(p) != size {
					t.Fatalf("padded proof of %d bytes, want %d", len(p), size)
				}
				return p
			}
		}
	}
	t.Fatalf("no padding makes the proof %d bytes", size)
	return ""
}

// DefaultMaxProofSize takes a proof whose jwk is an RSA-4096 key with its
// certificate chain in x5c, as Nimbus's DefaultDPoPProofFactory sends it:
// leaf and intermediate (7.8 KB, which the former 8 KiB default took with
// some 380 bytes to spare: a nonce, a longer name or a policy more, and it
// was refused), and leaf, intermediate and root (10.6 KB, refused by the
// former default). A proof of exactly DefaultMaxProofSize bytes with such
// a chain is accepted, and one byte more refused, before it is parsed.
func TestVerify_RSA4096CertificateChainFitsDefaultMaxProofSize(t *testing.T) {
	leafKey, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	rootDER, root := realisticCert(t, caKey.Public(), nil, caKey, true) // self-signed: a root's size
	caDER, ca := realisticCert(t, caKey.Public(), root, caKey, true)
	leafDER, _ := realisticCert(t, leafKey.Public(), ca, caKey, false)
	v := newVerifier(t, dpop.Config{Algorithms: []string{"RS256"}})
	req := testReq
	req.KeyThumbprint = thumbprintOf(t, leafKey.Public())
	for i, chain := range [][][]byte{{leafDER, caDER}, {leafDER, caDER, rootDER}} {
		jwkMap := publicJWK(t, leafKey)
		jwkMap["x5c"] = b64Certs(chain...)
		proof := x5cProof(t, "RS256", leafKey, jwkMap, nil, i)
		t.Logf("%d certificates: proof of %d bytes", len(chain), len(proof))
		if _, err := v.Verify(t.Context(), proof, req); err != nil {
			t.Errorf("%d certificates, proof of %d bytes: %v", len(chain), len(proof), err)
		}
		if len(proof) > dpop.DefaultMaxProofSize*3/4 {
			t.Errorf("%d certificates: proof of %d bytes leaves less than a quarter of DefaultMaxProofSize (%d) to spare", len(chain), len(proof), dpop.DefaultMaxProofSize)
		}
	}
	jwkMap := publicJWK(t, leafKey)
	jwkMap["x5c"] = b64Certs(leafDER, caDER, rootDER)
	if _, err := v.Verify(t.Context(), paddedProof(t, "RS256", leafKey, jwkMap, "pad", dpop.DefaultMaxProofSize), req); err != nil {
		t.Errorf("proof of exactly DefaultMaxProofSize bytes: %v", err)
	}
	_, err = v.Verify(t.Context(), paddedProof(t, "RS256", leafKey, jwkMap, "pad", dpop.DefaultMaxProofSize+1), req)
	if !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "MaxProofSize") {
		t.Errorf("proof of DefaultMaxProofSize+1 bytes: %v, want ErrInvalidProof naming MaxProofSize", err)
	}
}

// A key reference in the header is refused however its name is spelt in
// the JSON text: with escapes that decode to it ("x5t\u0023S256",
// "\u00785t", "j\u006bu"), and repeated, whatever the values, for the
// name is what the header's decoding reads, not the bytes.
func TestVerify_HeaderKeyReferenceSpeltWithEscapesOrRepeatedIsRefused(t *testing.T) {
	holder := p256Key(t)
	v := newVerifier(t, dpop.Config{})
	req := testReq
	req.KeyThumbprint = thumbprintOf(t, holder.Public())
	jwkJSON, err := json.Marshal(publicJWK(t, holder))
	if err != nil {
		t.Fatal(err)
	}
	// verify checks a proof whose header is the holder's, with members
	// (JSON text) after its jwk.
	verify := func(members, jti string) error {
		hdr := `{"typ":"dpop+jwt","alg":"ES256","jwk":` + string(jwkJSON) + members + `}`
		claims, err := json.Marshal(map[string]any{"jti": jti, "htm": "POST", "htu": testURL, "iat": t0.Unix(), "ath": dpop.AccessTokenHash(testToken)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(t.Context(), signInput(t, "ES256", holder, base64.RawURLEncoding.EncodeToString([]byte(hdr)), base64.RawURLEncoding.EncodeToString(claims)), req)
		return err
	}
	for n, members := range []string{
		`,"x5t\u0023S256":"AAAA"`,
		`,"\u00785t":"AAAA"`,
		`,"j\u006bu":"https://keys.example.com/jwks"`,
		`,"x5t":"AAAA","x5t":"BBBB"`,
		`,"x5t":1,"x5t":null`,
	} {
		t.Run(members, func(t *testing.T) {
			if err := verify(members, fmt.Sprint("escaped-ref-", n)); !errors.Is(err, dpop.ErrKeyRef) {
				t.Fatalf("Verify = %v, want ErrKeyRef", err)
			}
		})
	}
	// The same header without the reference is accepted: the refusals
	// above are the reference's.
	if err := verify("", "escaped-ref-none"); err != nil {
		t.Fatalf("Verify of the header without a reference = %v, want it accepted", err)
	}
}
