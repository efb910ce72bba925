package verifier

import (
	"errors"
	"fmt"
	"testing"
)

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

// ParseClaims' Claims share no memory with the payload: overwriting it
// afterwards, as a caller reusing its buffer would, changes nothing they
// return, whether asked before or after (the member index is built on
// first use).
func TestParseClaims_SharesNoMemoryWithThePayload(t *testing.T) {
	const text = `{"iss":"https://i.example","sub":"J\u00fcrgen","jti":"j","aud":["a","b"],"exp":1800000000,` +
		`"cid":"c","scp":"read write","scope":["admin"],"roles":["r"],"x":{"y":1}}`
	parse := func() (Claims, []byte) {
		payload := []byte(text)
		c, err := ParseClaims(payload, "scp", "scope", "roles")
		if err != nil {
			t.Fatal(err)
		}
		return c, payload
	}
	view := func(c Claims) string {
		x, _ := c.Raw("x")
		return fmt.Sprint(c.Issuer(), c.Subject(), c.ID(), c.Audience(), c.Expiry().Unix(), c.ClientID(),
			c.Scopes(), c.Names(), string(x))
	}
	want := view(func() Claims { c, _ := parse(); return c }())
	for _, indexFirst := range []bool{false, true} {
		c, payload := parse()
		if indexFirst {
			c.Names() // build the member index before the payload changes
		}
		for i := range payload {
			payload[i] = '#'
		}
		if got := view(c); got != want {
			t.Errorf("index built first %v: after the payload was overwritten the claims read %s, want %s", indexFirst, got, want)
		}
	}
}
