package verifier

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/alloctest"
)

// rejectionAllowance is the fixed part of the bound on what rejecting a
// token may allocate: 2 bytes per token byte plus this, which covers the
// decoded header and an error value. encoding/json/v2 keeps its decoder
// state in a sync.Pool; allocated takes the least of several runs, so the
// pool is warm. When a GC has emptied the pool, a decode allocates that
// state once more (about 5.5 KB, whatever the input): docs/verifier.md.
const rejectionAllowance = 2 << 10

// checkRejectionCost measures what reject allocates to refuse token (the
// fewest bytes of 5 calls) and fails the test when it accepts the token,
// returns an error that is not want (any error when want is nil), or
// allocates more than twice the token's length plus rejectionAllowance.
func checkRejectionCost(t *testing.T, token string, want error, reject func() error) {
	t.Helper()
	var err error
	n := alloctest.Bytes(5, func() { err = reject() })
	if err == nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	t.Logf("%d B token: %d B allocated (%.2f per byte)", len(token), n, float64(n)/float64(len(token)))
	if limit := 2*uint64(len(token)) + rejectionAllowance; n > limit {
		t.Fatalf("rejecting a %d-byte token allocated %d bytes, over %d", len(token), n, limit)
	}
}

// rejectionShapes are the worst inputs for decoding cost that issue #10
// names, each rejected before any signature work.
func rejectionShapes(t testing.TB, f *fixture) []struct {
	name  string
	token string
	want  error
} {
	h := b64raw(`{"alg":"RS256","kid":"` + f.iss.KeyID() + `"}`)
	tok := func(payload string) string { return h + "." + b64raw(payload) + ".c2ln" }
	return []struct {
		name  string
		token string
		want  error
	}{
		{"many members", junkToken(), ErrIssuer},
		{"many commas in an aud string", tok(`{"iss":"x","aud":"` + strings.Repeat(",", 47000) + `"}`), ErrIssuer},
		{"many empty aud elements", tok(`{"iss":"x","aud":[` + strings.Repeat(`"",`, 15000) + `""]}`), ErrMalformed},
		{"64 aud elements", tok(`{"iss":"x","aud":[` + strings.Repeat(`"",`, 63) + `""]}`), ErrIssuer},
		{"deep nesting", tok(`{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`), ErrMalformed},
		{"nesting at the limit", tok(`{"x":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`), ErrIssuer},
		{"huge number in exp", tok(`{"iss":"` + f.iss.URL() + `","exp":1` + strings.Repeat("0", 40000) + `}`), ErrMalformed},
		{"huge unknown number", tok(`{"iss":"x","n":1` + strings.Repeat("0", 40000) + `}`), ErrIssuer},
		{"repeated long iss", tok(`{` + strings.Repeat(`"iss":"`+strings.Repeat("x", 1000)+`",`, 40) + `"a":0}`), ErrIssuer},
		{"many header members", b64raw(`{"alg":"RS256","kid":"k"`+strings.Repeat(`,"":0`, 9000)+`}`) + "." + b64raw(`{"iss":"x"}`) + ".c2ln", ErrIssuer},
		{"long escaped member name", tok(`{"iss":"x","\u0061` + strings.Repeat("a", 40000) + `":0}`), ErrIssuer},
		{"many mid-length escaped member names", tok(`{"iss":"x"` + strings.Repeat(`,"\u0061`+strings.Repeat("a", 150)+`":0`, 250) + `}`), ErrIssuer},
		{"repeated long escaped iss", tok(`{` + strings.Repeat(`"iss":"\u0061`+strings.Repeat("x", 1000)+`",`, 40) + `"a":0}`), ErrIssuer},
		{"long escaped kid", b64raw(`{"alg":"RS256","kid":"\u0061`+strings.Repeat("k", 40000)+`"}`) + "." + b64raw(`{"iss":"x"}`) + ".c2ln", ErrMalformed},
		{"long unknown member name", tok(`{"iss":"x","` + strings.Repeat("a", 40000) + `":0}`), ErrIssuer},
		{"many mid-length unknown member names", tok(`{"iss":"x"` + strings.Repeat(`,"`+strings.Repeat("a", 150)+`":0`, 250) + `}`), ErrIssuer},
		{"many escaped member names", tok(`{"iss":"x"` + strings.Repeat(`,"\n":0`, 6000) + `}`), ErrIssuer},
		{"many invalid escaped member names", tok(`{"iss":"x"` + strings.Repeat(`,"\x":0`, 6000) + `}`), ErrMalformed},
		{"long escaped header member name", b64raw(`{"alg":"RS256","kid":"k","\u0061`+strings.Repeat("a", 40000)+`":0}`) + "." + b64raw(`{"iss":"x"}`) + ".c2ln", ErrIssuer},
		{"repeated 64-element aud arrays", tok(`{` + strings.Repeat(`"aud":[`+strings.Repeat(`"",`, 63)+`""],`, 170) + `"iss":"x"}`), ErrMalformed},
		{"long upper-case typ", b64raw(`{"alg":"RS256","kid":"k","typ":"`+strings.Repeat("T", 40000)+`"}`) + "." + b64raw(`{"iss":"x"}`) + ".c2ln", ErrIssuer},
		{"long kid", b64raw(`{"alg":"RS256","kid":"`+strings.Repeat("k", 40000)+`"}`) + "." + b64raw(`{"iss":"x"}`) + ".c2ln", ErrIssuer},
		// The decoder's syntax errors carry a JSON Pointer built from the
		// member names on the path to the error, at several times their
		// length: found in review, 409-630 KB for the first two.
		{"syntax error after a long member name", tok(`{"iss":"x","` + strings.Repeat("a", 40000) + `":x}`), ErrMalformed},
		{"syntax error after a long member name of slashes", tok(`{"iss":"x","` + strings.Repeat("/", 40000) + `":x}`), ErrMalformed},
		{"syntax error under a long nested member name", tok(`{"iss":"x","a":{"` + strings.Repeat("~", 40000) + `":x}}`), ErrMalformed},
		{"unpaired surrogate after a long member name", tok(`{"iss":"x","` + strings.Repeat("/", 40000) + `":"\ud800"}`), ErrMalformed},
		{"syntax error on a path of mid-length names", tok(`{"iss":"x",` + strings.Repeat(`"`+strings.Repeat("/", 1200)+`":{`, 30) + `"a":x` + strings.Repeat("}", 30) + `}`), ErrMalformed},
		{"syntax error after a long header member name", b64raw(`{"alg":"RS256","kid":"k","`+strings.Repeat("/", 40000)+`":x}`) + "." + b64raw(`{"iss":"x"}`) + ".c2ln", ErrMalformed},
		// A name the decoder reads is on its path, ':' after it or not:
		// found in review, 14.7 bytes per byte.
		{"long member name without a colon", tok(`{"iss":"x","` + strings.Repeat("/", 40000) + `" x}`), ErrMalformed},
		{"long nested member name without a colon", tok(`{"iss":"x","a":{"` + strings.Repeat("/", 40000) + `"}}`), ErrMalformed},
		{"long header member name without a colon", b64raw(`{"alg":"RS256","kid":"k","`+strings.Repeat("/", 40000)+`","a":1}`) + "." + b64raw(`{"iss":"x"}`) + ".c2ln", ErrMalformed},
		// Decoded twice (the values before a member name over 64 bytes
		// copied again): found in review, 2.3 bytes per byte.
		{"long scp before a 65-byte member name", tok(`{"iss":"x","scp":["` + strings.Repeat("s", 40000) + `"],"` + strings.Repeat("a", 65) + `":1}`), ErrIssuer},
		{"repeated long iss before a 65-byte member name", tok(`{` + strings.Repeat(`"iss":"`+strings.Repeat("x", 1000)+`",`, 40) + `"` + strings.Repeat("a", 65) + `":0}`), ErrIssuer},
		{"long kid before a 65-byte header member name", b64raw(`{"alg":"RS256","kid":"`+strings.Repeat("k", 40000)+`","`+strings.Repeat("a", 65)+`":1}`) + "." + b64raw(`{"iss":"x"}`) + ".c2ln", ErrIssuer},
		{"wrong issuer", f.mint(t, map[string]any{"iss": "https://evil.example"}), ErrIssuer},
		{"expired", f.mint(t, map[string]any{"exp": f.clk.Now().Add(-time.Hour)}), ErrExpired},
		{"unknown kid", f.mint(t, nil, grpcauthtest.WithKidHeader("unknown-kid")), ErrUnknownKey},
		{"garbage", "not-a-token", ErrMalformed},
		{"tiny", "e30.e30.x", ErrMalformed},
	}
}

