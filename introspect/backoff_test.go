package introspect_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// scripted is an endpoint's answer that tests change as they go: while
// answer is nil the issuer answers (a made-up token is inactive).
type scripted struct {
	answer atomic.Pointer[func(http.ResponseWriter)]
	probes atomic.Int64 // made-up tokens verified, each new
}

func (s *scripted) set(f func(http.ResponseWriter)) { s.answer.Store(&f) }
func (s *scripted) issuerAnswers()                  { s.answer.Store(nil) }

// serve answers w as set, or reports that it does not (the issuer does).
func (s *scripted) serve(w http.ResponseWriter) bool {
	f := s.answer.Load()
	if f == nil {
		return false
	}
	(*f)(w)
	return true
}

// bare answers status with neither a Retry-After nor an
// X-Rate-Limit-Reset.
func bare(status int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(status) }
}

// newBackoffEnv is newFrontedEnv whose endpoint answers as s says.
func newBackoffEnv(t *testing.T, mutate func(*introspect.Config)) (*env, *scripted) {
	t.Helper()
	s := &scripted{}
	return newFrontedEnv(t, mutate, s.serve), s
}

// probe verifies a new made-up token, and returns its error and whether
// its verification sent a request.
func probe(t *testing.T, e *env, s *scripted) (err error, sent bool) {
	t.Helper()
	before := e.v.Stats().Requests
	_, err = e.verify(t, fmt.Sprintf("made-up-%d", s.probes.Add(1)))
	return err, e.v.Stats().Requests != before
}

// refusedFirst verifies a made-up token, which the endpoint answers as s
// is set to, and wants it sent and ErrUnavailable.
func refusedFirst(t *testing.T, e *env, s *scripted) {
	t.Helper()
	if err, sent := probe(t, e, s); !sent || !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("the first refusal: %v (request sent: %v), want ErrUnavailable from a request", err, sent)
	}
}

// wantPause wants the last answer to have paused requests for exactly d:
// a made-up token verified a nanosecond before the pause ends fails at
// once with ErrUnavailable (verifier.ErrKeysUnavailable: codes.Unavailable
// behind grpcauth), without a request, and one verified as it ends is
// sent. It returns that request's error: the next answer's.
func wantPause(t *testing.T, e *env, s *scripted, d time.Duration, when string) error {
	t.Helper()
	e.advance(d - time.Nanosecond)
	err, sent := probe(t, e, s)
	if sent || !errors.Is(err, introspect.ErrUnavailable) || !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("%s, a nanosecond before %v: %v (request sent: %v), want ErrUnavailable without a request", when, d, err, sent)
	}
	e.advance(time.Nanosecond)
	err, sent = probe(t, e, s)
	if !sent {
		t.Fatalf("%s, %v on: %v, no request sent, want the pause ended", when, d, err)
	}
	return err
}

// TestVerify_A429WithoutAWaitBacksOffDoublingUpToAMinute: a 429 or 503
// answer with neither a Retry-After nor an X-Rate-Limit-Reset pauses
// requests for a second, and each next one, from the request sent once
// the pause ended, for twice as long, up to a minute: 1, 2, 4, 8, 16, 32,
// 60, 60 s. (Jitter is off: see TestMain.) Before, such an answer paused
// nothing, and every next call asked the refusing server again.
func TestVerify_A429WithoutAWaitBacksOffDoublingUpToAMinute(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e, s := newBackoffEnv(t, nil)
			s.set(bare(status))
			refusedFirst(t, e, s)
			wantSchedule(t, e, s)
			if st := e.v.Stats(); st.Requests != 9 || st.RateLimited != 8 {
				t.Fatalf("Requests %d, RateLimited %d, want 9 and 8", st.Requests, st.RateLimited)
			}
		})
	}
}

// TestVerify_ConcurrentRefusalsInOneBurstAreOneBackoffStep: requests in
// flight together, all answered 429 without a wait (an overloaded server
// refusing a burst), take the backoff one step, not one each: the pause
// is a second, and the next refusal's two. Counted one each, four would
// have paused for 8 seconds.
func TestVerify_ConcurrentRefusalsInOneBurstAreOneBackoffStep(t *testing.T) {
	const n = 4
	arrived := make(chan struct{}, n)
	release := make(chan struct{})
	var held atomic.Bool
	held.Store(true)
	e, s := newBackoffEnv(t, nil)
	s.set(func(w http.ResponseWriter) {
		if held.Load() {
			arrived <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusTooManyRequests)
	})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := e.v.VerifyAccessToken(context.Background(), fmt.Sprintf("burst-%d", i))
			errs <- err
		})
	}
	for range n {
		<-arrived // every request is in flight before any is answered
	}
	held.Store(false)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("a request of the burst: %v, want ErrUnavailable", err)
		}
	}
	wantPause(t, e, s, time.Second, "after a burst of 4")
	wantPause(t, e, s, 2*time.Second, "after the next refusal")
}

