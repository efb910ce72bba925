package jwks

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseJWKS_KeepsEachSupportedKeyType(t *testing.T) {
	testKeys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(t, err)
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	must(t, err)
	body := jwksDoc(t,
		rsaJWK(t, 0, "rsa"),
		jwkJSON(t, &rsaKeys[1].PublicKey, "rsa-noalg", "", nil),
		jwkJSON(t, &rsaKeys[2].PublicKey, "ps", "PS256", map[string]any{"use": "sig", "key_ops": []string{"verify"}}),
		ecJWK(t, "p256"),
		jwkJSON(t, &p384.PublicKey, "p384", "ES384", nil),
		jwkJSON(t, &p521.PublicKey, "p521", "", nil),
		edJWK(t, "ed"),
		jwkJSON(t, edPub, "ed-rfc9864", "Ed25519", nil),
	)
	keys, skipped, err := parseJWKS(body)
	if err != nil || len(skipped) != 0 {
		t.Fatalf("parseJWKS: err=%v skipped=%+v", err, skipped)
	}
	got := map[string]*Key{}
	for _, k := range keys {
		got[k.ID] = k
	}
	checks := []struct {
		kid, alg string
		ok       func(any) bool
	}{
		{"rsa", "RS256", func(p any) bool { _, ok := p.(*rsa.PublicKey); return ok }},
		{"rsa-noalg", "", func(p any) bool { _, ok := p.(*rsa.PublicKey); return ok }},
		{"ps", "PS256", func(p any) bool { _, ok := p.(*rsa.PublicKey); return ok }},
		{"p256", "ES256", func(p any) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P256() }},
		{"p384", "ES384", func(p any) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P384() }},
		{"p521", "", func(p any) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P521() }},
		{"ed", "EdDSA", func(p any) bool { k, ok := p.(ed25519.PublicKey); return ok && k.Equal(edPub) }},
		// RFC 9864's fully specified alg, which jwx v2 does not know.
		{"ed-rfc9864", "Ed25519", func(p any) bool { k, ok := p.(ed25519.PublicKey); return ok && k.Equal(edPub) }},
	}
	if len(got) != len(checks) {
		t.Fatalf("got %d keys, want %d", len(got), len(checks))
	}
	for _, c := range checks {
		k := got[c.kid]
		if k == nil || k.Algorithm != c.alg || !c.ok(k.Public) || k.thumb == "" {
			t.Errorf("kid %q: got %+v, want alg %q and the right public key type", c.kid, k, c.alg)
		}
	}
	if !got["rsa"].Public.(*rsa.PublicKey).Equal(&rsaKeys[0].PublicKey) {
		t.Error("RSA public key differs from the published one")
	}
}

// TestParseJWKS_UnusableKeySkippedOthersKept lists every kind of entry that
// must never become a key; each sits beside a good key that must survive.
func TestParseJWKS_UnusableKeySkippedOthersKept(t *testing.T) {
	testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	must(t, err)
	xPub, err := ecdhX25519Public()
	must(t, err)
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // not good-ec: its exposure would drop good-ec
	must(t, err)
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name   string
		entry  json.RawMessage
		reason string
		warn   bool
	}{
		{"oct HMAC secret", jwkJSON(t, []byte("0123456789abcdef0123456789abcdef"), "oct", "HS256", nil), `kty "oct"`, true},
		{"unknown kty", json.RawMessage(`{"kty":"PQC","kid":"pqc","x":"AAAA"}`), "unsupported kty", false},
		{"missing kty", json.RawMessage(`{"kid":"nokty","n":"AAAA","e":"AQAB"}`), "unsupported kty", false},
		{"use enc", jwkJSON(t, &rsaKeys[1].PublicKey, "enc", "", map[string]any{"use": "enc"}), `use "enc"`, false},
		{"key_ops without verify", jwkJSON(t, &rsaKeys[1].PublicKey, "ops", "", map[string]any{"key_ops": []string{"encrypt", "wrapKey"}}), "key_ops", false},
		{"missing kid", jwkJSON(t, &rsaKeys[1].PublicKey, "", "RS256", nil), "missing kid", true},
		{"RSA 1024 bits", jwkJSON(t, &small.PublicKey, "small", "RS256", nil), "1024 bits", true},
		{"RSA private key", jwkJSON(t, rsaKeys[1], "priv", "RS256", nil), "private key material", true},
		// A prime factor is the whole private key (q = n/p): published
		// without "d", it exposes the key just the same (RFC 7518, 6.3.2).
		{"RSA prime factor without d", jwkJSON(t, &rsaKeys[1].PublicKey, "p", "RS256", map[string]any{"p": b64(rsaKeys[1].Primes[0].Bytes())}), "private key material", true},
		{"RSA CRT members without d", jwkJSON(t, &rsaKeys[1].PublicKey, "crt", "", map[string]any{"q": b64(rsaKeys[1].Primes[1].Bytes()), "qi": b64(rsaKeys[1].Precomputed.Qinv.Bytes())}), "private key material", true},
		{"RSA even exponent", jwkJSON(t, &rsaKeys[1].PublicKey, "even", "", map[string]any{"e": b64([]byte{1, 0, 0})}), "exponent", true},
		{"RSA huge exponent", jwkJSON(t, &rsaKeys[1].PublicKey, "huge", "", map[string]any{"e": b64([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1})}), "exponent", true},
		{"RSA missing n", json.RawMessage(`{"kty":"RSA","kid":"non","e":"AQAB"}`), "invalid JWK", true},
		{"EC secp256k1", jwkJSON(t, &ecKey.PublicKey, "k1", "", map[string]any{"crv": "secp256k1"}), "invalid curve", true},
		{"EC P-224", jwkJSON(t, &ecKey.PublicKey, "p224", "", map[string]any{"crv": "P-224"}), "invalid curve", true},
		{"EC point off the curve", jwkJSON(t, &ecKey.PublicKey, "offcurve", "", map[string]any{"y": b64(make([]byte, 32))}), "invalid EC public key", true},
		{"EC short x", jwkJSON(t, &ecKey.PublicKey, "shortx", "", map[string]any{"x": b64(make([]byte, 5))}), "invalid key parameters", true},
		{"EC private key", jwkJSON(t, otherEC, "ecpriv", "ES256", nil), "private key material", true},
		{"OKP X25519", jwkJSON(t, xPub, "x25519", "", nil), "unsupported key type", false},
		{"OKP Ed25519 short x", jwkJSON(t, edPub, "edshort", "", map[string]any{"x": b64([]byte{1, 2, 3})}), "Ed25519 public key length", true},
		// Keys of small order, under which signatures are forged without
		// a private key (R = identity, S = 0): a zero-filled placeholder,
		// the identity, with its sign bit, and a non-canonical identity.
		{"OKP Ed25519 x all zeros", jwkJSON(t, edPub, "edzero", "EdDSA", map[string]any{"x": b64(make([]byte, 32))}), "small order", true},
		{"OKP Ed25519 x the identity", jwkJSON(t, edPub, "edone", "Ed25519", map[string]any{"x": b64(append([]byte{1}, make([]byte, 31)...))}), "small order", true},
		{"OKP Ed25519 x the identity with the sign bit", jwkJSON(t, edPub, "edonesign", "", map[string]any{"x": b64(append(append([]byte{1}, make([]byte, 30)...), 0x80))}), "small order", true},
		{"OKP Ed25519 x p+1 (the identity, non-canonical)", jwkJSON(t, edPub, "edp1", "", map[string]any{"x": b64(append(append([]byte{0xee}, bytes.Repeat([]byte{0xff}, 30)...), 0x7f))}), "small order", true},
		{"alg HS256 on an RSA key", jwkJSON(t, &rsaKeys[1].PublicKey, "rsahs", "", map[string]any{"alg": "HS256"}), `alg "HS256"`, true},
		{"alg none on an RSA key", jwkJSON(t, &rsaKeys[1].PublicKey, "rsanone", "", map[string]any{"alg": "none"}), `alg "none"`, true},
		{"alg RSA-OAEP (encryption)", jwkJSON(t, &rsaKeys[1].PublicKey, "oaep", "", map[string]any{"alg": "RSA-OAEP"}), `alg "RSA-OAEP"`, true},
		{"alg ES384 on a P-256 key", jwkJSON(t, &ecKey.PublicKey, "es384", "", map[string]any{"alg": "ES384"}), `alg "ES384"`, true},
		{"alg RS256 on an Ed25519 key", jwkJSON(t, edPub, "edrs", "", map[string]any{"alg": "RS256"}), `alg "RS256"`, true},
		{"alg Ed448 on an Ed25519 key", jwkJSON(t, edPub, "ed448alg", "", map[string]any{"alg": "Ed448"}), `alg "Ed448"`, true},
		{"alg ed25519 (another case) on an Ed25519 key", jwkJSON(t, edPub, "edlower", "", map[string]any{"alg": "ed25519"}), `alg "ed25519"`, true},
		{"alg Ed25519 on a P-256 key", jwkJSON(t, &ecKey.PublicKey, "eced", "", map[string]any{"alg": "Ed25519"}), `alg "Ed25519"`, true},
		{"alg Ed25519 on an RSA key", jwkJSON(t, &rsaKeys[1].PublicKey, "rsaed", "", map[string]any{"alg": "Ed25519"}), `alg "Ed25519"`, true},
		{"OKP Ed448", json.RawMessage(`{"kty":"OKP","crv":"Ed448","kid":"ed448","alg":"Ed448","x":"` + b64(make([]byte, 57)) + `"}`), "curve algorithm Ed448", true},
		{"not an object", json.RawMessage(`42`), "not a JWK object", true},
		{"kid of the wrong type", json.RawMessage(`{"kty":"RSA","kid":7,"n":"AAAA","e":"AQAB"}`), "invalid JWK", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "good"), tt.entry, ecJWK(t, "good-ec")))
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			if len(keys) != 2 || keys[0].ID != "good" || keys[1].ID != "good-ec" {
				t.Fatalf("kept %v, want exactly the two good keys", kids(keys))
			}
			if len(skipped) != 1 || skipped[0].Index != 1 {
				t.Fatalf("skipped %+v, want entry 1", skipped)
			}
			if !strings.Contains(skipped[0].Reason, tt.reason) || skipped[0].Warn != tt.warn {
				t.Fatalf("skip = %+v, want reason containing %q and warn=%v", skipped[0], tt.reason, tt.warn)
			}
		})
	}
}