// TestVerifyAccessToken_RejectionCostIsBounded is the regression test of
// issue #10, defect 3: rejecting any of the worst shapes allocates at most
// twice the token's length plus rejectionAllowance (a 62.7 KB token with
// 47,000 commas in one aud string allocated 750 KB).
func TestVerifyAccessToken_RejectionCostIsBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation measurement; run without -race (see the README's test command)")
	}
	f := newFixture(t, grpcauthtest.Config{}, nil)
	if err := f.v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range rejectionShapes(t, f) {
		t.Run(r.name, func(t *testing.T) {
			if len(r.token) > DefaultMaxTokenSize {
				t.Fatalf("token of %d bytes is over MaxTokenSize", len(r.token))
			}
			checkRejectionCost(t, r.token, r.want, func() error { _, err := f.v.VerifyAccessToken(ctx, r.token); return err })
		})
	}
}

// The MultiVerifier decodes a token's payload to route it by iss and hands
// it to the issuer's Verifier, which does not decode it again: routing adds
// nothing to the bound, even for a token naming a configured issuer.
func TestMulti_RejectionCostIsBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation measurement; run without -race (see the README's test command)")
	}
	f := newFixture(t, grpcauthtest.Config{}, nil)
	m, err := NewMulti(context.Background(), f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if err := m.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := b64raw(`{"alg":"RS256","kid":"` + f.iss.KeyID() + `"}`)
	iss := `{"iss":"` + f.iss.URL() + `",`
	shapes := []struct {
		name  string
		token string
		want  error // nil: any error (routing reads the payload before the header)
	}{
		{"configured iss, many commas in an aud string", h + "." + b64raw(iss+`"aud":"`+strings.Repeat(",", 47000)+`"}`) + ".c2ln", ErrAudience},
		{"configured iss, long unknown member", h + "." + b64raw(iss+`"x":"`+strings.Repeat("x", 47000)+`"}`) + ".c2ln", ErrAudience},
		{"configured iss, long scp before a 65-byte member name", h + "." + b64raw(iss+`"scp":"`+strings.Repeat("s", 47000)+`","`+strings.Repeat("a", 65)+`":1}`) + ".c2ln", ErrAudience},
		{"configured iss, long kid", b64raw(`{"alg":"RS256","kid":"`+strings.Repeat("k", 20000)+`"}`) + "." + b64raw(iss+`"aud":"`+strings.Repeat(",", 20000)+`"}`) + ".c2ln", ErrAudience},
	}
	for _, r := range rejectionShapes(t, f) {
		r.want = nil
		shapes = append(shapes, r)
	}
	ctx := context.Background()
	for _, r := range shapes {
		t.Run(r.name, func(t *testing.T) {
			checkRejectionCost(t, r.token, r.want, func() error { _, err := m.VerifyAccessToken(ctx, r.token); return err })
		})
	}
}

