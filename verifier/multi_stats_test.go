package verifier_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

func TestMultiStats_PerIssuerAndTotal(t *testing.T) {
	e := newMultiEnv(t)
	a, b := mintOn(t, e.a, nil), mintOn(t, e.b, nil)
	for _, tok := range []string{a, a, a, b} {
		if _, err := e.m.VerifyAccessToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	ms := e.m.Stats()
	if len(ms.Issuers) != 2 || ms.Issuers[0].Issuer != e.a.URL() || ms.Issuers[1].Issuer != e.b.URL() {
		t.Fatalf("Issuers = %+v, want A then B", ms.Issuers)
	}
	sa, sb := ms.Issuers[0], ms.Issuers[1]
	if sa.CacheHits != 2 || sa.CacheMisses != 1 || sb.CacheHits != 0 || sb.CacheMisses != 1 {
		t.Fatalf("per issuer: A %+v, B %+v; want A 2 hits 1 miss, B 0 hits 1 miss", sa, sb)
	}
	tot := ms.Total
	if tot.Issuer != "" || tot.CacheHits != 2 || tot.CacheMisses != 2 || tot.CacheEntries != 2 ||
		tot.CacheBytes != sa.CacheBytes+sb.CacheBytes || tot.KeyFetches != sa.KeyFetches+sb.KeyFetches ||
		tot.Keys != 2 || tot.KeyFetchFailures != 0 {
		t.Fatalf("Total = %+v, want the sums of %+v and %+v", tot, sa, sb)
	}
	if !tot.KeysFetched.Equal(e.clk.Now()) {
		t.Fatalf("Total.KeysFetched = %v, want %v", tot.KeysFetched, e.clk.Now())
	}
}

func TestMultiStats_TotalKeysFetchedIsZeroWhileAnIssuerHasNoKeys(t *testing.T) {
	clk := newClock()
	up := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/up", Now: clk.Now})
	down := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/down"})
	downURL := down.URL()
	down.Close()
	quiet := slog.New(slog.DiscardHandler)
	m, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: up.URL(), Audiences: []string{up.Audience()}, Now: clk.Now, Logger: quiet},
		verifier.Config{Issuer: downURL, Audiences: []string{up.Audience()}, Now: clk.Now, Logger: quiet},
	)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Verifier(up.URL()).Ready(ctx); err != nil {
		t.Fatal(err)
	}
	ms := m.Stats()
	if ms.Issuers[0].KeysFetched.IsZero() || !ms.Issuers[1].KeysFetched.IsZero() {
		t.Fatalf("per issuer KeysFetched: %v, %v; want set, zero", ms.Issuers[0].KeysFetched, ms.Issuers[1].KeysFetched)
	}
	if !ms.Total.KeysFetched.IsZero() || ms.Total.Keys != ms.Issuers[0].Keys {
		t.Fatalf("Total = %+v, want no KeysFetched and only the reachable issuer's keys", ms.Total)
	}
	// The slice is the caller's.
	ms.Issuers[0].Issuer = "changed"
	if m.Stats().Issuers[0].Issuer != up.URL() {
		t.Fatal("Stats shares its slice")
	}
}

// Total sums every counter and size of the issuers' Stats, the key-set
// ones included, and any added later.
func TestMultiStats_TotalSumsEveryCounter(t *testing.T) {
	e := newMultiEnv(t)
	forged := mintOn(t, e.a, nil, grpcauthtest.WithKidHeader("forged"))
	for range 2 { // a refresh that finds no such kid, then a refusal without one
		if _, err := e.m.VerifyAccessToken(context.Background(), forged); !errors.Is(err, verifier.ErrUnknownKey) {
			t.Fatalf("forged kid = %v, want ErrUnknownKey", err)
		}
	}
	if _, err := e.m.VerifyAccessToken(context.Background(), mintOn(t, e.b, nil)); err != nil {
		t.Fatal(err)
	}
	ms := e.m.Stats()
	sa, sb := ms.Issuers[0], ms.Issuers[1]
	if sa.Discoveries != 1 || sb.Discoveries != 1 || sa.KeyMissFetches != 1 || sa.KeyMissesLimited != 1 || sb.KeyMissFetches != 0 {
		t.Fatalf("per issuer: A %+v, B %+v; want one discovery each, and A one miss refresh and one refusal", sa, sb)
	}
	tot, a, b := reflect.ValueOf(ms.Total), reflect.ValueOf(sa), reflect.ValueOf(sb)
	for i := range tot.NumField() {
		name := tot.Type().Field(i).Name
		switch tot.Field(i).Kind() {
		case reflect.Int, reflect.Int64:
			if got, want := tot.Field(i).Int(), a.Field(i).Int()+b.Field(i).Int(); got != want {
				t.Errorf("Total.%s = %d, want %d", name, got, want)
			}
		}
	}
}

// A token whose iss is missing or names no configured issuer is refused
// before any issuer's Verifier sees it, so it shows in no issuer's Stats:
// it has a counter of its own. Tokens refused for their form do not count
// there (they count in MultiStats.Malformed).
func TestMultiStats_CountsTokensOfUnknownIssuers(t *testing.T) {
	e := newMultiEnv(t)
	hdr := `{"alg":"RS256","kid":"k"}`
	foreign := rawToken(hdr, `{"iss":"https://evil.example/oauth2/default","aud":"api://a"}`, "c2ln")
	for range 3 {
		if _, err := e.m.VerifyAccessToken(context.Background(), foreign); !errors.Is(err, verifier.ErrIssuer) {
			t.Fatalf("foreign access token = %v, want ErrIssuer", err)
		}
	}
	if _, err := e.m.VerifyIDToken(context.Background(), foreign, "client", ""); !errors.Is(err, verifier.ErrIssuer) {
		t.Fatalf("foreign ID token = %v, want ErrIssuer", err)
	}
	for _, tok := range []string{"", "not-a-jwt", rawToken(hdr, `{"aud":"api://a"}`, "c2ln")} {
		if _, err := e.m.VerifyAccessToken(context.Background(), tok); err == nil {
			t.Fatalf("%q verified", tok)
		}
	}
	ms := e.m.Stats()
	if ms.UnknownIssuerTokens != 5 || ms.Malformed != 2 {
		t.Errorf("UnknownIssuerTokens = %d, Malformed = %d; want 5 (three access tokens, one ID token, one without iss), 2",
			ms.UnknownIssuerTokens, ms.Malformed)
	}
	if ms.Total.CacheMisses != 0 || ms.Total.CacheHits != 0 {
		t.Errorf("Total = %+v, want no cache lookups: no token reached an issuer", ms.Total)
	}
}

