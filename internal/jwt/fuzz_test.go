package jwt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// reference computes scan's shape of a valid JSON text with the decoder's
// own tokenizer (nesting depth, whether a member name of the outermost
// object is a case variant of one of names, the longest text of names on
// a path, whether a name holds an escape), and what the members loop
// records of the outermost object's names: how many, which of names,
// the length of those with escapes, and again the case variants. Of an
// invalid text it computes them up to the tokenizer's first error, which
// it returns.
func reference(b []byte, names []string) (shape, memberNames, error) {
	var sh shape
	var seen memberNames
	d := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true))
	elems := 0
	name := map[int]int{} // the text length of the name being read at each depth
	path := 0
	for {
		tok, err := d.ReadToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sh, seen, err
		}
		depth := d.StackDepth()
		sh.depth = max(sh.depth, depth)
		k := tok.Kind()
		switch kind, length := d.StackIndex(depth); {
		case k == '"' && kind == '{' && length%2 == 1: // a member name
			raw := quotedBefore(b, int(d.InputOffset()))
			n := len(raw) - 2
			if depth < MaxDepth+2 { // scan's levels
				sh.costlyName = sh.costlyName || costlyName(raw[1:len(raw)-1])
			}
			path += n - name[depth]
			name[depth] = n
			sh.pathNames = max(sh.pathNames, path)
		case k == '}':
			path -= name[depth+1]
			delete(name, depth+1)
		}
		if k == '}' || k == ']' {
			depth++ // the token closed a level
		}
		if k == '{' || k == '[' {
			depth-- // the token opened a level
		}
		if depth != 1 || k == '}' || k == ']' {
			continue
		}
		elems++
		kind, _ := d.StackIndex(1)
		if kind == '{' && elems%2 == 1 { // a member name
			seen.count++
			if raw := quotedBefore(b, int(d.InputOffset())); bytes.IndexByte(raw, '\\') >= 0 {
				seen.escaped += len(raw) - 2
			}
			for i, n := range names {
				switch name := tok.String(); {
				case name == n:
					seen.present |= 1 << i
				case strings.EqualFold(name, n):
					sh.caseVariant, seen.caseVariant = true, true
				}
			}
		}
	}
	return sh, seen, nil
}

// seenNames decodes an object with members, skipping every value, and
// returns what it recorded of the names.
type seenNames struct{ seen memberNames }

func (s *seenNames) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	return members(d, registered, &s.seen, func(_ string, d *jsontext.Decoder) error { return d.SkipValue() })
}

