package introspect_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
)

// wantSchedule wants the answer s is set to, which the last request sent
// got (its first step taken), to back off on the full schedule: the
// requests sent as each pause ends, answered alike, pause for 1, 2, 4, 8,
// 16, 32, 60 and 60 s.
func wantSchedule(t *testing.T, e *env, s *scripted) {
	t.Helper()
	for i, d := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60} {
		err := wantPause(t, e, s, d*time.Second, fmt.Sprintf("step %d", i+1))
		if !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("step %d's request: %v, want ErrUnavailable", i+2, err)
		}
	}
}

// TestVerify_A502Or504BacksOffAsA503WithoutAWait: a gateway's 502 or 504
// (Okta's or a CDN's front end while the server behind it is down) backs
// off as a 503 without a Retry-After does, 1 s doubling up to a minute,
// and a Retry-After on it is not read (RFC 9110 gives it meaning on a 503,
// not on these): it pauses for the backoff's second, not its 30. Before,
// neither paused anything, and every call asked the failing gateway again.
func TestVerify_A502Or504BacksOffAsA503WithoutAWait(t *testing.T) {
	for _, status := range []int{http.StatusBadGateway, http.StatusGatewayTimeout} {
		for _, retryAfter := range []string{"", "30"} {
			t.Run(fmt.Sprintf("%d Retry-After %q", status, retryAfter), func(t *testing.T) {
				e, s := newBackoffEnv(t, nil)
				s.set(func(w http.ResponseWriter) {
					if retryAfter != "" {
						w.Header().Set("Retry-After", retryAfter)
					}
					w.WriteHeader(status)
				})
				refusedFirst(t, e, s)
				wantSchedule(t, e, s)
			})
		}
	}
}

// brokenOff answers by breaking the connection off: the request gets no
// answer (net/http's EOF).
func brokenOff(http.ResponseWriter) { panic(http.ErrAbortHandler) }

// hanging returns an answer that never comes, until the test ends: the
// Verifier's Config.Timeout ends the request.
func hanging(t *testing.T) func(http.ResponseWriter) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) }) // before the server's Close, which waits for it
	return func(http.ResponseWriter) { <-stop }
}

// networkFailures are the ways a request gets no answer: each returns an
// env whose every request fails so, and the scripted answer that any
// other answer of the endpoint is set on (unused for a refused
// connection, where nothing answers).
var networkFailures = []struct {
	name string
	env  func(t *testing.T) (*env, *scripted)
}{
	{"connection refused", func(t *testing.T) (*env, *scripted) {
		return newEnv(t, refusedEndpoint(t)), &scripted{}
	}},
	{"connection broken off", func(t *testing.T) (*env, *scripted) {
		e, s := newBackoffEnv(t, nil)
		s.set(brokenOff)
		return e, s
	}},
	{"timed out", func(t *testing.T) (*env, *scripted) {
		e, s := newBackoffEnv(t, func(c *introspect.Config) { c.Timeout = 20 * time.Millisecond })
		s.set(hanging(t))
		return e, s
	}},
}

// TestVerify_NetworkFailuresBackOffFromTheSecondBurst: an endpoint that
// stays unreachable (connection refused, broken off, timed out) backs off
// as a 503 without a wait does, 1 s doubling up to a minute, from its
// second failure on, so that a service whose authorization server is down
// does not ask it again on every call (at MaxRequestRate at most); the
// first failure, which may be transient, pauses nothing. Each request's
// error, and each refused call's, is ErrUnavailable (KEYS_UNAVAILABLE,
// codes.Unavailable behind grpcauth), and neither says the client secret.
// Before, no network failure paused anything.
func TestVerify_NetworkFailuresBackOffFromTheSecondBurst(t *testing.T) {
	for _, tc := range networkFailures {
		t.Run(tc.name, func(t *testing.T) {
			e, s := tc.env(t)
			refusedFirst(t, e, s) // forgiven: nothing paused
			err, sent := probe(t, e, s)
			if !sent || !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("the second failure: %v (request sent: %v), want ErrUnavailable from a request: the first paused nothing", err, sent)
			}
			if !strings.Contains(err.Error(), "backing off, no request for 1s") {
				t.Fatalf("the second failure: %q, want it to say it backs off for 1s", err)
			}
			paused, sent := probe(t, e, s)
			const want = "runs 1s more, request not sent"
			if sent || !strings.Contains(paused.Error(), want) {
				t.Fatalf("a call within the pause: %q (request sent: %v), want no request and %q", paused, sent, want)
			}
			for _, err := range []error{err, paused} {
				if strings.Contains(err.Error(), rsClient.Secret) {
					t.Fatalf("%q says the client secret", err)
				}
			}
			wantSchedule(t, e, s)
			if st := e.v.Stats(); st.Requests != 10 || st.Failures != 10 {
				t.Fatalf("Requests %d, Failures %d, want 10 and 10", st.Requests, st.Failures)
			}
		})
	}
}

