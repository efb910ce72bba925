package introspect_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
)

// record is one log record a capture kept: its level, message and the
// attributes it carried, by key.
type record struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

// capture is a slog.Handler that keeps the records at info level and above.
type capture struct {
	mu   sync.Mutex
	recs []record
}

func (*capture) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	rec := record{level: r.Level, msg: r.Message, attrs: map[string]slog.Value{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value
		return true
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, rec)
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

// take returns the records kept since the last take.
func (c *capture) take() []record {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs := c.recs
	c.recs = nil
	return recs
}

// suppressed returns r's "suppressed" attribute, and whether it has one.
func (r record) suppressed() (int64, bool) {
	v, ok := r.attrs["suppressed"]
	if !ok {
		return 0, false
	}
	return v.Int64(), true
}

// switchable is an introspection endpoint that fails as fail says, or,
// when fail is nil, answers every token inactive.
type switchable struct {
	fail atomic.Pointer[func(http.ResponseWriter)]
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f := s.fail.Load(); f != nil {
		(*f)(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"active":false}`)
}

func (s *switchable) failWith(f func(http.ResponseWriter)) { s.fail.Store(&f) }
func (s *switchable) recover()                             { s.fail.Store(nil) }

// status500 answers 500, a failure logged at warn level.
func status500(w http.ResponseWriter) { http.Error(w, "down", http.StatusInternalServerError) }

// forbidden403 answers 403 without invalid_client (a proxy's refusal,
// which a token may provoke), a failure logged at error level that pauses
// nothing.
func forbidden403(w http.ResponseWriter) { http.Error(w, "blocked", http.StatusForbidden) }

// failingVerifier returns a Verifier for an endpoint served by h, on clk,
// logging to a capture.
func failingVerifier(t *testing.T, h http.Handler, clk *clock, mutate func(*introspect.Config)) (*introspect.Verifier, *capture) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	logs := &capture{}
	cfg := introspect.Config{
		Endpoint: srv.URL, Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, Now: clk.Now, Logger: slog.New(logs),
		HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return newVerifier(t, cfg), logs
}

// flood verifies n made-up tokens, each new, so that each costs a request,
// and wants each refused with ErrUnavailable.
func flood(t *testing.T, v *introspect.Verifier, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := v.VerifyAccessToken(context.Background(), fmt.Sprintf("%s-%d", prefix, i)); !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("made-up token %d: %v, want ErrUnavailable", i, err)
		}
	}
}

// failedAt returns the "introspection failed" records among recs, and
// wants them all at level.
func failedAt(t *testing.T, recs []record, level slog.Level) []record {
	t.Helper()
	var failed []record
	for _, r := range recs {
		if r.msg != "introspect: introspection failed" {
			continue
		}
		if r.level != level {
			t.Fatalf("failure logged at %v, want %v: %+v", r.level, level, r)
		}
		failed = append(failed, r)
	}
	return failed
}

// oneFailure wants logs to have kept, since the last take, one
// "introspection failed" record, at level, whose suppressed attribute is
// suppressed, or which has none when suppressed is 0 (as before this
// bound, the first failure's record is unchanged).
func oneFailure(t *testing.T, logs *capture, level slog.Level, suppressed int64, when string) {
	t.Helper()
	recs := failedAt(t, logs.take(), level)
	if len(recs) != 1 {
		t.Fatalf("%d %v records %s, want 1", len(recs), level, when)
	}
	s, ok := recs[0].suppressed()
	if ok != (suppressed > 0) || s != suppressed {
		t.Fatalf("the %v record %s says suppressed=%d (present: %v), want %d", level, when, s, ok, suppressed)
	}
}

// A flood of made-up tokens while the endpoint fails, each one a request
// that fails, logs one record a minute, whatever the failure, and says in
// the next how many it did not log; Stats counts every one.
func TestVerify_FloodOfFailingRequestsLogsOneWarningAMinute(t *testing.T) {
	const n = 50
	huge := strings.Repeat("x", 2048)
	for _, tc := range []struct {
		name   string
		fail   func(http.ResponseWriter)
		mutate func(*introspect.Config)
	}{
		{"status 500", status500, nil},
		{"not JSON", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>proxy error</html>")
		}, nil},
		{"malformed", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `[]`)
		}, nil},
		{"larger than MaxResponseSize", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"active":false,"x":%q}`, huge)
		}, func(c *introspect.Config) { c.MaxResponseSize = 1024 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			h := &switchable{}
			h.failWith(tc.fail)
			v, logs := failingVerifier(t, h, clk, tc.mutate)
			flood(t, v, "first", n)
			clk.Advance(time.Minute - time.Nanosecond)
			flood(t, v, "late", 1)
			oneFailure(t, logs, slog.LevelWarn, 0, fmt.Sprintf("for %d failures within a minute", n+1))
			clk.Advance(time.Nanosecond)
			flood(t, v, "next", 1)
			oneFailure(t, logs, slog.LevelWarn, n, "for the first failure a minute on")
			if got := v.Stats().Failures; got != n+2 {
				t.Fatalf("Stats.Failures = %d, want %d", got, n+2)
			}
		})
	}
}

