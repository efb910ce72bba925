package introspect_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// Config.Now panicking on a flight's own goroutine (read there as the
// answer comes back), where no caller's recovery runs (a server's
// recovery interceptor, grpcauth's on a stream's timer), no longer ends
// the process: the panic is recovered, the flight's caller is refused
// with ErrUnavailable (codes.Unavailable behind grpcauth; nothing is
// cached), and the panic is logged at error level with its stack at most
// once a minute per Verifier, by the process's clock (Config.Now is what
// panicked): the record of a second panic within the minute says the
// stack was omitted, one a minute on has it again. The Verifier goes on:
// once the clock is mended, the token is accepted.
func TestFlight_ConfigNowPanickingOnTheFlightsGoroutineRefusesItsCallerAsUnavailable(t *testing.T) {
	var armed, nowPanics atomic.Bool
	logs := &capture{}
	e := newEnv(t, func(c *introspect.Config) {
		c.Cache.Disabled = true // Config.Now is then read on the flight's goroutine only
		now := c.Now
		c.Now = func() time.Time {
			if nowPanics.Load() {
				panic("clock bug 7f3a")
			}
			return now()
		}
		base := c.HTTPClient.Transport
		c.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			nowPanics.Store(armed.Load()) // from the request on, on the flight's goroutine
			return base.RoundTrip(r)
		})}
		c.Logger = slog.New(logs)
	})
	wall := time.Unix(1_800_000_000, 0)
	introspect.SetWallNow(e.v, func() time.Time { return wall }) // read before the caller is answered
	tok, err := e.iss.MintOpaque("svc", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	const omitted = "omitted: a site logs one stack a minute"
	armed.Store(true)
	for i, want := range []struct {
		advance time.Duration
		stack   bool
	}{{0, true}, {time.Second, false}, {time.Minute, true}} {
		wall = wall.Add(want.advance)
		nowPanics.Store(false) // until the request is sent
		_, err := e.v.VerifyAccessToken(t.Context(), tok)
		if !errors.Is(err, introspect.ErrUnavailable) || !errors.Is(err, verifier.ErrKeysUnavailable) || !strings.Contains(err.Error(), "clock bug 7f3a") {
			t.Fatalf("call %d: VerifyAccessToken = %v, want ErrUnavailable with the panic", i, err)
		}
		recs := logs.take()
		if len(recs) != 1 || recs[0].level != slog.LevelError || !strings.Contains(recs[0].msg, "panic recovered") ||
			!strings.Contains(recs[0].attrs["panic"].String(), "clock bug 7f3a") {
			t.Fatalf("call %d: records %+v, want one error record of the panic", i, recs)
		}
		stack := recs[0].attrs["stack"].String()
		if got := strings.Contains(stack, "runpanic_test.go"); got != want.stack || (!want.stack && stack != omitted) {
			t.Errorf("call %d (%v on): stack %q; want it logged: %v", i, want.advance, stack, want.stack)
		}
	}
	armed.Store(false)
	nowPanics.Store(false)
	if _, err := e.v.VerifyAccessToken(t.Context(), tok); err != nil {
		t.Errorf("VerifyAccessToken once Config.Now no longer panics: %v", err)
	}
}