// TestVerify_AnotherAnswerStartsTheBackoffAgain: three 429s without a wait
// in turn pause requests for 1, 2 and 4 seconds; then the server's own
// word on its state (an answer, a 401 saying invalid_client, a 429 whose
// Retry-After decides) makes the next 429 without a wait pause them for a
// second again, not 8. (Other statuses do not: see
// TestVerify_AStatusThatIsNotTheServersWordDoesNotStartTheBackoffAgain.)
func TestVerify_AnotherAnswerStartsTheBackoffAgain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		other func(http.ResponseWriter) // nil: the issuer answers
		pause time.Duration             // the pause other begins
	}{
		{"an answer", nil, 0},
		{"a 401 saying invalid_client", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
		}, introspect.DefaultNegativeCacheTTL},
		{"a 429 with a Retry-After", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusTooManyRequests)
		}, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, s := newBackoffEnv(t, nil)
			s.set(bare(http.StatusTooManyRequests))
			refusedFirst(t, e, s)
			wantPause(t, e, s, time.Second, "the first refusal")
			wantPause(t, e, s, 2*time.Second, "the second refusal")
			if tc.other == nil {
				s.issuerAnswers()
			} else {
				s.set(tc.other)
			}
			// The 4 s pause's end: the request sent is answered other.
			wantPause(t, e, s, 4*time.Second, "the third refusal")
			s.set(bare(http.StatusTooManyRequests))
			if tc.pause > 0 {
				wantPause(t, e, s, tc.pause, "the other answer")
			} else {
				refusedFirst(t, e, s)
			}
			wantPause(t, e, s, time.Second, "a refusal after "+tc.name)
		})
	}
}

// TestVerify_TwoQuietMinutesStartTheBackoffAgain: a 429 without a wait
// that comes two minutes or more after the last backoff step begins a
// pause of a second again; one that comes sooner takes the next step.
func TestVerify_TwoQuietMinutesStartTheBackoffAgain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		quiet time.Duration // from the last step
		pause time.Duration
	}{
		{"two minutes", 2 * time.Minute, time.Second},
		{"a nanosecond less", 2*time.Minute - time.Nanosecond, 8 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, s := newBackoffEnv(t, nil)
			s.set(bare(http.StatusTooManyRequests))
			refusedFirst(t, e, s)
			wantPause(t, e, s, time.Second, "the first refusal")
			wantPause(t, e, s, 2*time.Second, "the second refusal") // a step, now
			e.advance(tc.quiet)
			refusedFirst(t, e, s)
			wantPause(t, e, s, tc.pause, "a refusal "+tc.name+" on")
		})
	}
}

// TestVerify_AClockSetBackStartsTheBackoffAgain: once the clock is set
// back (an hour, before the last backoff step), the pause that step began
// no longer holds (it would run past a minute), and the next 429 without
// a wait begins a pause of a second, not the next step's 8.
func TestVerify_AClockSetBackStartsTheBackoffAgain(t *testing.T) {
	e, s := newBackoffEnv(t, nil)
	s.set(bare(http.StatusTooManyRequests))
	refusedFirst(t, e, s)
	wantPause(t, e, s, time.Second, "the first refusal")
	wantPause(t, e, s, 2*time.Second, "the second refusal") // its 4 s run
	e.clk.Advance(-time.Hour)
	refusedFirst(t, e, s)
	wantPause(t, e, s, time.Second, "a refusal after the clock was set back")
}

