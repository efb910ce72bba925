package verifier

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
)

// manualClock is a coarseClock over a test clock whose timers fire only
// when the test says so.
type manualClock struct {
	coarseClock
	mu     sync.Mutex
	reads  int
	timers []func()
}

func newManualClock(read func() time.Time) *manualClock {
	m := &manualClock{}
	m.read = func() time.Time {
		m.mu.Lock()
		m.reads++
		m.mu.Unlock()
		return read()
	}
	m.after = func(d time.Duration, f func()) {
		if d != hitClockResolution {
			panic("timer for " + d.String())
		}
		m.mu.Lock()
		m.timers = append(m.timers, f)
		m.mu.Unlock()
	}
	return m
}

// fire runs the pending timers, as hitClockResolution passing would.
func (m *manualClock) fire() {
	m.mu.Lock()
	timers := m.timers
	m.timers = nil
	m.mu.Unlock()
	for _, f := range timers {
		f()
	}
}

func (m *manualClock) counts() (reads, timers int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads, len(m.timers)
}

func TestCoarseClock_ConcurrentCallsShareOneReadingUntilItsTimerFires(t *testing.T) {
	clk := newClock()
	m := newManualClock(clk.Now)
	want := clk.Now().UnixNano()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if got := m.Now().ns; got != want {
				t.Errorf("reading = %d, want %d", got, want)
			}
		})
	}
	wg.Wait()
	clk.Advance(time.Hour) // the reading is kept until its timer fires
	if got := m.Now().ns; got != want {
		t.Fatalf("reading before the timer fired = %d, want the first reading %d", got, want)
	}
	// Concurrent first calls may each read the source; one stores its
	// reading and starts the one timer.
	if reads, timers := m.counts(); reads < 1 || reads > 50 || timers != 1 {
		t.Fatalf("%d reads and %d timers, want at least one read and exactly one timer", reads, timers)
	}

	m.fire()
	reads, _ := m.counts()
	if got := m.Now().ns; got != clk.Now().UnixNano() {
		t.Fatalf("reading after the timer fired = %d, want a new reading %d", got, clk.Now().UnixNano())
	}
	if r, timers := m.counts(); r != reads+1 || timers != 1 {
		t.Fatalf("after the timer: %d more reads and %d timers, want 1 and 1", r-reads, timers)
	}
}

func TestCoarseClock_RealTimerEndsAReading(t *testing.T) {
	var mu sync.Mutex
	next := time.Unix(1_800_000_000, 0)
	fired := make(chan struct{}, 2)
	c := &coarseClock{
		read: func() time.Time { mu.Lock(); defer mu.Unlock(); return next },
		after: func(d time.Duration, f func()) {
			time.AfterFunc(d, func() { f(); fired <- struct{}{} })
		},
	}
	first := c.Now().ns
	mu.Lock()
	next = next.Add(time.Minute)
	mu.Unlock()
	<-fired
	if got := c.Now().ns; got != first+int64(time.Minute) {
		t.Fatalf("reading after the timer fired = %d, want %d", got, first+int64(time.Minute))
	}
	<-fired // the second reading's timer: nothing left running
}

func TestNew_HitClockOnlyWithTheRealClockAndASkewOfASecond(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   bool
	}{
		{"default: time.Now, one minute of skew", func(c *Config) { c.Now = nil }, true},
		{"Config.Now set", nil, false},
		{"no tolerance", func(c *Config) { c.Now, c.ClockSkew = nil, -1 }, false},
		{"1 ns of skew", func(c *Config) { c.Now, c.ClockSkew = nil, time.Nanosecond }, false},
		{"5 ms of skew", func(c *Config) { c.Now, c.ClockSkew = nil, 5*time.Millisecond }, false},
		{"just under hitClockMinSkew", func(c *Config) { c.Now, c.ClockSkew = nil, hitClockMinSkew-1 }, false},
		{"hitClockMinSkew", func(c *Config) { c.Now, c.ClockSkew = nil, hitClockMinSkew }, true},
		{"cache disabled", func(c *Config) { c.Now, c.Cache.Disabled = nil, true }, false},
	} {
		if got := f.verifierWith(t, func(c *Config) {
			if tc.mutate != nil {
				tc.mutate(c)
			}
		}).clock; (got != nil) != tc.want {
			t.Errorf("%s: hit clock = %p, want one: %v", tc.name, got, tc.want)
		}
	}
	// Each Verifier reads its own hit clock: see
	// TestCache_HitClockReadingDoesNotOutliveItsSynctestBubble.
	realClock := func(c *Config) { c.Now = nil }
	if a, b := f.verifierWith(t, realClock).clock, f.verifierWith(t, realClock).clock; a == b {
		t.Errorf("two Verifiers share the hit clock %p", a)
	}
}