// TestVerify_ATransientNetworkFailurePausesNothing: a network failure
// followed by an answer pauses nothing, however many requests in flight
// together it failed, and the answer forgives the next one too: only two
// bursts of failures with no usable answer between them begin a pause.
func TestVerify_ATransientNetworkFailurePausesNothing(t *testing.T) {
	e, s := newBackoffEnv(t, nil)
	const n = 4
	arrived, release := make(chan struct{}, n), make(chan struct{})
	s.set(func(w http.ResponseWriter) {
		arrived <- struct{}{}
		<-release
		brokenOff(w)
	})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := e.v.VerifyAccessToken(context.Background(), fmt.Sprint("burst-", i)); !errors.Is(err, introspect.ErrUnavailable) {
				t.Errorf("a request of the burst: %v, want ErrUnavailable", err)
			}
		})
	}
	for range n {
		<-arrived // every request is in flight before any fails
	}
	close(release)
	wg.Wait()
	s.issuerAnswers()
	if err, sent := probe(t, e, s); !sent || !errors.Is(err, introspect.ErrInactive) {
		t.Fatalf("after a burst of %d network failures: %v (request sent: %v), want the answer, ErrInactive", n, err, sent)
	}
	s.set(brokenOff)
	refusedFirst(t, e, s) // forgiven again: the answer started the backoff again
	refusedFirst(t, e, s) // the second burst: its first step
	wantPause(t, e, s, time.Second, "after two failures in a row")
}