// TestVerify_BackoffIsBroughtForwardByAtMostATenth: the backoff's pause is
// jittered as a cached answer's lifetime is (jitter.Earlier): shorter by
// up to a tenth, at random, never longer, so that replicas refused at
// once do not all ask again at once. At the random source's extremes, a
// second's pause runs 900 ms, or the whole second.
func TestVerify_BackoffIsBroughtForwardByAtMostATenth(t *testing.T) {
	for _, tc := range []struct {
		random float64
		pause  time.Duration
	}{
		{1, 900 * time.Millisecond},
		{0.5, 950 * time.Millisecond},
		{0, time.Second},
	} {
		t.Run(fmt.Sprint(tc.random), func(t *testing.T) {
			e, s := newBackoffEnv(t, nil)
			introspect.SetRandom(e.v, func() float64 { return tc.random })
			s.set(bare(http.StatusTooManyRequests))
			refusedFirst(t, e, s)
			wantPause(t, e, s, tc.pause, "the first refusal")
		})
	}
}

// TestVerify_ARequestCheckedBeforeAStepIsOfThatStepsBurst: a request that
// found no pause, and is sent only after another request's 429 without a
// wait has taken a backoff step, is of that step's burst: its own such
// 429 takes no step of its own, so the pause stays the step's second, and
// the next refusal's is two, not four. (With its generation read once it
// was about to be sent, after the check, as before c857cc6, its 429 took a
// second step: a pause of two seconds at once.)
func TestVerify_ARequestCheckedBeforeAStepIsOfThatStepsBurst(t *testing.T) {
	e, s := newBackoffEnv(t, nil)
	arrived, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	held.Store(true)
	s.set(func(w http.ResponseWriter) {
		if held.CompareAndSwap(true, false) { // the first request only
			arrived <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusTooManyRequests)
	})
	checked, resume := make(chan struct{}), make(chan struct{})
	var n atomic.Int64
	introspect.SetChecked(e.v, func() {
		if n.Add(1) == 2 { // the second request only
			checked <- struct{}{}
			<-resume
		}
	})
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { _, err := e.v.VerifyAccessToken(context.Background(), "stepping"); first <- err }()
	<-arrived
	go func() { _, err := e.v.VerifyAccessToken(context.Background(), "checked"); second <- err }()
	<-checked // found no pause: none has begun
	close(release)
	if err := <-first; !errors.Is(err, introspect.ErrUnavailable) { // its 429 took the step
		t.Fatalf("the first request: %v, want ErrUnavailable", err)
	}
	close(resume)
	if err := <-second; !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("the request checked before the step: %v, want ErrUnavailable", err)
	}
	if st := e.v.Stats(); st.Requests != 2 {
		t.Fatalf("Requests %d, want 2: both sent", st.Requests)
	}
	wantPause(t, e, s, time.Second, "after the step and a 429 of its burst")
	wantPause(t, e, s, 2*time.Second, "after the next refusal")
}

// TestVerify_ARequestSentWhileAStepRecordsItsPauseIsOfThatStepsBurst: a
// request sent while a 429 without a wait is recording its backoff step's
// pause (held there by the pauseRead hook) goes out, since no pause has
// begun, and its own such 429 is of that step's burst: it takes no step
// of its own, so the pause is the step's second, and the next refusal's
// is two, not four. (With the generation moved before the pause was
// recorded, as before c857cc6, it took a second step; with the pause
// recorded under the backoff's lock, as c857cc6 did, the request waited
// for that lock, and so for the recording's Config.Now.)
func TestVerify_ARequestSentWhileAStepRecordsItsPauseIsOfThatStepsBurst(t *testing.T) {
	e, s := newBackoffEnv(t, nil)
	resume := stepHeld(e, s)
	if err, sent := probe(t, e, s); !sent || !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("a request while the step records its pause: %v (request sent: %v), want ErrUnavailable from a request", err, sent)
	}
	if err := resume(); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("the stepping request: %v, want ErrUnavailable", err)
	}
	wantPause(t, e, s, time.Second, "after the step and a 429 of its burst")
	wantPause(t, e, s, 2*time.Second, "after the next refusal")
}

// stepHeld starts a request whose 429 without a wait (s is set to answer
// so) takes a backoff step, and holds that step as it records its pause
// (the pauseRead hook), before the generation moves. It returns once the
// step is held, with resume, which lets the step go on and returns the
// stepping request's error.
func stepHeld(e *env, s *scripted) (resume func() error) {
	s.set(bare(http.StatusTooManyRequests))
	reading, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	introspect.SetPauseRead(e.v, func() {
		if once.CompareAndSwap(false, true) { // the step's pause only
			reading <- struct{}{}
			<-release
		}
	})
	first := make(chan error, 1)
	go func() { _, err := e.v.VerifyAccessToken(context.Background(), "stepping"); first <- err }()
	<-reading
	return func() error { close(release); return <-first }
}