func TestParseJWKS_DuplicateKidDifferentKeysDropsAllOfThem(t *testing.T) {
	keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "dup"), rsaJWK(t, 1, "ok"), rsaJWK(t, 2, "dup")))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != "ok" {
		t.Fatalf("kept %v, want only ok", kids(keys))
	}
	if len(skipped) != 2 || !skipped[0].Warn || !strings.Contains(skipped[0].Reason, "ambiguous") {
		t.Fatalf("skipped %+v, want both dup entries as ambiguous", skipped)
	}
}

// TestParseJWKS_SkippedKidsAreClipped: the kid of a usable key skipped as a
// duplicate or as ambiguous reaches the log clipped, however long the
// document made it.
func TestParseJWKS_SkippedKidsAreClipped(t *testing.T) {
	long := strings.Repeat("k", 64<<10)
	_, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, long), rsaJWK(t, 0, long), rsaJWK(t, 1, long)))
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) == 0 {
		t.Fatal("nothing skipped")
	}
	for _, sk := range skipped {
		if len(sk.KID) > 256 {
			t.Errorf("skipped entry %d (%s) logs a %d-byte kid", sk.Index, sk.Reason, len(sk.KID))
		}
	}
}

// TestParseJWKS_SkippedReasonsAreClipped: jwx's errors quote the value
// they refuse (an unknown curve, say), so the reason of a skipped entry,
// which the log carries, is clipped like every other string from the
// document, however long the document made that value.
func TestParseJWKS_SkippedReasonsAreClipped(t *testing.T) {
	long := strings.Repeat("A", 64<<10)
	for _, entry := range []string{
		`{"kid":"ec","kty":"EC","crv":"` + long + `","x":"AA","y":"AA"}`,
		`{"kid":"okp","kty":"OKP","crv":"` + long + `","x":"AA"}`,
	} {
		_, skipped, err := parseJWKS([]byte(`{"keys":[` + entry + `]}`))
		if err != nil {
			t.Fatal(err)
		}
		if len(skipped) != 1 {
			t.Fatalf("%.40s…: skipped %d entries, want 1", entry, len(skipped))
		}
		if n := len(skipped[0].Reason); n > 256 {
			t.Errorf("%.40s…: the reason is %d bytes: %.200s…", entry, n, skipped[0].Reason)
		}
	}
}

func TestParseJWKS_DuplicateKidSameKeyDifferentAlgIsAmbiguous(t *testing.T) {
	testKeys(t)
	keys, _, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "dup"), jwkJSON(t, &rsaKeys[0].PublicKey, "dup", "PS256", nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("kept %v, want none", kids(keys))
	}
}

