package grpcauth

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
)

// FuzzBearerToken checks that any authorization value is either rejected or
// yields a non-empty token that followed a Bearer scheme, without panicking.
//
//	go test -run '^$' -fuzz FuzzBearerToken .
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer abc", "BEARER  abc", "Bearer", "Bearer ", "Basic dXNlcg==", "", " ", " Bearer x", "Bearer\tx", "Bearerx"} {
		f.Add(s)
	}
	f.Add("DPoP abc")
	f.Add("dpop  abc")
	f.Fuzz(func(t *testing.T, v string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.MD{"authorization": {v}})
		tok, isDPoP, present, rej := accessToken(ctx)
		if !present {
			t.Fatal("a value was present but reported absent")
		}
		if rej != nil {
			if tok != "" {
				t.Fatalf("rejected %q yet returned a token", v)
			}
			return
		}
		if tok == "" || tok[0] == ' ' {
			t.Fatalf("accepted %q with token %q", v, tok)
		}
		scheme, _, _ := strings.Cut(v, " ")
		if !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "DPoP") || !strings.HasSuffix(v, tok) {
			t.Fatalf("accepted %q (token %q) without a Bearer or DPoP scheme", v, tok)
		}
		if isDPoP != strings.EqualFold(scheme, "DPoP") {
			t.Fatalf("%q: isDPoP = %v", v, isDPoP)
		}
	})
}

// FuzzSplitMethod checks that method-name parsing never panics and only
// accepts names that reassemble to the input.
//
//	go test -run '^$' -fuzz FuzzSplitMethod .
func FuzzSplitMethod(f *testing.F) {
	for _, s := range []string{"/a.B/C", "/authtest.v1.TestService/AllOf", "a.B/C", "/a.B/", "//C", "/a.B/C/D", "/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		svc, name, ok := splitMethod(m)
		if ok && "/"+svc+"/"+name != m {
			t.Fatalf("splitMethod(%q) = %q, %q", m, svc, name)
		}
		if ok && (svc == "" || name == "" || strings.Contains(name, "/")) {
			t.Fatalf("splitMethod(%q) accepted a malformed name", m)
		}
	})
}

// FuzzCnfThumbprint checks that decoding a cnf claim never panics and that
// the compact fast path agrees with the general encoding/json path on
// everything it accepts.
//
//	go test -run '^$' -fuzz FuzzCnfThumbprint .
func FuzzCnfThumbprint(f *testing.F) {
	for _, s := range []string{
		`{"x5t#S256":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"}`,
		` {"x5t#S256":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"} `,
		`{ "x5t#S256" : "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0" }`,
		`{"x5t\u0023S256":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"}`,
		`{"x5t#S256":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa1"}`,
		`{"x5t#S256":"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0"}`,
		`{"x5t#S256":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0="}`,
		`{"x5t#S256":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAF\n0"}`,
		`{"x5t#S256":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0","jkt":"x"}`,
		`{"x5t#S256":"a","x5t#S256":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"}`,
		`{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}`,
		`{"x5t#S256":42}`, `{}`, `null`, `[]`, `"x"`, ``, `{"x5t#S256":"`,
		// White space to Unicode but not to JSON (RFC 8259, 2) around the
		// compact form: \v, \f, U+0085, U+00A0.
		"\v{\"x5t#S256\":\"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0\"}",
		"{\"jkt\":\"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I\"}\f",
		"\u0085{\"x5t#S256\":\"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0\"}\u00a0",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fastKind, fast, ok := compactCnfThumbprint(raw)
		slowKind, slow, err := decodeCnf(raw)
		if ok && (err != nil || fast != slow || fastKind != slowKind) {
			t.Fatalf("%q: fast path gives %d %x, general path %d %x, %v", raw, fastKind, fast, slowKind, slow, err)
		}
		if kind, got, err2 := cnfThumbprint(raw); (err2 == nil) != (err == nil) || (err == nil && (got != slow || kind != slowKind)) {
			t.Fatalf("%q: cnfThumbprint = %d %x, %v; general path %d %x, %v", raw, kind, got, err2, slowKind, slow, err)
		}
	})
}