// A token refused for its form is counted once, at the layer that refused
// it: the MultiVerifier when it could not read the token's iss
// (MultiStats.Malformed), the issuer's Verifier when the iss routed it
// there (its Stats.Malformed, summed in Total), as a Verifier used alone
// counts it.
func TestMultiStats_MalformedTokensAreCountedWhereRefused(t *testing.T) {
	e := newMultiEnv(t)
	ctx := context.Background()
	good := mintOn(t, e.a, nil)
	dot := strings.IndexByte(good, '.')
	routed := "e30" + good[dot:] // header {} (no alg), payload naming issuer A
	for _, tok := range []string{"", "not-a-jwt", "a.b.c", strings.Repeat("x", 70<<10), routed} {
		if _, err := e.m.VerifyAccessToken(ctx, tok); !errors.Is(err, verifier.ErrMalformed) {
			t.Fatalf("VerifyAccessToken(%.20q) = %v, want ErrMalformed", tok, err)
		}
	}
	if _, err := e.m.VerifyIDToken(ctx, "a.b.c", "client", ""); !errors.Is(err, verifier.ErrMalformed) {
		t.Fatalf("VerifyIDToken = %v, want ErrMalformed", err)
	}
	ms := e.m.Stats()
	if ms.Malformed != 5 || ms.Issuers[0].Malformed != 1 || ms.Issuers[1].Malformed != 0 || ms.Total.Malformed != 1 {
		t.Fatalf("Malformed: multi %d, A %d, B %d, Total %d; want 5, 1, 0, 1",
			ms.Malformed, ms.Issuers[0].Malformed, ms.Issuers[1].Malformed, ms.Total.Malformed)
	}
	if _, err := e.m.Verifier(e.a.URL()).VerifyAccessToken(ctx, "a.b.c"); !errors.Is(err, verifier.ErrMalformed) {
		t.Fatalf("alone: %v, want ErrMalformed", err)
	}
	if n := e.m.Verifier(e.a.URL()).Stats().Malformed; n != 2 {
		t.Fatalf("A's Stats.Malformed = %d after a malformed token given to it alone, want 2", n)
	}
}

// A Verifier's figures do not depend on whether it is used alone or inside
// a MultiVerifier: the same tokens give the same cache hits and misses, and
// each token a MultiVerifier refuses before routing is counted once, in
// MultiStats. A token refused for its form or its iss is no cache miss
// (the cache cannot answer it in either case), and one without iss is an
// unknown issuer's.
func TestMultiStats_IssuerFiguresAreTheSameAloneAndInsideAMultiVerifier(t *testing.T) {
	e := newMultiEnv(t)
	alone, err := verifier.New(context.Background(), verifier.Config{Issuer: e.a.URL(), Audiences: []string{"api://a"},
		Now: e.clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Close()
	ctx := context.Background()
	good := mintOn(t, e.a, nil)
	hdr := `{"alg":"RS256","kid":"k"}`
	tokens := []string{
		good, good, // a miss, then a hit
		"", "not-a-jwt", "a.b.c", // malformed before routing
		"e30" + good[strings.IndexByte(good, '.'):], // malformed once routed: header {} (no alg)
		rawToken(hdr, `{"aud":"api://a"}`, "c2ln"),  // no iss
		rawToken(hdr, `{"iss":"https://evil.example/oauth2/default","aud":"api://a"}`, "c2ln"),
	}
	for _, tok := range tokens {
		_, errAlone := alone.VerifyAccessToken(ctx, tok)
		_, errMulti := e.m.VerifyAccessToken(ctx, tok)
		if (errAlone == nil) != (errMulti == nil) {
			t.Fatalf("%.20q: alone %v, multi %v", tok, errAlone, errMulti)
		}
	}
	sa, ms := alone.Stats(), e.m.Stats()
	if sa.CacheHits != 1 || sa.CacheMisses != 1 {
		t.Errorf("alone: hits %d misses %d, want 1, 1", sa.CacheHits, sa.CacheMisses)
	}
	if si := ms.Issuers[0]; si.CacheHits != sa.CacheHits || si.CacheMisses != sa.CacheMisses {
		t.Errorf("inside the MultiVerifier: hits %d misses %d, want %d, %d as alone",
			si.CacheHits, si.CacheMisses, sa.CacheHits, sa.CacheMisses)
	}
	if sa.Malformed != 4 || ms.Issuers[0].Malformed+ms.Malformed != sa.Malformed {
		t.Errorf("Malformed: alone %d, inside %d + before routing %d; want 4 = 1 + 3",
			sa.Malformed, ms.Issuers[0].Malformed, ms.Malformed)
	}
	if ms.UnknownIssuerTokens != 2 {
		t.Errorf("UnknownIssuerTokens = %d, want 2 (no iss, and an iss not configured)", ms.UnknownIssuerTokens)
	}
}