// A key whose private half the same document publishes is exposed: anyone
// can sign with it, so its public entry must not verify either, whatever
// kid or form (full private JWK, or a prime factor alone) the exposure has.
func TestParseJWKS_PublicKeyWhosePrivateHalfIsPublishedIsDropped(t *testing.T) {
	testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name    string
		exposed json.RawMessage
	}{
		{"RSA private JWK, same kid", jwkJSON(t, rsaKeys[0], "a", "RS256", nil)},
		{"RSA private JWK, other kid", jwkJSON(t, rsaKeys[0], "other", "RS256", nil)},
		{"RSA prime factor, no kid", jwkJSON(t, &rsaKeys[0].PublicKey, "", "", map[string]any{"p": b64(rsaKeys[0].Primes[0].Bytes())})},
		{"EC private JWK", jwkJSON(t, ecKey, "ec-copy", "ES256", nil)},
		// A malformed member beside the private material (jwx then
		// parses nothing) hides neither the material nor the key its
		// thumbprint members name.
		{"RSA private JWK with a numeric kid", jwkJSON(t, rsaKeys[0], "", "", map[string]any{"kid": 5})},
		{"RSA prime factor with a string x5c", jwkJSON(t, &rsaKeys[0].PublicKey, "", "", map[string]any{"p": b64(rsaKeys[0].Primes[0].Bytes()), "x5c": "MIIB"})},
		{"RSA private JWK, n zero-padded, key_ops a string", jwkJSON(t, rsaKeys[0], "x", "", map[string]any{"n": b64(append([]byte{0}, rsaKeys[0].N.Bytes()...)), "key_ops": "sign"})},
		{"EC private JWK with a numeric use", jwkJSON(t, ecKey, "ec-copy", "", map[string]any{"use": 1})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), ecJWK(t, "ec"), tt.exposed, rsaJWK(t, 1, "ok")))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if k.ID == "a" && strings.HasPrefix(tt.name, "RSA") || k.ID == "ec" && strings.HasPrefix(tt.name, "EC") {
					t.Fatalf("kept %v: key %q is exposed by entry 2", kids(keys), k.ID)
				}
			}
			if len(keys) != 2 {
				t.Fatalf("kept %v, want the two unexposed keys", kids(keys))
			}
			var exposedSkips int
			for _, sk := range skipped {
				if sk.Warn && strings.Contains(sk.Reason, "private key") {
					exposedSkips++
				}
			}
			if exposedSkips != 2 {
				t.Fatalf("skipped %+v, want the private entry and the public key it exposes, both at warn", skipped)
			}
		})
	}
}

// A private member that holds nothing (null, "" or []) publishes nothing:
// the key is kept, and is not taken for exposed. Some serializers write
// every member of a key type, a public key's private ones empty:
// Microsoft.IdentityModel 7 writes "oth": [] and "x5c": [] (its issue
// 2254), others "d": null. Before, jwx read such a member as private
// material, and every key of such an issuer was refused as exposed and
// remembered so for the Set's lifetime, with a warning that its private
// key was published. A member that holds something still exposes the key.
func TestParseJWKS_EmptyPrivateMembersExposeNothing(t *testing.T) {
	testKeys(t)
	nulls := map[string]any{}
	for _, name := range privateMembers {
		nulls[name] = json.RawMessage("null")
	}
	tests := []struct {
		name  string
		entry json.RawMessage
	}{
		{`RSA with "oth": [] and "x5c": []`, jwkJSON(t, &rsaKeys[0].PublicKey, "rsa", "RS256", map[string]any{"oth": []any{}, "x5c": []any{}})},
		{"RSA with every private member null", jwkJSON(t, &rsaKeys[0].PublicKey, "rsa", "RS256", nulls)},
		{`RSA with "d": "" and "p": ""`, jwkJSON(t, &rsaKeys[0].PublicKey, "rsa", "RS256", map[string]any{"d": "", "p": ""})},
		{`EC with "d": null`, jwkJSON(t, &ecKey.PublicKey, "ec", "ES256", map[string]any{"d": json.RawMessage("null")})},
		{`EC with "d": ""`, jwkJSON(t, &ecKey.PublicKey, "ec", "ES256", map[string]any{"d": ""})},
		{`Ed25519 with "d": null`, jwkJSON(t, edPub, "ed", "EdDSA", map[string]any{"d": json.RawMessage("null")})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(jwksDoc(t, tt.entry, rsaJWK(t, 1, "ok")))
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || len(skipped) != 0 {
				t.Fatalf("kept %v, skipped %+v; want both keys kept", kids(keys), skipped)
			}
		})
	}

	// Beside an empty "oth", a prime factor still exposes the key, and so
	// does a "d" that an empty one repeats.
	priv := jwkJSON(t, ecKey, "ec", "ES256", nil)
	for name, exposed := range map[string]json.RawMessage{
		`prime factor beside "oth": []`: jwkJSON(t, &rsaKeys[0].PublicKey, "rsa", "RS256", map[string]any{"oth": []any{}, "p": base64.RawURLEncoding.EncodeToString(rsaKeys[0].Primes[0].Bytes())}),
		`"d" repeated as "d": null`:     json.RawMessage(strings.TrimSuffix(string(priv), "}") + `,"d":null}`),
	} {
		keys, skipped, err := parseJWKS(jwksDoc(t, exposed, rsaJWK(t, 1, "ok")))
		if err != nil || len(keys) != 1 || len(skipped) != 1 || len(skipped[0].Exposes) == 0 {
			t.Fatalf("%s: kept %v, skipped %+v, err %v; want its key exposed", name, kids(keys), skipped, err)
		}
	}
}