// FuzzScan checks the parser's pre-pass against the decoder's tokenizer on
// every valid JSON array or object: the same depth, the same case
// variants, the same longest text of names on a path. The pre-pass jumps from quote to quote over strings, counting
// the backslashes before each quote; this is where a mistake would hide.
// On an object it checks the members loop's record of the names too: the
// same number, the same registered names present, the same case variants,
// the same length of escaped names. On invalid JSON that scan lets reach
// the decoder it checks that the names the decoder read before its first
// error, which the error's JSON Pointer can name, are within pathNames.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`{"iss":"a","sub":"b\"c","aud":["x","y"]}`,
		`["a\\",[1]]`, `["\\\\\\",1]`, `{"a":"\\\"","ISS":1}`,
		`{"\u0069ss":1,"cnf":{"jkt":"x"}}`, `{"k":[[[{}]]],"x":"]}"}`,
		`{"i\u017fs":1}`, `[]`, `{}`, `{"":{"":""}}`, `["a","iss"]`, `{"\u003cx":1,"\\":2}`,
		`{"abc":{"de":[{"f":1}],"ghij":{"k":"x:"}},"l" : 2}`, `{"a":"b:","c":["d",{"e\"f":":"}]}`,
		`{"a":"\ud800"}`, `{"a":"\ud800\udc00"}`, "{\"a\":\"\xff\"}", `{"a":01}`, ` {"a" : [1, 2.5e3, true, null]} `,
		`{"a":{"bc" x}}`, `{"a":1,"bc"}`, `[{"a":[],"bc",1]`,
		"\xef\xbb\xbf{}", `{} x`, "{\"a\x01\":1}", `{"\u0000":"\u0000"}`, "{\"\xff\":1}", `{"a":"\udc00\ud800"}`,
		`[1,]`, `{"a":-}`, `{"a":1e999999}`, strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := jsontext.Value(b)
		valid := v.IsValid(jsontext.AllowDuplicateNames(true))
		if validJSON(b) != valid {
			t.Fatalf("validJSON(%q) = %v, the decoder says %v", b, !valid, valid)
		}
		got := scan(b, registered)
		want, wantSeen, err := reference(b, RegisteredNames[:])
		if !valid {
			if !got.invalid && got.depth <= MaxDepth && got.pathNames < want.pathNames {
				t.Fatalf("scan(%q).pathNames = %d, the decoder read %d before its error", b, got.pathNames, want.pathNames)
			}
			if !got.invalid && got.depth <= MaxDepth && want.costlyName && !got.costlyName {
				t.Fatalf("scan(%q) found no costly name, the decoder read one before its error", b)
			}
			return
		}
		if len(b) == 0 || !bytes.ContainsAny(b[:1], "[{") {
			return
		}
		if err != nil {
			t.Fatalf("valid JSON did not tokenize: %v", err)
		}
		if got != want {
			t.Fatalf("scan(%q) = %+v, want %+v", b, got, want)
		}
		if b[0] != '{' {
			return
		}
		var s seenNames
		if err := jsonv2.Unmarshal(b, &s, decodeOptions); err != nil {
			t.Fatalf("members refused valid JSON %q: %v", b, err)
		}
		if !reflect.DeepEqual(s.seen, wantSeen) {
			t.Fatalf("members(%q) recorded %+v, want %+v", b, s.seen, wantSeen)
		}
	})
}

// quotedBefore returns the JSON string of valid JSON text b that ends at
// end: every quote inside it follows an odd number of backslashes, so its
// opening quote is the first one before end-1 that does not.
func quotedBefore(b []byte, end int) []byte {
	for i := end - 2; i >= 0; i-- {
		if b[i] != '"' {
			continue
		}
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return b[i:end]
		}
	}
	return b[:end]
}

