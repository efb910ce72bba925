package verifier

import (
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// TestCache_HitClockReadingDoesNotOutliveItsSynctestBubble runs two
// testing/synctest bubbles one after the other, each with a Verifier on the
// default clock: inside a bubble time.Now is the bubble's fake clock, which
// starts at midnight 2000-01-01 and stops when the bubble ends, and so do
// the timers started in it. The first bubble's hit takes a hit-clock
// reading whose timer never fires; the second bubble's Verifier must still
// refuse a token that expired by its own clock.
func TestCache_HitClockReadingDoesNotOutliveItsSynctestBubble(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	bubble := func(f func(t *testing.T, v *Verifier)) {
		synctest.Test(t, func(t *testing.T) {
			// No keep-alive: a goroutine blocked reading an idle
			// connection would stop the bubble's clock.
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			v, err := New(t.Context(), Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}, JWKSURL: iss.JWKSURL(), HTTPClient: client})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			f(t, v)
		})
	}
	verify := func(t *testing.T, v *Verifier, tok string) error {
		t.Helper()
		_, err := v.VerifyAccessToken(t.Context(), tok)
		return err
	}

	bubble(func(t *testing.T, v *Verifier) {
		tok, err := iss.Mint(nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // a miss, then a hit: it takes a reading
			if err := verify(t, v, tok); err != nil {
				t.Fatal(err)
			}
		}
	})

	bubble(func(t *testing.T, v *Verifier) {
		tok, err := iss.Mint(map[string]any{"exp": time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(t, v, tok); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute + DefaultClockSkew)
		if err := verify(t, v, tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("hit on a token expired by the bubble's clock = %v, want ErrExpired", err)
		}
		if st := v.Stats(); st.CacheHits != 1 {
			t.Fatalf("CacheHits = %d, want 1 (the expired token's lookup)", st.CacheHits)
		}
	})
}