// A private member repeated with an empty value (null, "" or []) after
// the one that holds the material still publishes it: the empty repeat is
// ignored as an empty member alone is, whatever the member and whether
// jwx or encoding/json reads the entry. Before, both keep the last of a
// repeated member: jwx read an RSA public key whose "p" (or "q", "dp",
// "dq", "qi", "oth") was repeated as null as a public key without private
// material and kept it, and an EC "d" without "x" and "y" repeated as
// null exposed no key, so the public entry of that key was kept.
func TestParseJWKS_PrivateMemberRepeatedEmptyStillExposesTheKey(t *testing.T) {
	testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	priv := rsaKeys[0]
	priv.Precompute()
	repeated := func(entry json.RawMessage, name string, value any, empty string) json.RawMessage {
		v, err := json.Marshal(value)
		must(t, err)
		return json.RawMessage(strings.TrimSuffix(string(entry), "}") + `,"` + name + `":` + string(v) + `,"` + name + `":` + empty + `}`)
	}
	rsaPublic := jwkJSON(t, &priv.PublicKey, "a-copy", "RS256", nil)
	rsaMembers := map[string]any{
		"d":   b64(priv.D.Bytes()),
		"p":   b64(priv.Primes[0].Bytes()),
		"q":   b64(priv.Primes[1].Bytes()),
		"dp":  b64(priv.Precomputed.Dp.Bytes()),
		"dq":  b64(priv.Precomputed.Dq.Bytes()),
		"qi":  b64(priv.Precomputed.Qinv.Bytes()),
		"oth": []any{map[string]any{"r": b64(priv.Primes[0].Bytes()), "d": "AQ", "t": "AQ"}},
	}
	for name, value := range rsaMembers {
		for _, empty := range []string{"null", `""`, "[]"} {
			entry := repeated(rsaPublic, name, value, empty)
			t.Run(fmt.Sprintf("RSA %s repeated as %s", name, empty), func(t *testing.T) {
				keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), entry, rsaJWK(t, 1, "ok")))
				if err != nil {
					t.Fatal(err)
				}
				if got := kids(keys); len(got) != 1 || got[0] != "ok" {
					t.Fatalf("kept %v, skipped %+v; want only \"ok\": entry 1 publishes the private material of \"a\"", got, skipped)
				}
			})
		}
	}
	// Nor in an entry holding invalid UTF-8, which encoding/json and jwx
	// read (as U+FFFD).
	invalid := repeated(json.RawMessage(strings.TrimSuffix(string(rsaPublic), "}")+`,"x-note":"`+"\xff"+`"}`), "p", rsaMembers["p"], "null")
	keys, skipped, err := parseJWKS([]byte(`{"keys":[` + string(rsaJWK(t, 0, "a")) + `,` + string(invalid) + `,` + string(rsaJWK(t, 1, "ok")) + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(keys); len(got) != 1 || got[0] != "ok" {
		t.Fatalf(`RSA "p" repeated as null beside invalid UTF-8: kept %v, skipped %+v; want only "ok"`, got, skipped)
	}
	// An EC "d" without "x" and "y" exposes the key it makes.
	d := b64(ecKey.D.FillBytes(make([]byte, 32)))
	for _, empty := range []string{"null", `""`} {
		entry := json.RawMessage(`{"kty":"EC","crv":"P-256","kid":"scalar","d":"` + d + `","d":` + empty + `}`)
		keys, skipped, err := parseJWKS(jwksDoc(t, ecJWK(t, "ec"), entry, rsaJWK(t, 1, "ok")))
		if err != nil {
			t.Fatal(err)
		}
		if got := kids(keys); len(got) != 1 || got[0] != "ok" {
			t.Fatalf(`EC "d" repeated as %s: kept %v, skipped %+v; want only "ok": entry 1 publishes the private scalar of "ec"`, empty, got, skipped)
		}
	}
}

// A member named as "kty" or "crv" in another case (or with the Kelvin
// sign for k) beside the member itself is not a JWK member (RFC 7517
// names are case-sensitive) and changes no reading of the entry:
// encoding/json, which this package's hints and jwx's own choice of key
// type use, matches names case-insensitively, and the last of "kty" and
// "KTY" counts there, while jwx decodes the key's members by their exact
// names. Before, an RSA
// entry publishing a prime factor beside "KTY": "EC" or "Kty": "oct" was
// read as an EC or a symmetric key, and exposed nothing; an EC "d"
// beside "CRV": "P-384" was taken for a P-384 scalar, and the P-256 key
// it makes was kept.
func TestParseJWKS_CaseVariantOfKtyOrCrvHidesNoExposedKey(t *testing.T) {
	testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	prime := b64(rsaKeys[0].Primes[0].Bytes())
	rsaPublic := strings.TrimSuffix(string(jwkJSON(t, &rsaKeys[0].PublicKey, "a-copy", "", nil)), "}")
	d := b64(ecKey.D.FillBytes(make([]byte, 32)))
	for name, tt := range map[string]struct {
		entry   string
		exposed string // the kid of the key the entry exposes
	}{
		`RSA prime factor beside "KTY": "EC"`:           {rsaPublic + `,"KTY":"EC","p":"` + prime + `"}`, "a"},
		`RSA prime factor beside "Kty": "oct"`:          {rsaPublic + `,"Kty":"oct","p":"` + prime + `"}`, "a"},
		"RSA prime factor beside \"\u212aty\": \"oct\"": {rsaPublic + `,"` + "\u212a" + `ty":"oct","p":"` + prime + `"}`, "a"},
		`EC "d" alone beside "CRV": "P-384"`:            {`{"kty":"EC","crv":"P-256","CRV":"P-384","d":"` + d + `"}`, "ec"},
	} {
		t.Run(name, func(t *testing.T) {
			doc := []byte(`{"keys":[` + string(rsaJWK(t, 0, "a")) + `,` + string(ecJWK(t, "ec")) + `,` + tt.entry + `,` + string(rsaJWK(t, 1, "ok")) + `]}`)
			keys, skipped, err := parseJWKS(doc)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(kids(keys), tt.exposed) || len(keys) != 2 {
				t.Fatalf("kept %v, skipped %+v; want %q dropped, exposed by entry 2", kids(keys), skipped, tt.exposed)
			}
		})
	}
}

// A member named "D" after an EC or Ed25519 entry's own "d" is no JWK
// member and does not hide the key that "d" makes. Before, the entry was
// kept unchanged (no member repeated), and the public key of its scalar
// was derived from the "D" that encoding/json read last: "AA" made none,
// so the published scalar's key stayed usable under its own entry.
func TestParseJWKS_CaseVariantOfDHidesNoDerivedKey(t *testing.T) {
	testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	d := b64(ecKey.D.FillBytes(make([]byte, 32)))
	for name, entry := range map[string]string{
		`"d" alone, then "D": "AA"`:                    `{"kty":"EC","crv":"P-256","d":"` + d + `","D":"AA"}`,
		`"d" beside another key's "x", then "D": "AQ"`: `{"kty":"EC","crv":"P-256","x":"` + b64(ecKey.Y.FillBytes(make([]byte, 32))) + `","d":"` + d + `","D":"AQ"}`,
	} {
		t.Run(name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(jwksDoc(t, ecJWK(t, "ec"), json.RawMessage(entry), rsaJWK(t, 1, "ok")))
			if err != nil {
				t.Fatal(err)
			}
			if got := kids(keys); len(got) != 1 || got[0] != "ok" {
				t.Fatalf("kept %v, skipped %+v; want only \"ok\": entry 1 publishes the private scalar of \"ec\"", got, skipped)
			}
		})
	}
}