// FuzzMembers checks Members against encoding/json (v1) decoding into a map
// of raw values: for every payload ParseClaims accepts, the same names,
// each with the JSON text of its last value. And it checks that the
// registered claims ParseClaims decoded are those last values
// (sameAsLastMembers), so that the verdict and what the Claims' member
// index answers (Raw, Claim, AssertClaims, the RFC 9068 profile) read the
// same member of a repeated name.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		`{"iss":"x","a":1,"a":[1, {"b":"}"}]}`,
		`{ "\u0061" : "v" , "b\"":null }`,
		`{}`,
		`{"aud":["a","b"],"exp":1e9,"x":{"y":{"z":[]}}}`,
		`{"iss":"a","\u0069ss":"b","sub":"c","sub":null,"exp":1,"exp":2.5,"aud":null,"aud":"x","scp":"a","scp":["b"],"cid":"","azp":"z"}`,
		`{"nbf":1e9,"iat":0.25,"jti":"j","client_id":"c","nonce":"n\u00e9","scope":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseClaims(b)
		if err != nil {
			return
		}
		got := map[string]string{}
		if err := Members(string(b), func(name, value string) { got[name] = value }); err != nil {
			t.Fatalf("Members refused a payload ParseClaims accepted: %v", err)
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(b, &want); err != nil {
			t.Skip("encoding/json refuses it") // v1 is laxer, never stricter, in practice
		}
		if len(got) != len(want) {
			t.Fatalf("Members found %d names, encoding/json %d", len(got), len(want))
		}
		for name, v := range want {
			if got[name] != string(v) {
				t.Fatalf("member %q = %q, encoding/json %q", name, got[name], v)
			}
		}
		sameAsLastMembers(t, &c, got)
	})
}

// sameAsLastMembers fails t unless c, the registered claims ParseClaims
// decoded, are what the JSON texts last (each name's last member, as
// Members reports them) say: a string claim is the string, or "" for an
// absent or null member; aud the string as a list of one, the array, or
// nil; a NumericDate the number, or the zero time; scp and scope the text
// itself.
func sameAsLastMembers(t *testing.T, c *Claims, last map[string]string) {
	t.Helper()
	isNull := func(name string) bool { v, ok := last[name]; return !ok || v == "null" }
	for name, field := range map[string]string{
		"iss": c.Issuer, "sub": c.Subject, "jti": c.ID, "cid": c.Cid,
		"client_id": c.ClientID, "azp": c.Azp, "nonce": c.Nonce,
	} {
		var want string
		if !isNull(name) && json.Unmarshal([]byte(last[name]), &want) != nil {
			t.Fatalf("%s: the last member, %s, is no string, yet the claims were accepted", name, last[name])
		}
		if field != want {
			t.Fatalf("%s = %q, its last member %q", name, field, want)
		}
	}
	var aud []string
	if !isNull("aud") {
		var one string
		if err := json.Unmarshal([]byte(last["aud"]), &one); err == nil {
			aud = []string{one}
		} else if err := json.Unmarshal([]byte(last["aud"]), &aud); err != nil {
			t.Fatalf("aud: the last member, %s, is no string or array of strings", last["aud"])
		}
	}
	if !slices.Equal(c.Audience, aud) {
		t.Fatalf("aud = %q, its last member %q", c.Audience, aud)
	}
	for name, d := range map[string]NumericDate{"exp": c.Expiry, "nbf": c.NotBefore, "iat": c.IssuedAt} {
		if isNull(name) {
			if !d.IsZero() {
				t.Fatalf("%s = %v, its last member %q", name, d.Time, last[name])
			}
			continue
		}
		f, err := strconv.ParseFloat(last[name], 64)
		if err != nil {
			t.Fatalf("%s: the last member, %s, is no number", name, last[name])
		}
		// Seconds and fraction apart: a float64 of the whole instant would
		// lose the nanoseconds at these magnitudes.
		whole, frac := math.Modf(f)
		if math.Abs(float64(d.Unix()-int64(whole))+float64(d.Nanosecond())/1e9-frac) > 1e-6 {
			t.Fatalf("%s = %v, its last member %s", name, d.Time, last[name])
		}
	}
	for name, raw := range map[string][]byte{"scp": c.Scp, "scope": c.Scope} {
		if v, ok := last[name]; ok && string(raw) != v || !ok && raw != nil {
			t.Fatalf("%s = %s, its last member %s", name, raw, v)
		}
	}
}

// FuzzDecodeFirst checks that decoding first, as the parser does with a
// text that cannot nest deeper than MaxDepth and has no nested object,
// changes no result: every input gets the same Header or Claims (what
// decoded before an error included) and the same error as with the
// pre-pass first, the order the errors are defined by.
func FuzzDecodeFirst(f *testing.F) {
	for _, s := range []string{
		`{"iss":"a","aud":["x"],"exp":1,"scp":["s"],"cnf":{"jkt":"x"},"\u0073ub":"b"}`,
		`{"iss":1,"ISS":"a"}`, `{"aud":{},"\x":1}`, `{"exp":"1"}{"Exp":1}`, `{"iss":"a"} x`,
		`{"iss":"a","i\u017fs":"b"}`, `{"iss":x,"ISS":"a"}`, `{"aud":[1],"a":[[[[]]]]}`,
		`{"alg":"RS256","kid":"k"}`, `{"alg":1,"KID":"k"}`, `{"alg":"RS256","typ":"\u0061t+jwt","crit":[]}`,
		`{"alg":"a","kid":"k"`, `{"` + strings.Repeat("a", 200) + `":1,"alg":"\"x"}`, `{}`, ` {"iss":null} `,
		`{"iss":1,"` + strings.Repeat("a", 65) + `":1}`, `{"scp":["s"],"` + strings.Repeat("a", 65) + `":x}`,
		`{"iss":"a","` + strings.Repeat("a", 65) + `":1,"ISS":1,"aud":1}`, `{"kid":"k","` + strings.Repeat("/", 65) + `" x}`,
		`{"\n":x}`, `{"iss":1,"\n":x}`, `{"a":{"\n":1},"aud":{}}`, `{"\u0069ss":1}`, `{"\u006bid":1,"alg":x}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseClaims(b, false)
		wantC, wantErr := parseClaims(b, true)
		if !sameError(err, wantErr) || !reflect.DeepEqual(c, wantC) {
			t.Fatalf("ParseClaims(%q) = %+v, %v; pre-pass first: %+v, %v", b, c, err, wantC, wantErr)
		}
		h, err := parseHeader(b, false)
		wantH, wantErr := parseHeader(b, true)
		if !sameError(err, wantErr) || h != wantH {
			t.Fatalf("ParseHeader(%q) = %+v, %v; pre-pass first: %+v, %v", b, h, err, wantH, wantErr)
		}
	})
}