// refusedEndpoint sets c's Endpoint to a loopback address where nothing
// listens: every request is refused by the network.
func refusedEndpoint(t *testing.T) func(*introspect.Config) {
	return func(c *introspect.Config) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.Endpoint = "http://" + ln.Addr().String()
		ln.Close() // nothing listens there now
	}
}

// TestVerify_UnreachableEndpointLogsOneWarningAMinuteWhileBackingOff: a
// flood of made-up tokens while the endpoint refuses connections sends
// two requests (the first failure is forgiven: see
// TestVerify_NetworkFailuresBackOffFromTheSecondBurst) and then backs
// off, so the next ones are sent at 1, 3, 7, 15 and 31 s, and the one at
// 63 s, past the minute, logs the next record, saying the 6 not logged.
// (It was a row of TestVerify_FloodOfFailingRequestsLogsOneWarningAMinute,
// each of whose failures was a request, until network failures backed off.)
func TestVerify_UnreachableEndpointLogsOneWarningAMinuteWhileBackingOff(t *testing.T) {
	const n = 50
	clk := newClock()
	v, logs := failingVerifier(t, &switchable{}, clk, refusedEndpoint(t))
	flood(t, v, "first", n)
	oneFailure(t, logs, slog.LevelWarn, 0, "for the first flood")
	if st := v.Stats(); st.Failures != 2 || st.RateLimited != n-2 {
		t.Fatalf("Failures %d, RateLimited %d, want 2 and %d", st.Failures, st.RateLimited, n-2)
	}
	for i, d := range []time.Duration{1, 2, 4, 8, 16} {
		clk.Advance(d * time.Second)
		flood(t, v, fmt.Sprint("step-", i), 1)
	}
	if recs := failedAt(t, logs.take(), slog.LevelWarn); len(recs) != 0 {
		t.Fatalf("%d records within the minute, want none", len(recs))
	}
	clk.Advance(32 * time.Second)
	flood(t, v, "past-the-minute", 1)
	oneFailure(t, logs, slog.LevelWarn, 6, "past the minute")
	if st := v.Stats(); st.Failures != 8 {
		t.Fatalf("Failures %d, want 8: every request sent failed", st.Failures)
	}
}

