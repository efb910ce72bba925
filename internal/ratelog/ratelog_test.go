package ratelog_test

import (
	"sync"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/internal/ratelog"
)

// TestWindow_LetsOneEventThroughAPeriodAndCountsTheOthers: the first event
// is let through, the others within the period are counted, and the first
// a period after the last let through says how many were.
func TestWindow_LetsOneEventThroughAPeriodAndCountsTheOthers(t *testing.T) {
	var w ratelog.Window
	t0 := time.Unix(1_800_000_000, 0)
	if ok, n := w.Allow(t0, time.Minute); !ok || n != 0 {
		t.Fatalf("first Allow = %v, %d; want true, 0", ok, n)
	}
	for i := range 5 {
		if ok, _ := w.Allow(t0.Add(time.Duration(i)*time.Second), time.Minute); ok {
			t.Fatalf("event %d within the minute let through", i)
		}
	}
	if ok, _ := w.Allow(t0.Add(time.Minute-time.Nanosecond), time.Minute); ok {
		t.Fatal("event just under a minute after the last let through")
	}
	if ok, n := w.Allow(t0.Add(time.Minute), time.Minute); !ok || n != 6 {
		t.Fatalf("Allow a minute on = %v, %d; want true, 6", ok, n)
	}
	if ok, n := w.Allow(t0.Add(2*time.Minute), time.Minute); !ok || n != 0 {
		t.Fatalf("Allow a minute later again = %v, %d; want true, 0 (the count started again)", ok, n)
	}
}

// TestWindow_SecondEventAtTheZeroTimeIsCounted: an injected clock may read
// the zero time; the first event there starts the period as any other.
func TestWindow_SecondEventAtTheZeroTimeIsCounted(t *testing.T) {
	var w ratelog.Window
	if ok, _ := w.Allow(time.Time{}, time.Minute); !ok {
		t.Fatal("first event at the zero time refused")
	}
	if ok, _ := w.Allow(time.Time{}, time.Minute); ok {
		t.Fatal("second event at the zero time let through")
	}
}

// TestWindow_ClockSetBackLetsTheNextEventThrough: a clock set back does
// not silence the site until it catches up.
func TestWindow_ClockSetBackLetsTheNextEventThrough(t *testing.T) {
	var w ratelog.Window
	t0 := time.Unix(1_800_000_000, 0)
	w.Allow(t0, time.Minute)
	w.Allow(t0, time.Minute)
	if ok, n := w.Allow(t0.Add(-time.Hour), time.Minute); !ok || n != 1 {
		t.Fatalf("Allow an hour back = %v, %d; want true, 1", ok, n)
	}
}

// TestWindow_TakeReportsTheCountOnceWithoutMovingThePeriod: Take returns
// the events refused so far and starts the count again; the period still
// runs from the last event let through.
func TestWindow_TakeReportsTheCountOnceWithoutMovingThePeriod(t *testing.T) {
	var w ratelog.Window
	t0 := time.Unix(1_800_000_000, 0)
	w.Allow(t0, time.Minute)
	w.Allow(t0, time.Minute)
	w.Allow(t0, time.Minute)
	if n := w.Take(); n != 2 {
		t.Fatalf("Take = %d, want 2", n)
	}
	if ok, _ := w.Allow(t0.Add(time.Second), time.Minute); ok {
		t.Fatal("Take let the next event within the minute through")
	}
	if ok, n := w.Allow(t0.Add(time.Minute), time.Minute); !ok || n != 1 {
		t.Fatalf("Allow a minute on = %v, %d; want true, 1 (only the event after Take)", ok, n)
	}
}

// TestWindow_ConcurrentEventsLetOneThroughAndCountTheRest: of many events
// at once, one is let through and the next record counts all the others.
func TestWindow_ConcurrentEventsLetOneThroughAndCountTheRest(t *testing.T) {
	var w ratelog.Window
	t0 := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	through := 0
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if ok, _ := w.Allow(t0, time.Minute); ok {
				mu.Lock()
				through++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if through != 1 {
		t.Fatalf("%d of 64 concurrent events let through, want 1", through)
	}
	if ok, n := w.Allow(t0.Add(time.Minute), time.Minute); !ok || n != 63 {
		t.Fatalf("Allow a minute on = %v, %d; want true, 63", ok, n)
	}
}

// TestWindow_RefusedEventReportsNoCount: a refused event says 0, not the
// count so far, so that a caller that reads suppressed whatever ok says
// does not log a count before the record that owns it.
func TestWindow_RefusedEventReportsNoCount(t *testing.T) {
	var w ratelog.Window
	t0 := time.Unix(1_800_000_000, 0)
	w.Allow(t0, time.Minute)
	w.Allow(t0, time.Minute)
	if ok, n := w.Allow(t0.Add(time.Second), time.Minute); ok || n != 0 {
		t.Fatalf("refused Allow = %v, %d; want false, 0", ok, n)
	}
}