// TestVerify_AMalformed200DoesNotStartTheBackoffAgain: a 200 whose body is
// of no use (not labelled JSON, not an RFC 7662 answer, a claim of the
// wrong type, larger than MaxResponseSize) is not the usable answer that
// starts the backoff again: after 429s without a wait paused for 1 s, the
// next one, after such a 200, pauses for 2 s. Before, its status alone
// counted, and it paused for 1 s. (It takes no step either: a token's
// claims may provoke it.)
func TestVerify_AMalformed200DoesNotStartTheBackoffAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		body func(http.ResponseWriter)
	}{
		{"not labelled JSON", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>maintenance</html>")
		}},
		{"not an RFC 7662 answer", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"status":"ok"}`)
		}},
		{"a claim of the wrong type", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"active":true,"exp":"soon"}`)
		}},
		{"larger than MaxResponseSize", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"active":false,"x":%q}`, strings.Repeat("x", 2048))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantNeitherStepNorStartAgain(t, func(c *introspect.Config) { c.MaxResponseSize = 1024 }, tc.body)
		})
	}
}

// wantNeitherStepNorStartAgain wants other, the answer to the request sent
// as a 429's backoff of a second ends, to fail with ErrUnavailable and to
// neither take a step nor start the backoff again: the next 429 without a
// wait, at once (no pause), pauses for 2 s.
func wantNeitherStepNorStartAgain(t *testing.T, mutate func(*introspect.Config), other func(http.ResponseWriter)) {
	t.Helper()
	e, s := newBackoffEnv(t, mutate)
	s.set(bare(http.StatusTooManyRequests))
	refusedFirst(t, e, s)
	s.set(other)
	if err := wantPause(t, e, s, time.Second, "the first refusal"); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("the other answer: %v, want ErrUnavailable", err)
	}
	s.set(bare(http.StatusTooManyRequests))
	refusedFirst(t, e, s) // no pause: the other answer took no step
	wantPause(t, e, s, 2*time.Second, "a refusal after the other answer")
}

// TestVerify_AStatusThatIsNotTheServersWordDoesNotStartTheBackoffAgain: a
// status that does not back off, other than a 401 or 403 saying
// invalid_client (a 500, 501 or 505: the server failing one request; a
// 400, 404 or 413, or a 401 or 403 without invalid_client: a refusal of
// one request, perhaps by a proxy or a firewall, which its token may
// provoke), is no sign that the server has recovered: after 429s without
// a wait paused for 1 s, the next one, after such an answer, pauses for
// 2 s. Before, it started the backoff again, and the next paused for 1 s,
// so a caller whose token a firewall refuses, or an overloaded server's
// 500s, held every pause at a second.
func TestVerify_AStatusThatIsNotTheServersWordDoesNotStartTheBackoffAgain(t *testing.T) {
	for _, status := range []int{
		http.StatusInternalServerError, http.StatusNotImplemented, http.StatusHTTPVersionNotSupported,
		http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge,
		http.StatusUnauthorized, http.StatusForbidden,
	} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			wantNeitherStepNorStartAgain(t, nil, func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				fmt.Fprint(w, `{"error":"invalid_request"}`)
			})
		})
	}
}

// TestVerify_AStragglersAnswerDoesNotStartTheBackoffAgain: an answer to a
// request sent before a backoff step began (sent before it, or while it
// recorded its pause), which comes after it, says nothing of the server
// since: it does not start the backoff again, and the next 429 without a
// wait pauses for 2 s, not 1. Before, it reset the backoff, so an
// overloaded server's slow answers to the requests sent before its first
// 429s kept every pause at a second.
func TestVerify_AStragglersAnswerDoesNotStartTheBackoffAgain(t *testing.T) {
	t.Run("sent before the step", func(t *testing.T) {
		arrived, release := make(chan struct{}), make(chan struct{})
		var n atomic.Int64
		e := newFrontedEnv(t, nil, func(w http.ResponseWriter) bool {
			if n.Add(1) == 1 { // the straggler: the issuer answers it, once released
				arrived <- struct{}{}
				<-release
				return false
			}
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		})
		s := &scripted{} // the probes' counter only: the endpoint answers as above
		straggler := make(chan error, 1)
		go func() { _, err := e.v.VerifyAccessToken(context.Background(), "straggler"); straggler <- err }()
		<-arrived
		refusedFirst(t, e, s) // its 429 takes the first step: a second
		close(release)
		if err := <-straggler; !errors.Is(err, introspect.ErrInactive) {
			t.Fatalf("the straggler: %v, want the issuer's answer, ErrInactive", err)
		}
		wantPause(t, e, s, time.Second, "the first refusal")
		wantPause(t, e, s, 2*time.Second, "a refusal after a straggler's answer")
	})
	t.Run("sent while the step records its pause", func(t *testing.T) {
		e, s := newBackoffEnv(t, nil)
		resume := stepHeld(e, s)
		s.issuerAnswers()
		if err, sent := probe(t, e, s); !sent || !errors.Is(err, introspect.ErrInactive) {
			t.Fatalf("a request while the step records its pause: %v (request sent: %v), want the issuer's answer, ErrInactive", err, sent)
		}
		if err := resume(); !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("the stepping request: %v, want ErrUnavailable", err)
		}
		s.set(bare(http.StatusTooManyRequests))
		wantPause(t, e, s, time.Second, "the first refusal")
		wantPause(t, e, s, 2*time.Second, "a refusal after a straggler's answer")
	})
}

// TestVerify_APauseIsSaidToTheMillisecond: errors say a pause rounded up to
// the millisecond: a backoff's second brought forward by 12.345679 ms
// (jitter) is "988ms", as the 429's error and a refused call's say, and
// what is left of it 987.654 ms on, 321 ns, "1ms", never "0s". Before,
// they said "987.654321ms" and "321ns".
func TestVerify_APauseIsSaidToTheMillisecond(t *testing.T) {
	e, s := newBackoffEnv(t, nil)
	introspect.SetRandom(e.v, func() float64 { return 0.123456789 })
	s.set(bare(http.StatusTooManyRequests))
	err, _ := probe(t, e, s)
	if want := "no request for 988ms"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("the 429's error: %v, want it to end %q", err, want)
	}
	for _, tc := range []struct {
		advance time.Duration
		want    string
	}{
		{0, "runs 988ms more"},
		{987654 * time.Microsecond, "runs 1ms more"}, // 321 ns left
	} {
		e.advance(tc.advance)
		err, sent := probe(t, e, s)
		if sent || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("a call %v into the pause: %v (request sent: %v), want it to say %q", tc.advance, err, sent, tc.want)
		}
	}
}

// TestVerify_AStatusOfAForgivenBurstTakesItsStep: of two requests in
// flight together, one gets no answer (its connection broken off) and is
// forgiven, pausing nothing; the other's 429 or 503 without a wait, or
// 502, answered after that, is the server's (or its gateway's) word that
// it is overloaded or down, and takes the burst's first step: a pause of
// a second, and the next refusal's two. Answered first, it would have
// taken that step anyway; the order of one burst's answers must not
// decide. Before, it was dropped as one of a burst already counted, and
// nothing paused.
func TestVerify_AStatusOfAForgivenBurstTakesItsStep(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			arrived := make(chan struct{})
			release := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
			var n atomic.Int64
			e, s := newBackoffEnv(t, nil)
			s.set(func(w http.ResponseWriter) {
				i := n.Add(1) - 1
				if i < 2 { // the burst: both in flight before either is answered
					arrived <- struct{}{}
					<-release[i]
				}
				if i == 0 {
					brokenOff(w)
				}
				w.WriteHeader(status)
			})
			errs := [2]chan error{make(chan error, 1), make(chan error, 1)}
			for i, tok := range []string{"broken-off", "refused"} {
				go func() { _, err := e.v.VerifyAccessToken(context.Background(), tok); errs[i] <- err }()
				<-arrived
			}
			for i, what := range []string{"the network failure", "the refusal"} {
				close(release[i])
				if err := <-errs[i]; !errors.Is(err, introspect.ErrUnavailable) {
					t.Fatalf("%s: %v, want ErrUnavailable", what, err)
				}
			}
			wantPause(t, e, s, time.Second, "the refusal after its burst's network failure")
			wantPause(t, e, s, 2*time.Second, "the next refusal")
		})
	}
}