// A 403 without invalid_client, which a token may provoke, is logged at
// error level one a minute too; the warnings of an outage have their own
// minute, so they do not hold back the error that calls for a different
// fix (this service's credentials, or what refuses its requests).
func TestVerify_FloodOfRefusedRequestsLogsOneErrorAMinuteBesideTheWarnings(t *testing.T) {
	const n = 30
	clk := newClock()
	h := &switchable{}
	h.failWith(status500)
	v, logs := failingVerifier(t, h, clk, nil)
	flood(t, v, "outage", n)
	h.failWith(forbidden403)
	flood(t, v, "refused", n)
	recs := logs.take()
	if len(recs) != 2 {
		t.Fatalf("%d records for %d failures of two kinds within a minute, want a warning and an error", len(recs), 2*n)
	}
	if len(failedAt(t, recs[:1], slog.LevelWarn)) != 1 || len(failedAt(t, recs[1:], slog.LevelError)) != 1 {
		t.Fatalf("records %+v, want the outage's warning, then the refusal's error", recs)
	}
	clk.Advance(time.Minute)
	flood(t, v, "refused-later", 1)
	oneFailure(t, logs, slog.LevelError, n-1, "for the first refusal a minute on")
}

// answerInactive verifies n made-up tokens, each new, and wants each answered
// inactive.
func answerInactive(t *testing.T, v *introspect.Verifier, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := v.VerifyAccessToken(context.Background(), fmt.Sprintf("%s-%d", prefix, i)); err != introspect.ErrInactive {
			t.Fatalf("made-up token %d: %v, want ErrInactive", i, err)
		}
	}
}

// Once the endpoint answers again, one info record says so, with the
// failures not logged since the last warning, which no later warning would
// say; answers before any failure, and further answers, log nothing, and
// a failure within the same minute is still counted, not logged.
func TestVerify_RecoveryAfterAFloodOfFailuresIsLoggedOnceWithTheSuppressedCount(t *testing.T) {
	const n = 20
	clk := newClock()
	h := &switchable{}
	v, logs := failingVerifier(t, h, clk, nil)
	answerInactive(t, v, "before", 3)
	if recs := logs.take(); len(recs) != 0 {
		t.Fatalf("records for answers before any failure: %+v, want none", recs)
	}
	h.failWith(status500)
	flood(t, v, "outage", n)
	logs.take()
	h.recover()
	answerInactive(t, v, "back", 5)
	recs := logs.take()
	if len(recs) != 1 || recs[0].level != slog.LevelInfo || recs[0].msg != "introspect: introspection recovered" {
		t.Fatalf("records once the endpoint answers again: %+v, want one info record, introspection recovered", recs)
	}
	if s, ok := recs[0].suppressed(); !ok || s != n-1 {
		t.Fatalf("the recovery says suppressed=%d (%v), want %d", s, ok, n-1)
	}
	h.failWith(status500)
	flood(t, v, "again", 3)
	if recs := logs.take(); len(recs) != 0 {
		t.Fatalf("records for failures in the minute of the last warning: %+v, want none", recs)
	}
	clk.Advance(time.Minute)
	flood(t, v, "a-minute-on", 1)
	oneFailure(t, logs, slog.LevelWarn, 3, "a minute on (suppressed: those after the recovery only)")
}

// failedAndRecovered makes one request fail, then one answered, and wants
// the warning and the recovery logged.
func failedAndRecovered(t *testing.T, v *introspect.Verifier, h *switchable, logs *capture) {
	t.Helper()
	h.failWith(status500)
	flood(t, v, "outage", 1)
	h.recover()
	answerInactive(t, v, "back", 1)
	if recs := logs.take(); len(recs) != 2 || recs[1].msg != "introspect: introspection recovered" {
		t.Fatalf("records of a failure and an answer: %+v, want the warning and the recovery", recs)
	}
}

