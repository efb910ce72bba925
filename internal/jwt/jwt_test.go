package jwt

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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
	if p.Header != "h" || p.Payload != "p" || p.Signature != "s" || string(p.SigningInputInto(p.Buffer())) != "h.p" {
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
		{`{"kid":7,"alg":"RS256"}`, "RS256", true, ErrHeader},                // a bad kid does not hide alg
		{`{"alg":"RS256","alg":"ES256"}`, "ES256", true, nil},                // a repeated member keeps its last value
		{`{"alg":"RS256","kid":"\ud800"}`, "", false, ErrHeader},             // a lone surrogate is not UTF-8
		{"{\"alg\":\"RS\xff\"}", "", false, ErrHeader},                       // invalid UTF-8
		{`{"x":{"ALG":1},"alg":"ES256"}`, "ES256", true, nil},                // nested names are not header parameters
		{`{"x":"ALG","alg":"ES256"}`, "ES256", true, nil},                    // values are not names
		{`["alg"]`, "", false, ErrHeader},
		{`null`, "", false, ErrHeader},
		{`{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "", false, ErrHeader},
		{`{"\u0061lg":"RS\u0032\u00356"}`, "RS256", true, nil},                                    // escaped name and value
		{`{"alg":"RS256","kid":"\u006b` + strings.Repeat("k", 1100) + `"}`, "", false, ErrHeader}, // an escaped value over 1 KiB
		{`{"alg":"RS256","kid":"` + strings.Repeat("k", 5000) + `"}`, "RS256", true, nil},         // a long unescaped one is fine
		{`{"alg":"RS256","\u0061` + strings.Repeat("a", 5000) + `":0}`, "RS256", true, nil},       // a long escaped name is skipped
		{`{"alg":"RS256","\x":0}`, "", false, ErrHeader},                                          // a bad escape in a name
	}
	for _, tc := range cases {
		h, err := ParseHeader([]byte(tc.in))
		if err != tc.err || h.Alg != tc.alg || h.HasAlg != tc.hasAlg {
			t.Errorf("ParseHeader(%s) = %+v, %v; want alg %q (%v), %v", tc.in, h, err, tc.alg, tc.hasAlg, tc.err)
		}
	}
}

// A b64 member of any value, escaped or not, is reported for the verifier
// to refuse (RFC 7797: jwx honours b64 false even without crit), and one
// differing from it only in case is ErrCase.
func TestParseHeader_ReportsB64(t *testing.T) {
	for in, want := range map[string]bool{
		`{"alg":"EdDSA","kid":"k","b64":false}`:            true,
		`{"alg":"EdDSA","kid":"k","b64":true}`:             true,
		`{"alg":"EdDSA","kid":"k","b64":null}`:             true,
		`{"alg":"EdDSA","kid":"k","\u0062\u0036\u0034":0}`: true,
		`{"alg":"EdDSA","kid":"k","x":{"b64":false}}`:      false,
		`{"alg":"EdDSA","kid":"k"}`:                        false,
	} {
		h, err := ParseHeader([]byte(in))
		if err != nil || h.B64 != want {
			t.Errorf("ParseHeader(%s) = %+v, %v; want B64 %v", in, h, err, want)
		}
	}
	if _, err := ParseHeader([]byte(`{"alg":"EdDSA","kid":"k","B64":false}`)); err != ErrCase {
		t.Errorf("ParseHeader with B64: %v, want ErrCase", err)
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
		"{\"sub\":\"a\xff\"}":        ErrClaims, // invalid UTF-8: v1 would decode U+FFFD, so two subjects could collide
		`{"sub":"\udc00"}`:           ErrClaims, // a lone surrogate
		`null`:                       ErrClaims,
		`{"Iss":"x"}`:                ErrCase,
		`{"CNF":{"jkt":"x"}}`:        ErrCase, // cnf is not decoded, but its presence is
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
	// NumericDate bounds: the last second of year 9999 is the latest;
	// exponents are numbers like any other; -0 is 0, a date (1970), not
	// an absent one.
	for in, want := range map[string]time.Time{
		`{"exp":253402300799}`: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		`{"exp":1.8e9}`:        time.Unix(1800000000, 0),
		`{"exp":18E8}`:         time.Unix(1800000000, 0),
		`{"exp":-0}`:           time.Unix(0, 0),
		`{"exp":0.5}`:          time.Unix(0, 5e8),
	} {
		if c, err := ParseClaims([]byte(in)); err != nil || !c.Expiry.Equal(want) || c.Expiry.IsZero() {
			t.Errorf("ParseClaims(%s): exp %v, %v; want %v", in, c.Expiry.Time, err, want)
		}
	}
	for _, in := range []string{`{"exp":253402300800}`, `{"exp":253402300799.5}`, `{"exp":-0.5}`, `{"exp":1e400}`, `{"exp":true}`, `{"exp":[1]}`} {
		if _, err := ParseClaims([]byte(in)); !errors.Is(err, ErrDate) {
			t.Errorf("ParseClaims(%s) error = %v, want ErrDate", in, err)
		}
	}
	var te *TypeError
	if _, err := ParseClaims([]byte(`{"iss":1}`)); !errors.As(err, &te) || te.Claim != "iss" {
		t.Errorf("numeric iss: error = %v, want a *TypeError naming iss", err)
	}
	if c, err := ParseClaims([]byte(`{"iss":"a","iss":"b"}`)); err != nil || c.Issuer != "b" {
		t.Errorf("repeated iss: %q, %v; want the last value, b", c.Issuer, err)
	}
	// Escapes, as issuers that escape "/" (PHP) or non-ASCII (Python) write
	// them, in names and values alike.
	c, err = ParseClaims([]byte(`{"\u0069ss":"https:\/\/issuer.example\/","sub":"J\u00fcrgen","aud":["api:\/\/x"],"n\u00e4me":1}`))
	if err != nil || c.Issuer != "https://issuer.example/" || c.Subject != "Jürgen" || !slices.Equal(c.Audience, []string{"api://x"}) {
		t.Errorf("escaped claims: %+v, %v", c, err)
	}
	if _, err := ParseClaims([]byte(`{"sub":"\u0061` + strings.Repeat("a", 1100) + `"}`)); !errors.Is(err, ErrEscapedString) {
		t.Errorf("escaped sub over 1 KiB: error = %v, want ErrEscapedString", err)
	}
	if c, err := ParseClaims([]byte(`{"sub":"` + strings.Repeat("a", 5000) + `"}`)); err != nil || len(c.Subject) != 5000 {
		t.Errorf("5000-byte sub: %d bytes, %v", len(c.Subject), err)
	}
	if _, err := ParseClaims([]byte(`{"aud":["a"],"aud":["b"]}`)); !errors.Is(err, ErrAud) {
		t.Errorf("repeated aud: error = %v, want ErrAud", err)
	}
	if c, err := ParseClaims([]byte(`{"aud":null,"aud":"b"}`)); err != nil || !slices.Equal(c.Audience, []string{"b"}) {
		t.Errorf("aud after a null aud: %v, %v", c.Audience, err)
	}
	if _, err := ParseClaims([]byte(`{"aud":[` + strings.Repeat(`"",`, 63) + `""],"a":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`)); err != nil {
		t.Errorf("64 audiences at depth 32: %v", err)
	}
}

func TestScan_SkipsStrings(t *testing.T) {
	for in, want := range map[string]shape{
		`["a,b","[{\"",[1,2],{"k":[3]}]`: {depth: 3, pathNames: 1},
		`["a\\",[1]]`:                    {depth: 2}, // an escaped backslash, then the closing quote
		`["a\\\",[1]]`:                   {depth: 1}, // an escaped quote: the string runs to the end
		`["\\\\","\\\"]",[2]]`:           {depth: 2},
		`{"Kid":1}`:                      {depth: 1, caseVariant: true, pathNames: 3},
		`{"x":"Kid","kid":"\"Kid"}`:      {depth: 1, pathNames: 3},
		`{"ab":{"cde":{"f":1},"g":[{"hijk":2}]},"l":3}`: {depth: 4, pathNames: 7},
		`{"ab":{"cde","f"}}`:                            {depth: 2, pathNames: 5}, // names without ':' are read as names
		`{"ab":["cde":1,{"f"}]}`:                        {depth: 3, pathNames: 3}, // a string in an array is not
	} {
		if sh := scan([]byte(in), header); sh != want {
			t.Errorf("scan(%s) = %+v, want %+v", in, sh, want)
		}
	}
}

// TestNameSets checks that each name set's index finds each of its names
// at its position, and nothing else: not a prefix, not another case.
func TestNameSets(t *testing.T) {
	for _, ns := range []nameSet{registered, header} {
		for i, n := range ns.list() {
			if got := ns.index([]byte(n)); got != i {
				t.Errorf("index(%q) = %d, want %d", n, got, i)
			}
			for _, other := range []string{n[:len(n)-1], strings.ToUpper(n), n + "x", ""} {
				if got := ns.index([]byte(other)); got != -1 {
					t.Errorf("index(%q) = %d, want -1", other, got)
				}
			}
		}
	}
}

// lookalike is LooksLikeObject's reference: decode the whole part at once.
func lookalike(part string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(part)
	return err == nil && !strings.ContainsAny(part, "\r\n") && utf8.Valid(b) &&
		strings.HasPrefix(strings.TrimLeft(string(b), " \t\r\n"), "{")
}

// LooksLikeObject decodes a piece at a time; around and across the pieces'
// boundaries (384 decoded bytes) it agrees with decoding the whole part,
// and it allocates nothing.
func TestLooksLikeObject_AgreesWithDecodingTheWholePart(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	var cases []string
	for _, pad := range []int{0, 1, 2, 372, 373, 374, 375, 376, 377, 378, 379, 380, 381, 382, 383, 384, 385, 760, 761, 762, 767, 768, 1000} {
		sp := strings.Repeat(" ", pad)
		x := strings.Repeat("x", pad)
		cases = append(cases,
			enc([]byte(sp+`{"alg":"RS256"}`)),                   // white space across pieces
			enc([]byte(sp)),                                     // white space only
			enc([]byte(sp+`["alg"]`)),                           // not an object
			enc([]byte(`{"x":"`+x+`€😀"}`)),                      // multi-byte runes across a boundary
			enc([]byte(`{"x":"`+x+"\xe2\x82"+`"}`)),             // a sequence cut short mid-part
			enc([]byte(`{"x":"`+x+"\xf0\x9f\x98")),              // a sequence cut short at the end
			enc([]byte(`{"x":"`+x+"\xff"+`"}`)),                 // not UTF-8
			enc([]byte(`{"x":"`+x+`"}`))+"A",                    // bad final group
			enc([]byte(`{"x":"` + x + `"}`))[:4*(pad/3)+2]+"\n", // a line break
		)
	}
	cases = append(cases, "", "e30", "e30=", "ew", "e1", "e3\n0", "e30\r") // the decoder would skip CR and LF
	for _, part := range cases {
		if got, want := LooksLikeObject(part), lookalike(part); got != want {
			t.Errorf("LooksLikeObject(%.40q… %d chars) = %v, want %v", part, len(part), got, want)
		}
	}
	long := enc([]byte(`{"x":"` + strings.Repeat("€", 20000) + `"}`))
	if n := testing.AllocsPerRun(10, func() { LooksLikeObject(long) }); n != 0 {
		t.Errorf("LooksLikeObject of a %d-char part: %v allocations, want 0", len(long), n)
	}
}

func TestMembers_NamesAndValuesAsWrittenRepeatsIncluded(t *testing.T) {
	data := `{ "a" : 1 ,"b":{"a":[1, "x"]},"\u0063":"v","a":null, "s":"q\"}" }`
	type kv struct{ name, value string }
	var got []kv
	if err := Members(data, func(name, value string) { got = append(got, kv{name, value}) }); err != nil {
		t.Fatal(err)
	}
	want := []kv{{"a", "1"}, {"b", `{"a":[1, "x"]}`}, {"c", `"v"`}, {"a", "null"}, {"s", `"q\"}"`}}
	if !slices.Equal(got, want) {
		t.Fatalf("Members = %q, want %q", got, want)
	}
	for _, m := range got {
		if m.name != "c" && !strings.Contains(data, `"`+m.name+`"`) {
			t.Errorf("name %q is not as written in data", m.name)
		}
	}
}

func TestMembers_RefusesWhatIsNotOneObject(t *testing.T) {
	for _, data := range []string{``, `[]`, `{"a":1`, `{"a":1} x`, `{"a"}`} {
		if err := Members(data, func(string, string) {}); err == nil {
			t.Errorf("Members(%q) = nil, want an error", data)
		}
	}
}

func TestMembers_AllocatesNothingPerMemberWithoutEscapes(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"iss":"https://issuer.example"`)
	for i := range 500 {
		fmt.Fprintf(&sb, `,"m%d":"v%d"`, i, i)
	}
	sb.WriteString("}")
	data := sb.String()
	n := testing.AllocsPerRun(10, func() {
		if err := Members(data, func(string, string) {}); err != nil {
			t.Fatal(err)
		}
	})
	// The decoder's own allocations are a few dozen, whatever the members.
	if n > 50 {
		t.Errorf("Members of 501 members without escapes: %v allocations, want at most 50", n)
	}
}

// The buffer of a token holds its decoded header, its decoded payload and
// its signing input in turn, without allocating again.
func TestBuffer_HoldsEachPartInTurnWithoutAllocating(t *testing.T) {
	p, err := Split("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzcy5leGFtcGxlIn0.c2ln")
	if err != nil {
		t.Fatal(err)
	}
	buf := p.Buffer()
	var h, c, si []byte
	if n := testing.AllocsPerRun(10, func() {
		h, _ = DecodeInto(buf, p.Header)
		c, _ = DecodeInto(buf, p.Payload)
		si = p.SigningInputInto(buf)
	}); n != 0 {
		t.Errorf("DecodeInto and SigningInputInto allocated %v times, want 0", n)
	}
	h, _ = DecodeInto(buf, p.Header)
	if string(h) != `{"alg":"RS256"}` {
		t.Errorf("header = %q", h)
	}
	c, _ = DecodeInto(buf, p.Payload)
	if string(c) != `{"iss":"https://iss.example"}` || cap(c) != len(c) {
		t.Errorf("payload = %q (cap %d)", c, cap(c))
	}
	si = p.SigningInputInto(buf)
	if string(si) != p.Header+"."+p.Payload || &si[0] != &buf[0] {
		t.Errorf("signing input = %q, in buf: %v", si, &si[0] == &buf[0])
	}
	if _, err := DecodeInto(buf[:3], p.Payload); err != ErrEncoding {
		t.Errorf("DecodeInto a short buffer: %v, want ErrEncoding", err)
	}
	if _, err := DecodeInto(buf, "a$b"); err != ErrEncoding {
		t.Errorf("DecodeInto of bad base64: %v, want ErrEncoding", err)
	}
}

// ClientIDValue is the one client that cid, client_id and azp name, the
// empty ones aside, and empty when two of them differ: no one of them can
// be taken as the issuer's own then.
func TestClaims_ClientIDValueIsTheOneClientNamed(t *testing.T) {
	for _, tc := range []struct{ cid, clientID, azp, want string }{
		{"", "", "", ""},
		{"c", "", "", "c"},
		{"", "c", "", "c"},
		{"", "", "c", "c"},
		{"c", "c", "c", "c"},
		{"", "c", "c", "c"},
		{"c", "", "c", "c"},
		{"x", "c", "", ""},
		{"x", "", "c", ""},
		{"", "x", "c", ""},
		{"c", "c", "x", ""},
		{"C", "c", "", ""}, // client ids are case-sensitive
	} {
		c := Claims{Cid: tc.cid, ClientID: tc.clientID, Azp: tc.azp}
		if got := c.ClientIDValue(); got != tc.want {
			t.Errorf("cid %q, client_id %q, azp %q: ClientIDValue() = %q, want %q", tc.cid, tc.clientID, tc.azp, got, tc.want)
		}
	}
}

// TestParseHeader_PlainHeaderAllocatesOnlyItsStrings: a header of plain
// ASCII strings, as issuers write them, is read by hand (plainHeader), its
// three parameters copied out and nothing else allocated, where the
// decoder's setting up took a further allocation and most of a
// microsecond. A header it does not read goes to the decoder as before.
func TestParseHeader_PlainHeaderAllocatesOnlyItsStrings(t *testing.T) {
	b := []byte(` { "alg" : "RS256","kid":"oaVBNmYQxCVMv8iW9rvIv0wXdXWOkOuSnhWs5WwC1Rw", "typ":"at+jwt" } `)
	var h Header
	if n := testing.AllocsPerRun(100, func() {
		var err error
		if h, err = ParseHeader(b); err != nil {
			t.Fatal(err)
		}
	}); n != 3 {
		t.Errorf("ParseHeader allocates %v times, want 3", n)
	}
	if want := (Header{Alg: "RS256", HasAlg: true, Kid: "oaVBNmYQxCVMv8iW9rvIv0wXdXWOkOuSnhWs5WwC1Rw", Typ: "at+jwt"}); h != want {
		t.Errorf("got %+v, want %+v", h, want)
	}
	for in, want := range map[string]Header{
		`{"alg":"RS256","crit":["exp"]}`:       {Alg: "RS256", HasAlg: true, Crit: true},
		`{"alg":"RS256","b64":false}`:          {Alg: "RS256", HasAlg: true, B64: true},
		`{"alg":"RS256","crit":"x","b64":""}`:  {Alg: "RS256", HasAlg: true, Crit: true, B64: true},
		`{"alg":"RS256","kid":"a","kid":"b"}`:  {Alg: "RS256", HasAlg: true, Kid: "b"},
		`{"alg":"RS256","kid":"a","kid":null}`: {Alg: "RS256", HasAlg: true},
		`{"alg":"RS\u0032256","x5t":"é"}`:      {Alg: "RS2256", HasAlg: true},
		`{}`:                                   {},
	} {
		if h, err := ParseHeader([]byte(in)); err != nil || h != want {
			t.Errorf("ParseHeader(%s) = %+v, %v; want %+v", in, h, err, want)
		}
	}
	for in, want := range map[string]error{`{"alg":"RS256","ALG":"x"}`: ErrCase, `{"alg":"RS256"} x`: ErrHeader, `{"alg":"RS256",}`: ErrHeader, `{"alg":"RS256","kid":1}`: ErrHeader} {
		if _, err := ParseHeader([]byte(in)); err != want {
			t.Errorf("ParseHeader(%s): %v, want %v", in, err, want)
		}
	}
}