// An entry that publishes private key material exposes every key its
// public members name, whatever its kty says: an RSA private key written
// with "kty": "rsa", "EC", "oct" or no kty at all exposes the RSA key of
// its "n" and "e", and an RSA prime factor in an EC entry that also names
// the RSA key's "n" exposes that key and the EC key both. Before, such an
// entry was refused as an unsupported kty, a symmetric key or an invalid
// EC key, or (the EC entry) kept as usable, and exposed nothing.
func TestParseJWKS_PrivateMaterialInAnEntryOfAnotherKtyExposesTheKeysItNames(t *testing.T) {
	testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	private := func(kty any) json.RawMessage {
		return jwkJSON(t, rsaKeys[0], "x", "", map[string]any{"kty": kty})
	}
	var withoutKty map[string]any
	must(t, json.Unmarshal(private("RSA"), &withoutKty))
	delete(withoutKty, "kty")
	noKty, err := json.Marshal(withoutKty)
	must(t, err)
	var rsaPublic map[string]any
	must(t, json.Unmarshal(rsaJWK(t, 0, "a"), &rsaPublic))
	ecWithPrime := jwkJSON(t, &ecKey.PublicKey, "ec", "ES256", map[string]any{
		"n": rsaPublic["n"], "e": rsaPublic["e"], "p": b64(rsaKeys[0].Primes[0].Bytes()),
	})
	for name, tt := range map[string]struct {
		entry json.RawMessage
		want  []string // the kids kept
	}{
		`RSA private key with "kty": "rsa"`:    {private("rsa"), []string{"ec", "ok"}},
		`RSA private key with "kty": "EC"`:     {private("EC"), []string{"ec", "ok"}},
		`RSA private key with "kty": "oct"`:    {private("oct"), []string{"ec", "ok"}},
		`RSA private key without "kty"`:        {noKty, []string{"ec", "ok"}},
		`RSA prime and "n" in an EC entry`:     {ecWithPrime, []string{"ok"}},
		`RSA private key with a numeric "kty"`: {private(3), []string{"ec", "ok"}},
	} {
		t.Run(name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), ecJWK(t, "ec"), tt.entry, rsaJWK(t, 1, "ok")))
			if err != nil {
				t.Fatal(err)
			}
			if got := kids(keys); !slices.Equal(got, tt.want) {
				t.Fatalf("kept %v, skipped %+v; want %v: entry 2 publishes the private material of \"a\"", got, skipped, tt.want)
			}
		})
	}
}

// A private key entry exposes its own key, and no key its members would
// make under another key type that no kept key can have: an EC key's crv
// and x make no OKP key. Before, each EC private entry also named such a
// key, which took a place in the exposed-key memory (the last 256 keys).
func TestParseJWKS_PrivateKeyEntryExposesItsOwnKeyOnly(t *testing.T) {
	testKeys(t)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	for name, priv := range map[string]any{"EC": ecKey, "Ed25519": edPriv, "RSA": rsaKeys[0]} {
		_, skipped, err := parseJWKS(jwksDoc(t, jwkJSON(t, priv, "x", "", nil)))
		if err != nil {
			t.Fatal(err)
		}
		if len(skipped) != 1 || len(skipped[0].Exposes) != 1 {
			t.Fatalf("%s private key: skipped %+v; want one entry exposing one key", name, skipped)
		}
	}
}

// An RSA prime factor that an entry publishes exposes the RSA key of the
// set whose modulus it divides, whichever entry's "n" stands beside it:
// the key is factored. Before, only the key of the entry's own "n" (or,
// in an EC entry, its EC key) was exposed, and the factored key was kept.
func TestParseJWKS_PublishedPrimeExposesTheKeyWhoseModulusItDivides(t *testing.T) {
	testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	prime := b64(rsaKeys[0].Primes[1].Bytes())
	for name, entry := range map[string]json.RawMessage{
		`"p" beside another key's "n"`:        jwkJSON(t, &rsaKeys[2].PublicKey, "c", "", map[string]any{"p": prime}),
		`"q" beside another key's "n"`:        jwkJSON(t, &rsaKeys[2].PublicKey, "c", "", map[string]any{"q": prime}),
		`"oth" "r" beside another key's "n"`:  jwkJSON(t, &rsaKeys[2].PublicKey, "c", "", map[string]any{"oth": []any{map[string]any{"r": prime, "d": "AQ", "t": "AQ"}}}),
		`"p" in an EC entry`:                  jwkJSON(t, &ecKey.PublicKey, "e2", "", map[string]any{"p": prime}),
		`"p" alone`:                           json.RawMessage(`{"kty":"RSA","p":"` + prime + `"}`),
		`"p" in standard base64 with padding`: json.RawMessage(`{"kty":"RSA","p":"` + base64.StdEncoding.EncodeToString(rsaKeys[0].Primes[1].Bytes()) + `"}`),
	} {
		t.Run(name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), entry, rsaJWK(t, 1, "ok")))
			if err != nil {
				t.Fatal(err)
			}
			if got := kids(keys); len(got) != 1 || got[0] != "ok" {
				t.Fatalf("kept %v, skipped %+v; want only \"ok\": entry 1 publishes a prime factor of \"a\"", got, skipped)
			}
			if !slices.ContainsFunc(skipped, func(sk skippedKey) bool { return sk.KID == "a" && len(sk.Exposes) == 1 }) {
				t.Fatalf(`skipped %+v; want "a" reported as exposed, its thumbprint remembered`, skipped)
			}
		})
	}
	// A "p" of 1, or of the modulus itself, factors nothing.
	for _, p := range []string{"AQ", b64(rsaKeys[0].N.Bytes())} {
		keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), json.RawMessage(`{"kty":"EC","p":"`+p+`"}`), rsaJWK(t, 1, "ok")))
		if err != nil {
			t.Fatal(err)
		}
		if got := kids(keys); len(got) != 2 {
			t.Fatalf("p %.8s…: kept %v, skipped %+v; want both keys", p, got, skipped)
		}
	}
}

// A private member repeated with two values that hold something publishes
// both: the earlier one exposes its key too, though every reader keeps the
// last. Before, an EC "d" followed by another "d" exposed only the key of
// the last, and an RSA "p" followed by another "p" factored no key of the
// set but the entry's own.
func TestParseJWKS_PrivateMemberRepeatedWithAnotherValueExposesBothKeys(t *testing.T) {
	testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	d := b64(ecKey.D.FillBytes(make([]byte, 32)))
	otherD := b64(other.D.FillBytes(make([]byte, 32)))
	prime := b64(rsaKeys[0].Primes[0].Bytes())
	ownPrime := b64(rsaKeys[2].Primes[0].Bytes())
	rsaPublic := strings.TrimSuffix(string(jwkJSON(t, &rsaKeys[2].PublicKey, "c", "", nil)), "}")
	for name, tt := range map[string]struct {
		entry string
		want  []string // the kids kept: not the one the earlier value exposes
	}{
		`EC "d", then another "d"`:  {`{"kty":"EC","crv":"P-256","d":"` + d + `","d":"` + otherD + `"}`, []string{"a", "ok"}},
		`RSA "p", then another "p"`: {rsaPublic + `,"p":"` + prime + `","p":"` + ownPrime + `"}`, []string{"ec", "ok"}},
		`RSA "q", then another "q"`: {rsaPublic + `,"q":"` + prime + `","q":"` + ownPrime + `"}`, []string{"ec", "ok"}},
	} {
		t.Run(name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "a"), ecJWK(t, "ec"), json.RawMessage(tt.entry), rsaJWK(t, 1, "ok")))
			if err != nil {
				t.Fatal(err)
			}
			if got := kids(keys); !slices.Equal(got, tt.want) {
				t.Fatalf("kept %v, skipped %+v; want %v: the earlier value exposes the other key", got, skipped, tt.want)
			}
		})
	}
}