// hitClockFixture is a fixture whose verifier's cache hits read a manual
// coarse clock over the fixture's clock, while everything else reads the
// fixture's clock directly.
func hitClockFixture(t *testing.T) (*fixture, *manualClock) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	m := newManualClock(f.clk.Now)
	f.v.clock = &m.coarseClock
	return f, m
}

func TestCache_HitClockServesAnExpiredTokenOnlyUntilItsReadingEnds(t *testing.T) {
	f, m := hitClockFixture(t)
	tok := f.mint(t, map[string]any{"exp": f.clk.Now().Add(time.Minute)})
	if _, err := f.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(t, tok); err != nil { // a hit: takes a reading
		t.Fatal(err)
	}
	f.clk.Advance(time.Minute + DefaultClockSkew) // expired by Now
	if _, err := f.verify(t, tok); err != nil {
		t.Fatalf("hit within the reading's life = %v, want served (the reading is at most %v old)", err, hitClockResolution)
	}
	m.fire()
	if _, err := f.verify(t, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("hit after the reading ended = %v, want ErrExpired", err)
	}
}

// TestCache_HitClockReadingOlderThanTheEntryIsNotTrusted: a reading
// taken before a token was verified, as a suspended process or a synctest
// bubble whose timer never fires keeps one, never serves the token's
// entry: the hit is checked against Now, which finds it expired.
func TestCache_HitClockReadingOlderThanTheEntryIsNotTrusted(t *testing.T) {
	f, m := hitClockFixture(t)
	m.Now() // a reading whose timer does not fire
	f.clk.Advance(time.Hour)
	tok := f.mint(t, map[string]any{"iat": nil, "nbf": nil, "exp": f.clk.Now().Add(time.Minute)})
	if _, err := f.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Minute + DefaultClockSkew) // expired by Now
	if _, err := f.verify(t, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("hit read from a reading older than the entry = %v, want ErrExpired", err)
	}
	if reads, _ := m.counts(); reads != 1 {
		t.Fatalf("hit clock read %d times, want once (the stale reading kept)", reads)
	}
}

func TestCache_HitClockNeverRefusesWhatNowAccepts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		claims  map[string]any
		reading time.Duration // the hit clock's reading, from the verification
	}{
		{"reading past exp", map[string]any{"exp": time.Unix(1_800_000_000, 0).Add(time.Minute)}, time.Hour},
		{"reading before nbf", map[string]any{"nbf": time.Unix(1_800_000_000, 0)}, -time.Hour},
		{"reading before iat", map[string]any{"iat": time.Unix(1_800_000_000, 0)}, -time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, m := hitClockFixture(t)
			tok := f.mint(t, tc.claims)
			if _, err := f.verify(t, tok); err != nil {
				t.Fatal(err)
			}
			f.clk.Advance(tc.reading)
			m.Now() // the hit clock's reading
			f.clk.Advance(-tc.reading)
			for range 2 {
				if _, err := f.verify(t, tok); err != nil {
					t.Fatalf("hit = %v, want served: Now says the token is valid", err)
				}
			}
			if n, _ := cacheStats(f.v); n != 1 {
				t.Fatalf("%d entries, want the token's kept", n)
			}
			if st := f.v.Stats(); st.CacheHits != 2 || st.CacheMisses != 1 {
				t.Fatalf("CacheHits, CacheMisses = %d, %d; want 2, 1", st.CacheHits, st.CacheMisses)
			}
		})
	}
}

func TestCache_HitClockDoesNotServeATokenWhoseKeyLeftTheSet(t *testing.T) {
	f, _ := hitClockFixture(t)
	tok := f.mint(t, nil)
	if _, err := f.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(t, tok); err != nil { // a hit: takes a reading
		t.Fatal(err)
	}
	f.withdrawKey(t)
	if _, err := f.verify(t, tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("hit within the reading's life, key withdrawn: %v, want ErrUnknownKey", err)
	}
}

func TestUnixNano_ClampsToTheInt64Range(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(1_800_000_000, 5), 1_800_000_000_000_000_005},
		{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), math.MaxInt64},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), math.MinInt64},
		{time.Unix(0, math.MaxInt64), math.MaxInt64},
	} {
		if got := unixNano(tc.t); got != tc.want {
			t.Errorf("unixNano(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

// A hit's reading carries the time since the epoch the key set measures
// its age from (jwks.Elapsed), taken from the same time.Now reading as its
// Unix nanoseconds.
func TestHitClock_ReadingIsOneReadingOfTimeNow(t *testing.T) {
	before, wallBefore := time.Now(), time.Now().UnixNano()
	r := newHitClock().Now()
	after := time.Now()
	if r.at < jwks.Elapsed(before) || r.at > jwks.Elapsed(after) {
		t.Fatalf("reading's at = %v, want within [%v, %v]", r.at, jwks.Elapsed(before), jwks.Elapsed(after))
	}
	if r.ns < wallBefore || r.ns > after.UnixNano() {
		t.Fatalf("reading's ns = %d, want within [%d, %d]", r.ns, wallBefore, after.UnixNano())
	}
}