// The typ header is compared in any case on every path (an access token's
// with or without RequireAccessTokenProfile, an ID token's) without lowering
// a copy of it: a 40 KB upper-case typ costs no more than a 40 KB kid.
func TestVerify_LongTypRejectionCostIsBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation measurement; run without -race (see the README's test command)")
	}
	f := newFixture(t, grpcauthtest.Config{}, nil)
	profile := f.verifierWith(t, func(c *Config) { c.RequireAccessTokenProfile = true })
	ready(t, f.v)
	ready(t, profile)
	typ := func(typ string) string {
		return b64raw(`{"alg":"RS256","kid":"k","typ":"`+typ+`"}`) + "." + b64raw(`{"iss":"x"}`) + ".c2ln"
	}
	ctx := context.Background()
	long := strings.Repeat("T", 40000)
	for _, tc := range []struct {
		name  string
		token string
		call  func(string) error
		want  error
	}{
		{"access token", typ(long + "+JWT"), func(tok string) error { _, err := f.v.VerifyAccessToken(ctx, tok); return err }, ErrClaims},
		{"access token with the RFC 9068 profile", typ("APPLICATION/" + long), func(tok string) error { _, err := profile.VerifyAccessToken(ctx, tok); return err }, ErrClaims},
		{"ID token", typ(long + "+JWT"), func(tok string) error { _, err := f.v.VerifyIDToken(ctx, tok, "client", ""); return err }, ErrClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRejectionCost(t, tc.token, tc.want, func() error { return tc.call(tc.token) })
		})
	}
}