// A document refused as no key set, whose "keys" members still hold
// entries, exposes the keys whose private material those entries publish:
// the last good set stops serving them. Before, {"keys": [private],
// "keys": null} was refused whole and the last good set kept serving the
// key whose private half it published.
func TestSet_PrivateEntryOfADocumentThatIsNoKeySetStopsItsKey(t *testing.T) {
	testKeys(t)
	private := string(jwkJSON(t, rsaKeys[0], "a", "RS256", nil))
	for name, doc := range map[string]string{
		`"keys" then "keys": null`:        `{"keys":[` + private + `],"keys":null}`,
		`"keys" then "keys": 5`:           `{"keys":[` + private + `],"keys":5}`,
		`"keys": 5 then "keys"`:           `{"keys":5,"keys":[` + private + `]}`,
		`"keys" then "Keys": "x"`:         `{"keys":[` + private + `],"Keys":"x"}`,
		"a private JWK alone, no key set": private,
	} {
		t.Run(name, func(t *testing.T) { lastGoodSetLosesKeyA(t, doc, "its private key") })
	}
}

// A document that repeats "keys" (or names it in another case as well)
// is read as encoding/json reads it, its last such member, but an entry
// of the others that publishes private material still exposes its key.
// Before, {"keys": [private], "keys": [public]} kept the public half of a
// key whose private half the same document published.
func TestParseJWKS_PrivateEntryInARepeatedKeysMemberExposesTheKey(t *testing.T) {
	testKeys(t)
	private := string(jwkJSON(t, rsaKeys[0], "x", "RS256", nil))
	public := string(rsaJWK(t, 0, "a")) + "," + string(rsaJWK(t, 1, "ok"))
	for name, doc := range map[string]string{
		`"keys" repeated`:        `{"keys":[` + private + `],"keys":[` + public + `]}`,
		`"Keys" after "keys"`:    `{"keys":[` + private + `],"Keys":[` + public + `]}`,
		`"keys" after "KEYS"`:    `{"KEYS":[` + private + `],"keys":[` + public + `]}`,
		`"keys" after a nothing`: `{"keys":[` + private + `],"other":1,"keys":[` + public + `]}`,
	} {
		t.Run(name, func(t *testing.T) {
			keys, skipped, err := parseJWKS([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if got := kids(keys); len(got) != 1 || got[0] != "ok" {
				t.Fatalf("kept %v, skipped %+v; want only \"ok\": the document publishes the private half of \"a\"", got, skipped)
			}
		})
	}
}

func TestParseJWKS_IdenticalDuplicateKeptOnce(t *testing.T) {
	keys, skipped, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "same"), rsaJWK(t, 0, "same")))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != "same" || len(skipped) != 1 || skipped[0].Warn {
		t.Fatalf("keys %v skipped %+v, want one key and one benign skip", kids(keys), skipped)
	}
}

func TestParseJWKS_EncryptionKeySharingKidWithSigningKeyIsNotAmbiguous(t *testing.T) {
	testKeys(t)
	enc := jwkJSON(t, &rsaKeys[1].PublicKey, "k1", "", map[string]any{"use": "enc"})
	keys, _, err := parseJWKS(jwksDoc(t, rsaJWK(t, 0, "k1"), enc))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !keys[0].Public.(*rsa.PublicKey).Equal(&rsaKeys[0].PublicKey) {
		t.Fatalf("kept %v, want the signing key", kids(keys))
	}
}

func TestParseJWKS_DocumentErrors(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    bool
		wantKeys   int
	}{
		{"not JSON", `<html>down for maintenance</html>`, true, 0},
		{"empty body", ``, true, 0},
		{"no keys member", `{"kty":"RSA"}`, true, 0},
		{"keys null", `{"keys":null}`, true, 0},
		{"keys not an array", `{"keys":{"kid":"a"}}`, true, 0},
		{"JSON array", `[]`, true, 0},
		{"empty keys", `{"keys":[]}`, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, _, err := parseJWKS([]byte(tt.body))
			if (err != nil) != tt.wantErr || len(keys) != tt.wantKeys {
				t.Fatalf("parseJWKS(%q) = %d keys, err %v; want err=%v", tt.body, len(keys), err, tt.wantErr)
			}
		})
	}
}

