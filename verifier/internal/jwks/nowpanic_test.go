package jwks

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Config.Now panicking in the Set's own goroutines (the first fetch, the
// background refresher's waits), where no caller's recovery runs, no
// longer ends the process: the key set loads and is refreshed by the
// process's clock meanwhile, and the panic is logged at error level with
// its stack once a minute by that clock, the next record saying how many
// it left out.
func TestSet_ConfigNowPanickingInTheSetsGoroutinesIsLoggedOnceAMinute(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	logger, logs := capturingLogger()
	var wall atomic.Int64 // Unix seconds of the process's clock
	wall.Store(1_800_000_000)
	s, ft := startSet(t, Config{
		URL:     ts.URL + "/keys",
		Now:     func() time.Time { panic("clock bug 7f3a") },
		Logger:  logger,
		wallNow: func() time.Time { return time.Unix(wall.Load(), 0) },
	})
	ready(t, s) // the first fetch read Config.Now, more than once
	if k, err := s.Key(ctxT(t), "a"); err != nil || k == nil {
		t.Fatalf("key a after the first fetch: %v, %v", k, err)
	}
	records := func() []string {
		var rs []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "Config.Now panicked") {
				rs = append(rs, l)
			}
		}
		return rs
	}
	rs := records()
	if len(rs) != 1 || !strings.Contains(rs[0], "level=ERROR") || !strings.Contains(rs[0], "clock bug 7f3a") ||
		!strings.Contains(rs[0], "nowpanic_test.go") || !strings.Contains(rs[0], "suppressed=0") {
		t.Fatalf("records %q: want one error record with the panic and its stack", rs)
	}
	wait := ft.next(t)
	wait.fire(t) // the refresher reads Config.Now again, within the minute
	if n := len(records()); n != 1 {
		t.Fatalf("%d records within the minute, want 1", n)
	}
	wall.Add(60)
	wait.fire(t)
	if rs := records(); len(rs) != 2 || strings.Contains(rs[1], "suppressed=0") || !strings.Contains(rs[1], "nowpanic_test.go") {
		t.Fatalf("records %q: want a second a minute on, with its stack and the count left out", rs)
	}
}