// sameError reports whether a and b are the same error: the same sentinel,
// or a *TypeError naming the same claim.
func sameError(a, b error) bool {
	var ta, tb *TypeError
	if errors.As(a, &ta) && errors.As(b, &tb) {
		return ta.Claim == tb.Claim
	}
	return a == b
}

// FuzzPlainHeader checks plainHeader, ParseHeader's reading of a header of
// plain ASCII strings, against the decoder (the pre-pass first, the order
// errors are defined by): what it reads, the decoder reads without error
// to the same Header. Its seeds are under testdata/fuzz/FuzzPlainHeader.
//
//	go test -run='^$' -fuzz='^FuzzPlainHeader$' -fuzztime=60s ./internal/jwt/
func FuzzPlainHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := plainHeader(b)
		if !ok {
			if h != (Header{}) {
				t.Fatalf("plainHeader(%q) refused it, with %+v", b, h)
			}
			return
		}
		want, err := parseHeader(b, true)
		if err != nil || h != want {
			t.Fatalf("plainHeader(%q) = %+v; the decoder: %+v, %v", b, h, want, err)
		}
	})
}

// FuzzPlainStrings checks PlainStrings, the verifier's reading of a scope
// array of plain strings, against jsonv2.Unmarshal, which decodes every
// other array: what it accepts, jsonv2 decodes without error
// to the same strings, each a substring of the text, in an exactly sized
// slice. Its seeds are under testdata/fuzz/FuzzPlainStrings.
//
//	go test -run='^$' -fuzz='^FuzzPlainStrings$' -fuzztime=60s ./internal/jwt/
func FuzzPlainStrings(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		fast, ok := PlainStrings(text)
		var slow []string
		err := jsonv2.Unmarshal([]byte(text), &slow)
		if !ok {
			if fast != nil {
				t.Fatalf("%q: refused, with %q", text, fast)
			}
			return
		}
		if err != nil || !slices.Equal(fast, slow) || len(fast) != cap(fast) {
			t.Fatalf("%q: PlainStrings = %q (cap %d), jsonv2 = %q, %v", text, fast, cap(fast), slow, err)
		}
		rest := text
		for _, s := range fast {
			i := strings.Index(rest, `"`+s+`"`)
			if i < 0 {
				t.Fatalf("%q: element %q is not between two quotes of the text, in order", text, s)
			}
			rest = rest[i+len(s)+2:]
		}
	})
}
