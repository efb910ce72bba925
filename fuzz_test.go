package grpcauth

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
)

// FuzzBearerToken checks accessToken against a model of the rule written
// from the RFCs, without panicking: one value is a scheme, an RFC 9110
// auth-scheme (section 11.1: a token, 1*tchar, section 5.6.2, spelled out
// here rather than taken from httpguts), ended by a space; Bearer or DPoP
// (compared case-insensitively) then any spaces and a non-empty token is
// accepted with that token; any scheme without credentials after it
// (nothing but the spaces and tabs that end the value, which HTTP/1.1
// would trim: a bare token among them) is malformed, reporting the DPoP
// scheme; another scheme followed by credentials is unsupported
// (rejScheme); a value that does not start with a scheme so ended is
// malformed.
//
//	go test -run '^$' -fuzz FuzzBearerToken .
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer abc", "BEARER  abc", "Bearer", "Bearer ", "Basic dXNlcg==", "", " ", " Bearer x", "Bearer\tx", "Bearerx", "Bear\u00e9r x", "Bearer, x", "DPoP", "dpop  ", " DPoP x", "eyJhbGciOiJ.eyJzdWIiOiJ.c2ln", "dXNl/cjpw+YXNz==", "Basic", "Basic  ", "eyJhbGciOiJ ", "Basic \t", "Bearer \t ", "DPoP \t", "Bearer \tx", "DPoP\t", "dpop\t \t", "Basic\t", "x\t"} {
		f.Add(s)
	}
	f.Add("DPoP abc")
	f.Add("dpop  abc")
	const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	f.Fuzz(func(t *testing.T, v string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.MD{"authorization": {v}})
		tok, isDPoP, present, rej := accessToken(ctx)
		if !present {
			t.Fatal("a value was present but reported absent")
		}
		// The model: the value without the spaces and tabs ending it
		// (which HTTP/1.1 drops) must be a scheme, a space, and more.
		body := strings.TrimRight(v, " \t")
		scheme, rest, spaced := strings.Cut(body, " ")
		wantTok, wantDPoP, wantRej := strings.TrimLeft(rest, " ")+v[len(body):], strings.EqualFold(scheme, "DPoP"), (*rejection)(nil)
		switch {
		case scheme == "" || strings.Trim(scheme, tchar) != "":
			wantTok, wantDPoP, wantRej = "", false, rejMalformed
		case !spaced:
			wantTok, wantRej = "", rejMalformed
		case !wantDPoP && !strings.EqualFold(scheme, "Bearer"):
			wantTok, wantRej = "", rejScheme
		}
		if tok != wantTok || isDPoP != wantDPoP || rej != wantRej {
			t.Fatalf("accessToken(%q) = %q, isDPoP %v, %s; want %q, %v, %s", v, tok, isDPoP, rejName(rej), wantTok, wantDPoP, rejName(wantRej))
		}
	})
}

// rejName names accessToken's refusals for FuzzBearerToken's messages.
func rejName(r *rejection) string {
	switch r {
	case nil:
		return "accepted"
	case rejMalformed:
		return "rejMalformed"
	case rejScheme:
		return "rejScheme"
	}
	return r.reason
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
