package jwt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// reference computes scan's shape of a valid JSON text with the decoder's
// own tokenizer: nesting depth, the commas directly inside the outermost
// value (its elements or members less one), and which of names are member
// names of the outermost object, or a case variant of one.
func reference(t *testing.T, b []byte, names []string) shape {
	var sh shape
	d := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true))
	elems := 0
	for {
		tok, err := d.ReadToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("valid JSON did not tokenize: %v", err)
		}
		depth := d.StackDepth()
		sh.depth = max(sh.depth, depth)
		k := tok.Kind()
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
			if raw := quotedBefore(b, int(d.InputOffset())); bytes.IndexByte(raw, '\\') >= 0 {
				sh.escapedNames += len(raw) - 2
			}
			for i, n := range names {
				switch name := tok.String(); {
				case name == n:
					sh.present |= 1 << i
				case strings.EqualFold(name, n):
					sh.caseVariant = true
				}
			}
		}
	}
	members := elems // an object's members count twice: name and value
	if len(b) > 0 && bytes.TrimLeft(b, " \t\r\n")[0] == '{' {
		members = elems / 2
	}
	sh.commas = max(members-1, 0)
	return sh
}

// FuzzScan checks the parser's pre-pass against the decoder's tokenizer on
// every valid JSON array or object: the same depth, the same commas at the
// top level, the same registered names present, the same case variants.
// The pre-pass jumps from quote to quote over strings, counting the
// backslashes before each quote; this is where a mistake would hide.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`{"iss":"a","sub":"b\"c","aud":["x","y"]}`,
		`["a\\",[1]]`, `["\\\\\\",1]`, `{"a":"\\\"","ISS":1}`,
		`{"\u0069ss":1,"cnf":{"jkt":"x"}}`, `{"k":[[[{}]]],"x":"]}"}`,
		`{"i\u017fs":1}`, `[]`, `{}`, `{"":{"":""}}`, `["a","iss"]`, `{"\u003cx":1,"\\":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := jsontext.Value(b)
		if !v.IsValid(jsontext.AllowDuplicateNames(true)) || !bytes.ContainsAny(b[:1], "[{") {
			return
		}
		got := scan(b, RegisteredNames[:])
		want := reference(t, b, RegisteredNames[:])
		if got != want {
			t.Fatalf("scan(%q) = %+v, want %+v", b, got, want)
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
// each with the JSON text of its last value.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		`{"iss":"x","a":1,"a":[1, {"b":"}"}]}`,
		`{ "\u0061" : "v" , "b\"":null }`,
		`{}`,
		`{"aud":["a","b"],"exp":1e9,"x":{"y":{"z":[]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseClaims(b); err != nil {
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
	})
}