// TestRejectionCost_EscapedMemberNameCostsNoMoreThanAPlainOne: the
// decoder's errors carry a JSON Pointer built from the member names on its
// path, and it unescapes an escaped one by growing a buffer to the length
// of the rest of the input: a 4-byte "\n" before a syntax error, or an
// escaped "\u0069ss" whose value has the wrong type, cost a copy of the
// whole text after it (found in review: 1.89 bytes per token byte, twice
// the plain name's cost). Rejecting such a token costs no more than the
// same token with a plain name.
func TestRejectionCost_EscapedMemberNameCostsNoMoreThanAPlainOne(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation measurement; run without -race (see the README's test command)")
	}
	f := newFixture(t, grpcauthtest.Config{}, nil)
	ready(t, f.v)
	ctx := context.Background()
	h := b64raw(`{"alg":"RS256","kid":"` + f.iss.KeyID() + `"}`)
	pad := strings.Repeat(" ", 32800) // past a size class, as the worst case is
	padString := `"` + strings.Repeat("p", 32800) + `"`
	for _, tc := range []struct {
		name, escaped, plain string // the token's header and payload, each with an escaped and a plain name
		want                 error
	}{
		{"syntax error after an escaped name", `{"\n":x` + pad, `{"n":x` + pad, ErrMalformed},
		{"syntax error after a nested escaped name", `{"a":{"\n":x` + pad, `{"a":{"n":x` + pad, ErrMalformed},
		{"escaped iss of the wrong type", `{"\u0069ss":1,"x":` + padString + `}`, `{"iss":1,"x":` + padString + `}`, ErrMalformed},
		{"escaped aud of the wrong type", `{"\u0061ud":1,"x":` + padString + `}`, `{"aud":1,"x":` + padString + `}`, ErrMalformed},
		{"escaped kid in the header, escaped value over 1 KiB", `{"alg":"RS256","\u006bid":"\u0061` + strings.Repeat("k", 1100) + `","x":` + padString + `}`,
			`{"alg":"RS256","kid":"\u0061` + strings.Repeat("k", 1100) + `","x":` + padString + `}`, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := func(text string) string {
				if strings.HasPrefix(text, `{"alg"`) {
					return b64raw(text) + "." + b64raw(`{"iss":"x"}`) + ".c2ln"
				}
				return h + "." + b64raw(text) + ".c2ln"
			}
			cost := func(tok string) uint64 {
				var err error
				n := alloctest.Bytes(5, func() { _, err = f.v.VerifyAccessToken(ctx, tok) })
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return n
			}
			escaped, plain := cost(token(tc.escaped)), cost(token(tc.plain))
			t.Logf("escaped name: %d B allocated; plain name: %d B", escaped, plain)
			if escaped > plain+1<<10 {
				t.Fatalf("rejecting the token with an escaped name allocated %d bytes, with a plain one %d", escaped, plain)
			}
		})
	}
}

// FuzzRejectionCost checks the rejection-cost bound on arbitrary input:
// whatever VerifyAccessToken rejects, it rejects allocating at most twice
// the token's length plus rejectionAllowance.
func FuzzRejectionCost(f *testing.F) {
	fx := newFixture(f, grpcauthtest.Config{}, nil)
	if err := fx.v.Ready(context.Background()); err != nil {
		f.Fatal(err)
	}
	for _, r := range rejectionShapes(f, fx) {
		if len(r.token) < 4096 { // keep the seeds small; the test above has the big ones
			f.Add(r.token)
		}
	}
	for _, s := range fuzzSeeds(f, fx) {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		var err error
		n := alloctest.Bytes(3, func() { _, err = fx.v.VerifyAccessToken(ctx, token) })
		if err == nil || raceEnabled { // the race detector changes allocation, and drops sync.Pool items on purpose
			return
		}
		if limit := 2*uint64(len(token)) + rejectionAllowance; n > limit {
			t.Fatalf("rejecting a %d-byte token (%v) allocated %d bytes, over %d", len(token), err, n, limit)
		}
	})
}

// BenchmarkReject_WorstShapes times the rejection of each worst shape and
// reports bytes allocated per token byte (B/token-byte), next to the
// cheapest real rejection's cost, for the ratio.
func BenchmarkReject_WorstShapes(b *testing.B) {
	f := benchFixture(b, "RS256", nil)
	ctx := context.Background()
	for _, r := range rejectionShapes(b, f) {
		b.Run(strings.ReplaceAll(r.name, " ", "-"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(r.token)))
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			for b.Loop() {
				if _, err := f.v.VerifyAccessToken(ctx, r.token); err == nil {
					b.Fatal("accepted")
				}
			}
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.TotalAlloc-before)/float64(b.N)/float64(len(r.token)), "B/token-byte")
		})
	}
}