// Failures counted, not logged, after a recovery was logged (a second
// outage, or a blip, in the minute of the last warning) are said by the
// next recovery record, at most one a minute: before, a recovery followed
// only a logged failure, so these were never said unless a later failure
// was logged, and the second outage left no record at all.
func TestVerify_FailuresCountedAfterARecoveryAreSaidByALaterRecovery(t *testing.T) {
	clk := newClock()
	h := &switchable{}
	v, logs := failingVerifier(t, h, clk, nil)
	failedAndRecovered(t, v, h, logs)
	h.failWith(status500)
	flood(t, v, "blip", 3) // in the minute of the warning: counted
	h.recover()
	answerInactive(t, v, "back-again", 1) // in the minute of the recovery
	if recs := logs.take(); len(recs) != 0 {
		t.Fatalf("records within the minute: %+v, want none", recs)
	}
	clk.Advance(time.Minute)
	answerInactive(t, v, "a-minute-on", 2)
	recs := logs.take()
	if len(recs) != 1 || recs[0].level != slog.LevelInfo || recs[0].msg != "introspect: introspection recovered" {
		t.Fatalf("records for answers a minute on: %+v, want one recovery record", recs)
	}
	if s, _ := recs[0].suppressed(); s != 3 {
		t.Fatalf("the recovery says suppressed=%d, want 3 (the blip's failures)", s)
	}
}

// Answers and failures taking turns, as a caller can make them (a token
// that provokes a proxy's refusal, then made-up ones, which the server
// answers), log one failure and one recovery a minute, not one record each.
func TestVerify_AnswersAndFailuresTakingTurnsLogTwoRecordsAMinute(t *testing.T) {
	const n = 20
	clk := newClock()
	h := &switchable{}
	v, logs := failingVerifier(t, h, clk, nil)
	for i := range n {
		h.failWith(status500)
		flood(t, v, fmt.Sprint("fail-", i), 1)
		h.recover()
		answerInactive(t, v, fmt.Sprint("answer-", i), 1)
	}
	if recs := logs.take(); len(recs) != 2 {
		t.Fatalf("%d records for %d failures and answers taking turns within a minute, want 2: %+v", len(recs), n, recs)
	}
	clk.Advance(time.Minute)
	h.failWith(status500)
	flood(t, v, "fail-later", 1)
	h.recover()
	answerInactive(t, v, "answer-later", 1)
	recs := logs.take()
	if len(recs) != 2 {
		t.Fatalf("%d records a minute on, want the failure and the recovery: %+v", len(recs), recs)
	}
	var said int64
	for _, r := range recs {
		s, _ := r.suppressed()
		said += s
	}
	if said != n-1 {
		t.Fatalf("the records a minute on say suppressed=%d in all, want %d", said, n-1)
	}
}

// A 401 saying invalid_client (this service's credentials refused, which
// no token can make the server say) is logged at once though a 403 that a
// token provoked (a proxy's) was logged at error level just before: each
// has its own minute, so a caller who provokes such 403s cannot keep the
// credentials' error out of the log, saying only "suppressed".
func TestVerify_ProvokedRefusalsDoNotHoldBackTheCredentialsError(t *testing.T) {
	clk := newClock()
	h := &switchable{}
	v, logs := failingVerifier(t, h, clk, nil)
	h.failWith(forbidden403)
	flood(t, v, "provoking", 5)
	oneFailure(t, logs, slog.LevelError, 0, "for the provoked 403s")
	h.failWith(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
	})
	flood(t, v, "legitimate", 1)
	recs := failedAt(t, logs.take(), slog.LevelError)
	if len(recs) != 1 || !strings.Contains(recs[0].attrs["error"].String(), "invalid_client") {
		t.Fatalf("records for a 401 invalid_client after provoked 403s: %+v, want one error naming invalid_client", recs)
	}
}

