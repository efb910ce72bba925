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
		synctest.Test(t, func(t *testing.T) { f(t, newBubbleVerifier(t, iss, 0)) })
	}

	bubble(func(t *testing.T, v *Verifier) {
		tok, err := iss.Mint(nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // a miss, then a hit: it takes a reading
			if err := bubbleVerify(t, v, tok); err != nil {
				t.Fatal(err)
			}
		}
	})

	bubble(func(t *testing.T, v *Verifier) {
		tok, err := iss.Mint(map[string]any{"exp": time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if err := bubbleVerify(t, v, tok); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute + DefaultClockSkew)
		if err := bubbleVerify(t, v, tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("hit on a token expired by the bubble's clock = %v, want ErrExpired", err)
		}
		if st := v.Stats(); st.CacheHits != 1 {
			t.Fatalf("CacheHits = %d, want 1 (the expired token's lookup)", st.CacheHits)
		}
	})
}

// newBubbleVerifier returns a Verifier of iss's tokens on the default clock
// (inside a testing/synctest bubble, the bubble's), with ClockSkew skew,
// closed when the bubble's test ends.
func newBubbleVerifier(t *testing.T, iss *grpcauthtest.Issuer, skew time.Duration) *Verifier {
	t.Helper()
	// No keep-alive: a goroutine blocked reading an idle connection would
	// stop the bubble's clock.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	v, err := New(t.Context(), Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}, JWKSURL: iss.JWKSURL(), HTTPClient: client, ClockSkew: skew})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func bubbleVerify(t *testing.T, v *Verifier, tok string) error {
	t.Helper()
	_, err := v.VerifyAccessToken(t.Context(), tok)
	return err
}

// TestCache_HitWithASmallSkewRefusesATokenJustPastItsExp: with a ClockSkew
// below hitClockMinSkew a cache hit reads the clock itself, so a token is
// refused from its exp plus the skew on, also right after a hit that would
// have taken a hit-clock reading. With hitClockMinSkew the same hit is
// served by that reading, still current: the leniency the small skews must
// not get.
func TestCache_HitWithASmallSkewRefusesATokenJustPastItsExp(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	for _, tc := range []struct {
		skew   time.Duration
		served bool
	}{
		{time.Nanosecond, false},
		{5 * time.Millisecond, false},
		{hitClockMinSkew - time.Millisecond, false},
		{hitClockMinSkew, true},
	} {
		t.Run(tc.skew.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v := newBubbleVerifier(t, iss, tc.skew)
				// The bubble's clock starts at a whole second, as NumericDate is.
				tok, err := iss.Mint(map[string]any{"exp": time.Now().Add(time.Second)})
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second + tc.skew - time.Millisecond) // 1 ms before exp plus the skew
				// A miss, then a hit.
				for range 2 {
					if err := bubbleVerify(t, v, tok); err != nil {
						t.Fatalf("skew %v, 1 ms before exp plus the skew: %v", tc.skew, err)
					}
				}
				time.Sleep(2 * time.Millisecond) // 1 ms past exp plus the skew
				err = bubbleVerify(t, v, tok)
				switch {
				case tc.served && err != nil:
					t.Fatalf("skew %v, hit within the hit clock's reading = %v, want served", tc.skew, err)
				case !tc.served && !errors.Is(err, ErrExpired):
					t.Fatalf("skew %v, hit 1 ms past exp plus the skew = %v, want ErrExpired", tc.skew, err)
				}
				if st := v.Stats(); st.CacheHits != 2 {
					t.Fatalf("skew %v: CacheHits = %d, want 2", tc.skew, st.CacheHits)
				}
			})
		})
	}
}
