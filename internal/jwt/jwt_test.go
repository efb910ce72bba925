package jwt

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSplit_RefusesAnythingButThreeParts(t *testing.T) {
	for token, want := range map[string]error{
		"a.b.c": nil, "..": nil, "a.b": ErrParts, "a": ErrParts, "a.b.c.d": ErrParts, "a.b.c.d.e": ErrParts,
		"a.b\n.c": ErrEncoding, "a.b.c\r": ErrEncoding,
	} {
		if _, err := Split(token); err != want {
			t.Errorf("Split(%q) error = %v, want %v", token, err, want)
		}
	}
	p, _ := Split("h.p.s")
	if p.Header != "h" || p.Payload != "p" || p.Signature != "s" || string(p.SigningInput()) != "h.p" {
		t.Errorf("Split(h.p.s) = %+v", p)
	}
}

func TestParseHeader(t *testing.T) {
	cases := []struct {
		in     string
		alg    string
		hasAlg bool
		err    error
	}{
		{`{"alg":"RS256","kid":"k","typ":"JWT"}`, "RS256", true, nil},
		{`{"kid":"k"}`, "", false, nil},
		{`{"alg":null}`, "", false, nil},
		{`{"alg":1}`, "", false, ErrHeader},
		{`{"alg":"RS256","kid":7}`, "RS256", true, ErrHeader},
		{`{"ALG":"RS256"}`, "", false, ErrCase},
		{`{"alg":"RS256","Kid":"k"}`, "", false, ErrCase},
		{`{"\u0041lg":"RS256"}`, "", false, ErrCase},
		{`{"alg":"RS256","\u212aid":"k"}`, "", false, ErrCase},               // Kelvin sign: encoding/json reads it as kid
		{"{\"alg\":\"RS256\",\"\xe2\x84\xaaid\":\"k\"}", "", false, ErrCase}, // the same, unescaped
		{`{"x":{"ALG":1},"alg":"ES256"}`, "ES256", true, nil},                // nested names are not header parameters
		{`{"x":"ALG","alg":"ES256"}`, "ES256", true, nil},                    // values are not names
		{`["alg"]`, "", false, ErrHeader},
		{`null`, "", false, ErrHeader},
		{`{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "", false, ErrHeader},
	}
	for _, tc := range cases {
		h, err := ParseHeader([]byte(tc.in))
		if err != tc.err || h.Alg != tc.alg || h.HasAlg != tc.hasAlg {
			t.Errorf("ParseHeader(%s) = %+v, %v; want alg %q (%v), %v", tc.in, h, err, tc.alg, tc.hasAlg, tc.err)
		}
	}
}

func TestParseClaims(t *testing.T) {
	c, err := ParseClaims([]byte(`{"iss":"i","aud":["a","b"],"exp":1800000000.9,"cid":"","client_id":"c","scp":["x"],"other":{"iss":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "i" || !slices.Equal(c.Audience, []string{"a", "b"}) || c.Expiry.Unix() != 1800000000 ||
		c.ClientIDValue() != "c" || string(c.Scp) != `["x"]` || c.Members != 7 {
		t.Errorf("ParseClaims = %+v", c)
	}
	for in, want := range map[string]error{
		`{"iss":"x"}}`:               ErrClaims,
		`null`:                       ErrClaims,
		`{"Iss":"x"}`:                ErrCase,
		`{"iss":"a","i\u017fs":"b"}`: ErrCase, // long s: encoding/json reads it as iss
		`{"aud":{}}`:                 ErrAud,
		`{"exp":"1"}`:                ErrDate,
		`{"exp":-1}`:                 ErrDate,
		`{"exp":1e300}`:              ErrDate,
		`{"exp":1` + strings.Repeat("0", 70) + `}`:                        ErrDate,
		`{"aud":[` + strings.Repeat(`"",`, 64) + `""]}`:                   ErrAud,
		`{"a":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}`: ErrDepth,
	} {
		if _, err := ParseClaims([]byte(in)); !errors.Is(err, want) {
			t.Errorf("ParseClaims(%.40s) error = %v, want %v", in, err, want)
		}
	}
	if _, err := ParseClaims([]byte(`{"iss":1}`)); err == nil || errors.Is(err, ErrClaims) {
		t.Errorf("numeric iss: error = %v, want a type error", err)
	}
	if _, err := ParseClaims([]byte(`{"aud":[` + strings.Repeat(`"",`, 63) + `""],"a":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`)); err != nil {
		t.Errorf("64 audiences at depth 32: %v", err)
	}
}

func TestScan_SkipsStrings(t *testing.T) {
	sh := scan([]byte(`["a,b","[{\"",[1,2],{"k":[3]}]`), nil)
	if sh.depth != 3 || sh.commas != 3 {
		t.Errorf("scan = %+v, want depth 3, 3 commas", sh)
	}
}