// Concurrent failures and answers (failing tokens and answered ones sent
// at once by many callers) lose no failure: each is logged or counted in
// exactly one record's "suppressed", the last said by the recovery a
// minute on.
func TestVerify_ConcurrentFailuresAndAnswersAreEachLoggedOrCountedOnce(t *testing.T) {
	const callers, each = 8, 40
	clk := newClock()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.FormValue("token"), "f-") {
			status500(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"active":false}`)
	})
	v, logs := failingVerifier(t, h, clk, func(c *introspect.Config) { c.Cache.Disabled = true })
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				v.VerifyAccessToken(context.Background(), fmt.Sprintf("f-%d-%d", c, i))
				v.VerifyAccessToken(context.Background(), fmt.Sprintf("a-%d-%d", c, i))
			}
		})
	}
	wg.Wait()
	clk.Advance(time.Minute)
	answerInactive(t, v, "a-minute-on", 1)
	var said int64
	for _, r := range logs.take() {
		if r.msg == "introspect: introspection failed" {
			said++
		}
		s, _ := r.suppressed()
		said += s
	}
	if said != callers*each {
		t.Fatalf("the records log or count %d failures, want %d", said, callers*each)
	}
}

// failureKinds are the kinds of failed request the Verifier logs each in
// its own window, each with a way for the endpoint to cause it (for
// "oversized", MaxResponseSize is 1024) and its level.
var failureKinds = []struct {
	kind  string
	fail  func(http.ResponseWriter)
	level slog.Level
}{
	{"network", func(w http.ResponseWriter) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // no answer at all
		}
	}, slog.LevelWarn},
	{"server_error", status500, slog.LevelWarn},
	{"rate_limited", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTooManyRequests) }, slog.LevelWarn},
	{"refused", forbidden403, slog.LevelError},
	{"invalid_client", func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
	}, slog.LevelError},
	{"status", func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_request"}`)
	}, slog.LevelWarn},
	{"malformed", func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[]`)
	}, slog.LevelWarn},
	{"oversized", func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"active":false,"x":%q}`, strings.Repeat("x", 2048))
	}, slog.LevelWarn},
}

// oneFailureOfKind wants logs to have kept, since the last take, one
// "introspection failed" record, at level, saying kind, and suppressed
// as oneFailure does.
func oneFailureOfKind(t *testing.T, logs *capture, kind string, level slog.Level, suppressed int64, when string) {
	t.Helper()
	recs := failedAt(t, logs.take(), level)
	if len(recs) != 1 {
		t.Fatalf("%d %v records %s, want 1 (%s)", len(recs), level, when, kind)
	}
	if got := recs[0].attrs["kind"].String(); got != kind {
		t.Fatalf("the record %s says kind=%q, want %q: %+v", when, got, kind, recs[0])
	}
	s, ok := recs[0].suppressed()
	if ok != (suppressed > 0) || s != suppressed {
		t.Fatalf("the record %s says suppressed=%d (present: %v), want %d", when, s, ok, suppressed)
	}
}

// A trickle of failures of one kind, which a caller may keep up (made-up
// tokens a server answers 400, a proxy's 403s, its own flood's 429s),
// does not hold back the record of a failure of another kind for the
// rest of its minute: each kind has its own window and its own count of
// the failures not logged. Before, the failures logged at one level shared
// a window, so a trickle of 400s left an outage's 500s, or a rate limit's
// 429s, only a "suppressed" count a minute on.
func TestVerify_ATrickleOfOneFailureDoesNotHoldBackAnother(t *testing.T) {
	const trickle = 3
	for _, a := range failureKinds {
		for _, b := range failureKinds {
			if a.kind == b.kind {
				continue
			}
			t.Run(a.kind+" then "+b.kind, func(t *testing.T) {
				clk := newClock()
				h := &switchable{}
				v, logs := failingVerifier(t, h, clk, func(c *introspect.Config) { c.MaxResponseSize = 1024 })
				h.failWith(a.fail)
				for i := range trickle {
					flood(t, v, fmt.Sprint("trickle-", i), 1)
					// Past any pause the failure began (a 429's backoff,
					// an invalid_client's NegativeTTL), within the minute.
					clk.Advance(10 * time.Second)
				}
				oneFailureOfKind(t, logs, a.kind, a.level, 0, "for the trickle")
				h.failWith(b.fail)
				flood(t, v, "other", 1)
				oneFailureOfKind(t, logs, b.kind, b.level, 0, "for another kind within the trickle's minute")
				clk.Advance(time.Minute)
				h.failWith(a.fail)
				flood(t, v, "trickle-later", 1)
				oneFailureOfKind(t, logs, a.kind, a.level, trickle-1, "for the trickle's kind a minute on")
			})
		}
	}
}
