package verifier

import (
	"errors"
	"testing"

	"github.com/grpcauth/grpcauth/internal/jwt"
)

// TestClaims_HasRegisteredAgreesWithTheMemberIndex checks that Has answers
// for registered names (cnf included) from the presence recorded while
// decoding exactly as the member index would: top-level members only,
// escaped names unescaped, null values present.
func TestClaims_HasRegisteredAgreesWithTheMemberIndex(t *testing.T) {
	for _, payload := range []string{
		`{}`,
		`{"cnf":{"jkt":"x"}}`,
		`{"\u0063nf":{"jkt":"x"},"s\u0075b":"a"}`,
		`{"x":{"cnf":1,"iss":"i"},"y":["cnf"]}`,
		`{"cnf":null,"aud":null,"exp":null}`,
		`{"iss":"a","iss":"b","scope":"r w","nonce":"n","client_id":"c"}`,
		`{"iss":"i","sub":"s","jti":"j","aud":["a"],"exp":1,"nbf":1,"iat":1,"cid":"c","client_id":"c","azp":"a","nonce":"n","scp":[],"scope":"","cnf":{}}`,
	} {
		c, err := ParseClaims([]byte(payload))
		if err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		for _, name := range jwt.RegisteredNames {
			_, indexed := c.s.get(name)
			if got := c.Has(name); got != indexed {
				t.Errorf("%s: Has(%q) = %v, the member index says %v", payload, name, got, indexed)
			}
		}
	}
}

// Subject is the token's sub as written, JSON escapes decoded and nothing
// else (RFC 7519, 7.3: no Unicode normalisation): spellings that
// normalisation or case folding would merge stay different subjects, and
// an escaped spelling is the same subject as the literal one.
func TestClaims_SubjectIsNeverNormalised(t *testing.T) {
	subject := func(sub string) string {
		t.Helper()
		c, err := ParseClaims([]byte(`{"sub":"` + sub + `"}`))
		if err != nil {
			t.Fatalf("sub %q: %v", sub, err)
		}
		return c.Subject()
	}
	for _, pair := range [][2]string{
		{"\u00e9", "e\u0301"}, // NFC and NFD
		{"K", "\u212a"},       // the Kelvin sign folds to k
		{"alice", "Alice"},    // case
		{"fi", "\ufb01"},      // a compatibility ligature (NFKC)
		{"a", "\uff41"},       // fullwidth (NFKC)
		{"bob", "bob\u200b"},  // a zero-width space
		{"x", " x"},           // white space is not trimmed
		{"\u0130", "i\u0307"}, // dotted capital I and its decomposition
		{"ss", "\u00df"},      // full case folding
		{"\u2126", "\u03a9"},  // the Ohm sign and Omega (NFC maps one to the other)
	} {
		a, b := subject(pair[0]), subject(pair[1])
		if a != pair[0] || b != pair[1] || a == b {
			t.Errorf("sub %q and %q: Subject() = %q and %q, want each as written", pair[0], pair[1], a, b)
		}
	}
	if got := subject(`J\u00fcrgen`); got != "Jürgen" {
		t.Errorf(`sub "J\u00fcrgen": Subject() = %q, want the escape decoded`, got)
	}
}

// Claim decodes a null claim without error, as json.Unmarshal does: a
// string is left as it was, a pointer set to nil. Its godoc says so, and
// tells callers to decode into a pointer to see the difference.
func TestClaims_ClaimDecodesNullAsJSONUnmarshalDoes(t *testing.T) {
	c, err := ParseClaims([]byte(`{"acr":null}`))
	if err != nil {
		t.Fatal(err)
	}
	s := "kept"
	if err := c.Claim("acr", &s); err != nil || s != "kept" {
		t.Errorf("null into a string: %q, %v; want it left as it was, no error", s, err)
	}
	p := &s
	if err := c.Claim("acr", &p); err != nil || p != nil {
		t.Errorf("null into a pointer: %v, %v; want nil, no error", p, err)
	}
	if !c.Has("acr") {
		t.Error("Has(acr) = false for a null claim")
	}
	if err := c.Claim("amr", &p); !errors.Is(err, ErrClaims) {
		t.Errorf("an absent claim: %v, want ErrClaims", err)
	}
}
