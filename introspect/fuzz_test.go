package introspect

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseResponse checks parseResponse against encoding/json: it accepts
// exactly the JSON objects whose "active" is a boolean, reporting it, and
// never panics.
func FuzzParseResponse(f *testing.F) {
	for _, seed := range []string{
		`{"active":true,"scope":"a b","client_id":"c","exp":1900000000}`,
		`{"active":false}`, `{"active":"true"}`, `{"active":1}`, `{}`, `[]`, `null`,
		`{"active":true,"active":false}`, `{"ACTIVE":true}`, `{"active":true}x`, ` {"active" : true } `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseResponse(body)
		ref, refOK := referenceObject(body)
		active, isBool := ref["active"].(bool)
		if (err == nil) != (refOK && isBool) {
			t.Fatalf("parseResponse(%q) error %v; encoding/json: object %v, active %v", body, err, refOK, ref["active"])
		}
		if err == nil && r.active != active {
			t.Fatalf("parseResponse(%q).active = %v, want %v", body, r.active, active)
		}
	})
}

// FuzzInvalidClient checks invalidClient against encoding/json: it reports
// exactly the JSON objects whose member named exactly "error" (the last
// when repeated) is the string "invalid_client", and never panics.
func FuzzInvalidClient(f *testing.F) {
	for _, seed := range []string{
		`{"error":"invalid_client","error_description":"client authentication failed"}`,
		`{"error":"invalid_request","Error":"invalid_client"}`, `{"ERROR":"invalid_client"}`,
		`{"error":"invalid_client","error":null}`, `{"error":"invalid\u005fclient"}`, `"invalid_client"`,
		`{"error":["invalid_client"]}`, `{"error":"invalid_client"}x`, `null`, `<html>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ref, refOK := referenceObject(body)
		if got, want := invalidClient(body), refOK && ref["error"] == "invalid_client"; got != want {
			t.Fatalf("invalidClient(%q) = %v, want %v", body, got, want)
		}
	})
}

// FuzzCombinedRouting checks the JWT test of Combined: a token it takes for
// a JWT has three parts and a header of UTF-8 whose first byte other than
// JSON white space is '{'; a token whose header is a JSON object in UTF-8
// (RFC 8259, 8.1: the parser refuses anything else), checked with
// encoding/json, is always taken for a JWT; nothing panics.
func FuzzCombinedRouting(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, seed := range []string{
		enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc([]byte(`{"iss":"https://org.example"}`)) + ".c2ln",
		enc([]byte(`{"alg":1}`)) + ".e30.",
		enc([]byte(`{"ALG":"RS256"}`)) + ".e30.",
		enc([]byte(`{"typ":"alg","alg" : "none"}`)) + ".e30.",
		enc([]byte(`{"jwk":{"alg":"RS256"}}`)) + ".e30.",
		enc([]byte(`["alg","x"]`)) + ".e30.",
		"opaque-token", "a.b.c", "a.b.c.d", "..", "",
		// headers longer than one piece of LooksLikeObject's decoding
		enc([]byte(strings.Repeat(" ", 600)+`{"alg":"RS256"}`)) + ".e30.",
		enc([]byte(`{"x":"`+strings.Repeat("x", 377)+`€"}`)) + ".e30.",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		payload, isJWT := jwtPayload(token)
		_ = payloadIssuer(payload) // must not panic
		parts := strings.Split(token, ".")
		if len(parts) != 3 || strings.ContainsAny(token, "\r\n") {
			if isJWT {
				t.Fatalf("jwtPayload(%q): a JWT without three parts", token)
			}
			return
		}
		hdrBytes, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
		starts := err == nil && utf8.Valid(hdrBytes) && strings.HasPrefix(strings.TrimLeft(string(hdrBytes), " \t\r\n"), "{")
		if isJWT && (!starts || payload != parts[1]) {
			t.Fatalf("jwtPayload(%q) = %q, true; header starts as an object: %v", token, payload, starts)
		}
		_, isObject := referenceObject(hdrBytes)
		if err == nil && isObject && utf8.Valid(hdrBytes) && !isJWT {
			t.Fatalf("jwtPayload(%q): a JWT whose header is a JSON object not recognised", token)
		}
	})
}

// referenceObject decodes b as exactly one JSON object with encoding/json,
// numbers of any size kept as json.Number.
func referenceObject(b []byte) (map[string]any, bool) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&m) != nil || m == nil {
		return nil, false
	}
	_, err := dec.Token() // nothing but whitespace may follow
	return m, errors.Is(err, io.EOF)
}