func kids(keys []*Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

// An RSA prime factor that a fetched document publishes exposes the key
// of the last good set whose modulus it divides, also when no entry of the
// document names that key: a failed document (no usable key, or no key
// set) stops it being served, and a document that leaves it out gets it
// remembered, so that a later one cannot bring it back. Before, the
// factor was tried only on the keys of its own document, and the last
// good set kept serving the factored key.
func TestSet_PublishedPrimeStopsTheLastGoodSetKeyItFactors(t *testing.T) {
	testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	prime := `{"kty":"RSA","kid":"x","p":"` + b64(rsaKeys[0].Primes[0].Bytes()) + `"}`
	for name, doc := range map[string]string{
		"no usable key":                    `{"keys":[` + prime + `]}`,
		"beside another key's n":           `{"keys":[` + strings.TrimSuffix(string(jwkJSON(t, rsaKeys[2], "c", "", nil)), "}") + `,"q":"` + b64(rsaKeys[0].Primes[0].Bytes()) + `"}]}`,
		"no key set":                       `{"keys":[` + prime + `],"keys":null}`,
		"an oth r, no key set":             `{"keys":[{"oth":[{"r":"` + b64(rsaKeys[0].Primes[1].Bytes()) + `"}]}],"keys":5}`,
		"in a repeated, failed keys array": `{"keys":[` + prime + `],"keys":[]}`,
	} {
		t.Run(name, func(t *testing.T) { lastGoodSetLosesKeyA(t, doc, "a prime factor of its modulus") })
	}
	t.Run("remembered when the document leaves the key out", func(t *testing.T) {
		ts := newTestServer(t)
		ts.setKeys(t, rsaJWK(t, 0, "a"))
		s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
		ready(t, s)
		ts.setKeys(t, rsaJWK(t, 1, "b"), json.RawMessage(prime))
		ft.refreshNow(t)
		ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
		ft.refreshNow(t)
		if s.Current("a") != nil {
			t.Fatal("key a served again after an earlier document published a prime factor of its modulus")
		}
		if s.Current("b") == nil {
			t.Fatal("key b, not exposed, not served")
		}
	})
}

// lastGoodSetLosesKeyA loads the set {a, b} (rsaKeys 0 and 1), serves doc,
// which publishes what (of key a), and fails unless a is no longer served
// and b, which doc does not expose, still is.
func lastGoodSetLosesKeyA(t *testing.T, doc, what string) {
	t.Helper()
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "b"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	b := s.Current("b")
	ts.set("/keys", reply{body: []byte(doc)})
	ft.refreshNow(t)
	if s.Current("a") != nil {
		t.Fatalf("key a still served from the last good set after a document published %s", what)
	}
	if s.Current("b") != b || b == nil {
		t.Fatal("key b, not exposed, no longer served from the last good set")
	}
}

// hostileDocument returns a key-set document of about size bytes whose
// "keys" repeats entry.
func hostileDocument(entry string, size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"keys":[`)
	for i := 0; b.Len() < size-len(entry)-2; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(entry)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// hostileEntries are the tiny entries of the reviewer's hostile documents.
var hostileEntries = map[string]string{
	"empty":     `{}`,
	"rsa-prime": `{"kty":"RSA","p":"Aw","q":"BQ"}`,
}

func BenchmarkParseJWKS_HostileDocument(b *testing.B) {
	docs := make(map[string][]byte)
	for name, e := range hostileEntries {
		docs[name] = hostileDocument(e, 1<<20)
	}
	benchmarkParse(b, docs)
}

// benchmarkParse runs a sub-benchmark of parseJWKS per document, reporting
// allocations and the document's size.
func benchmarkParse(b *testing.B, docs map[string][]byte) {
	for name, doc := range docs {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				_, _, _ = parseJWKS(doc)
			}
		})
	}
}

// BenchmarkParseJWKS_AtTheCap parses documents of maxEntries entries,
// tiny ones and, the costliest a 1 MiB document can hold that many of,
// RSA-1024 private JWKs (about 0.9 KiB each), whose every entry is
// decoded into a private key for what it exposes.
func BenchmarkParseJWKS_AtTheCap(b *testing.B) {
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	must(b, err)
	entries := maps.Clone(hostileEntries)
	entries["rsa1024-private"] = string(jwkJSON(b, priv, "", "", nil))
	for name, e := range entries {
		doc := []byte(`{"keys":[` + strings.Repeat(e+",", maxEntries-1) + e + `]}`)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = parseJWKS(doc)
			}
		})
	}
}

// allocatedBy returns the bytes f allocates.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A hostile document of 1 MiB of tiny entries is refused after its first
// maxEntries entries, with work bounded by a small multiple of its size.
// Before, jwx parsed all of its 30,000 to 350,000 entries: 0.6 to 0.8 s
// and 420 to 645 MB (400 to 600 times the document) per fetch.
func TestParseJWKS_DocumentOfMoreEntriesThanTheCapIsRefusedWithBoundedWork(t *testing.T) {
	for name, e := range hostileEntries {
		t.Run(name, func(t *testing.T) {
			doc := hostileDocument(e, 1<<20)
			var (
				keys []*Key
				err  error
			)
			alloc := allocatedBy(func() { keys, _, err = parseJWKS(doc) })
			// Reading maxEntries tiny entries for private material costs
			// about 13 MB: 12 times this document; all of them, 400 times.
			if limit := 16 * uint64(len(doc)); alloc > limit {
				t.Errorf("parsing %d bytes allocated %d bytes, want at most %d (16 times the document)", len(doc), alloc, limit)
			}
			if err == nil || !strings.Contains(err.Error(), "more than 1000 entries") || keys != nil {
				t.Errorf("parseJWKS = %d keys, %v; want the document refused for its entry count", len(keys), err)
			}
		})
	}
}

// A document of maxEntries entries parses as any other; one entry more
// refuses it, however many of them are usable keys.
func TestParseJWKS_EntryCapCountsTheEntriesOfEveryKeysMember(t *testing.T) {
	testKeys(t)
	good := string(rsaJWK(t, 0, "a"))
	junk := func(n int) string { return strings.Repeat(`0,`, n) }
	for name, tc := range map[string]struct {
		doc     string
		refused bool
		skipped int // the entries of the last "keys" member but key a
	}{
		"at the cap":                           {`{"keys":[` + junk(maxEntries-1) + good + `]}`, false, maxEntries - 1},
		"one over the cap":                     {`{"keys":[` + junk(maxEntries) + good + `]}`, true, 0},
		"at the cap over two keys members":     {`{"keys":[` + junk(maxEntries/2) + `0],"Keys":[` + junk(maxEntries/2-2) + good + `]}`, false, maxEntries/2 - 2},
		"over the cap over two keys members":   {`{"keys":[` + junk(maxEntries/2) + `0],"Keys":[` + junk(maxEntries/2-1) + good + `]}`, true, 0},
		"over the cap in a passed-over member": {`{"keys":[` + junk(maxEntries) + `0],"keys":[` + good + `]}`, true, 0},
	} {
		t.Run(name, func(t *testing.T) {
			keys, skipped, err := parseJWKS([]byte(tc.doc))
			if tc.refused {
				if err == nil || keys != nil {
					t.Fatalf("parseJWKS = %v, %v; want the document refused", kids(keys), err)
				}
				return
			}
			if err != nil || len(kids(keys)) != 1 || len(skipped) != tc.skipped {
				t.Fatalf("parseJWKS = %v, %d skipped, %v; want key a and %d skipped", kids(keys), len(skipped), err, tc.skipped)
			}
		})
	}
}

// A document over the cap is a failed fetch: the last good set keeps
// serving, the new keys are not taken, and the failure is logged with
// its reason.
func TestSet_DocumentOverTheEntryCapIsAFailedFetchKeepingTheLastGoodSet(t *testing.T) {
	log, buf := capturingLogger()
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", Logger: log})
	ready(t, s)
	entries := []json.RawMessage{rsaJWK(t, 1, "b")}
	for range maxEntries {
		entries = append(entries, json.RawMessage(`{}`))
	}
	ts.setKeys(t, entries...)
	ft.refreshNow(t)
	if s.Current("a") == nil || s.Current("b") != nil {
		t.Fatalf("after a document of %d entries: a served %v, b served %v; want the last good set, a only", len(entries), s.Current("a") != nil, s.Current("b") != nil)
	}
	if logs := buf.String(); !containsAll(logs, "key set refresh failed; keeping the last good set", "more than 1000 entries") {
		t.Errorf("the refused document is not logged with its reason:\n%.2000s", logs)
	}
}

// The first maxEntries entries of a document over the cap are still read
// for private material: a key they expose leaves the last good set, as
// for any refused document. Entries beyond them are not read at all.
func TestSet_PrivateEntryOfADocumentOverTheEntryCapStopsItsKey(t *testing.T) {
	testKeys(t)
	private := string(jwkJSON(t, rsaKeys[0], "a", "RS256", nil))
	lastGoodSetLosesKeyA(t, `{"keys":[`+private+strings.Repeat(`,{}`, maxEntries)+`]}`, "its private key among the first entries of a document over the cap")
}

// The entries read for private material in a document over the cap are
// the first maxEntries of all its "keys" members together, in document
// order: a private key as the last of them, in a second member, still
// exposes its key.
func TestSet_PrivateEntryLastReadOfADocumentOverTheEntryCapStopsItsKey(t *testing.T) {
	testKeys(t)
	private := string(jwkJSON(t, rsaKeys[0], "a", "RS256", nil))
	first := maxEntries / 2
	doc := `{"keys":[{}` + strings.Repeat(`,{}`, first-1) + `],"Keys":[` + strings.Repeat(`{},`, maxEntries-first-1) + private + strings.Repeat(`,{}`, 10) + `]}`
	lastGoodSetLosesKeyA(t, doc, "its private key as the last entry read of a document over the cap")
}

// BenchmarkParseJWKS_PublishedFactorsOnTheLargestKeys measures the
// costliest division work a 1 MiB document within the cap makes: as many
// RSA keys of 8192 bits (the largest kept) as fit, about 730, and
// maxPublishedFactors factors of about half their size (the costliest to
// divide by), each tried on each key, and then on each key of a last good
// set of the same keys (exposeFactored). The work is bounded by
// maxPublishedFactors × keys divisions, but is not linear in the
// document's size: see docs/key-set.md.
func BenchmarkParseJWKS_PublishedFactorsOnTheLargestKeys(b *testing.B) {
	odd := func(bits int) string {
		x, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
		must(b, err)
		x.SetBit(x, bits-1, 1).SetBit(x, 0, 1)
		return base64.RawURLEncoding.EncodeToString(x.Bytes())
	}
	var doc bytes.Buffer
	doc.WriteString(`{"keys":[{"kty":"EC","oth":[`)
	for i := range maxPublishedFactors {
		if i > 0 {
			doc.WriteByte(',')
		}
		doc.WriteString(`{"r":"` + odd(4096) + `"}`)
	}
	doc.WriteString(`]}`)
	for i := 0; doc.Len() < 1<<20-1500; i++ {
		fmt.Fprintf(&doc, `,{"kty":"RSA","kid":"k%d","e":"AQAB","n":"%s"}`, i, odd(8192))
	}
	doc.WriteString(`]}`)
	keys, skipped, err := parseJWKS(doc.Bytes())
	if err != nil || len(keys) < 700 {
		b.Fatalf("parseJWKS = %d keys, %v; want the document's 8192-bit keys", len(keys), err)
	}
	unfactored := bytes.Replace(doc.Bytes(), []byte(`"oth"`), []byte(`"xth"`), 1)
	last := newSnapshot(keys, 0, nil, time.Now())
	for name, f := range map[string]func(){
		"document":                   func() { _, _, _ = parseJWKS(doc.Bytes()) },
		"document-without-factors":   func() { _, _, _ = parseJWKS(unfactored) },
		"factors-on-a-last-good-set": func() { exposeFactored(skipped, last) },
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				f()
			}
		})
	}
}

// BenchmarkParseJWKS_OneWideEntry parses documents of 1 MiB that are one
// entry of many members: tens of thousands of distinct unknown members,
// or an "oth" of 90,000 primes. The entry cap does not bound them (one
// entry), MaxResponseSize does: see docs/key-set.md.
func BenchmarkParseJWKS_OneWideEntry(b *testing.B) {
	wide := func(member func(i int) string) []byte {
		var doc bytes.Buffer
		doc.WriteString(`{"keys":[{"kty":"RSA","e":"AQAB","n":"AQAB"`)
		for i := 0; doc.Len() < 1<<20-100; i++ {
			doc.WriteString("," + member(i))
		}
		doc.WriteString(`}]}`)
		return doc.Bytes()
	}
	benchmarkParse(b, map[string][]byte{
		"distinct-members": wide(func(i int) string { return fmt.Sprintf(`"m%d":1`, i) }),
		"oth-of-90000": wide(func(i int) string {
			if i == 0 {
				return `"oth":[` + strings.Repeat(`{"r":"Aw"},`, 90000) + `{"r":"Aw"}]`
			}
			return fmt.Sprintf(`"m%d":1`, i)
		}),
	})
}

// A private member that holds a long array, an "oth" of 90,000 primes in
// a 1 MiB document, is read only as far as the rule needs: whether it
// holds anything, and its first maxPublishedFactors primes. Before, both
// decoded it whole, into generic values and into a slice of every prime:
// 127 MB allocated per fetch, 121 times the document (now 56 MB, 54 times,
// most of it jwx's).
func TestParseJWKS_LongOthIsReadOnlyAsFarAsTheRuleNeeds(t *testing.T) {
	testKeys(t)
	prime := base64.RawURLEncoding.EncodeToString(rsaKeys[0].Primes[0].Bytes())
	var doc bytes.Buffer
	doc.WriteString(`{"keys":[` + string(rsaJWK(t, 0, "a")) + `,` + string(ecJWK(t, "ok")) + `,{"kty":"EC","oth":[{"r":"` + prime + `"}`)
	for doc.Len() < 1<<20-100 {
		doc.WriteString(`,{"r":"Aw"}`)
	}
	doc.WriteString(`]}]}`)
	var (
		keys []*Key
		err  error
	)
	alloc := allocatedBy(func() { keys, _, err = parseJWKS(doc.Bytes()) })
	if err != nil || len(keys) != 1 || keys[0].ID != "ok" {
		t.Fatalf("parseJWKS = %v, %v; want only \"ok\": the oth publishes a prime factor of \"a\" (and more than maxPublishedFactors, exposing every RSA key)", kids(keys), err)
	}
	// jwx decodes the entry, "oth" included, into about 45 times its
	// size: this package's reading of it adds about 8 times more now.
	if limit := 80 * uint64(doc.Len()); alloc > limit {
		t.Errorf("parsing %d bytes allocated %d bytes, want at most %d (80 times the document)", doc.Len(), alloc, limit)
	}
}
