package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// The issuer chaos tests. A verifier loads its keys from a chaosServer, the
// issuer then rotates to a new key, and the server starts to misbehave. For
// every fault the tests check the same four properties:
//
//  1. tokens signed with a key the verifier already holds keep verifying,
//     with no request to the issuer;
//  2. no caller waits past its own deadline (a caller whose key lookup joins
//     a hung fetch gets its context's error when its context ends);
//  3. a burst of tokens with unknown kids costs at most one fetch per
//     MinRefreshInterval, whatever the fault;
//  4. once the issuer is healthy again and MinRefreshInterval has passed,
//     a token with the new kid verifies: the verifier recovers by itself.
//
// Each faulty answer is built so that a verifier missing the check would
// accept the new key (the 500 carries a valid key set, the oversized body
// is a valid key set padded with spaces, the refused redirect leads to one),
// so a missing check fails property 3's expected error, not just a count.
//
// Time: MinRefreshInterval and staleness follow the verifier's Config.Now,
// a fake clock the tests advance. Background refreshes run on real timers;
// with no Cache-Control from the chaos server the next one is an hour away,
// so every request the server counts was caused by the test.

// chaosMaxResponse is the verifier's MaxResponseSize in the fault tests:
// far above the key set (two EC keys, under 1 KiB), small enough that the
// oversized bodies stay cheap.
const chaosMaxResponse = 16 << 10

// burstSize is the number of concurrent callers with unknown kids per burst.
const burstSize = 32

// blockingDeadline is the deadline of callers in a burst against a fault
// that never lets the fetch finish; they must return with their context's
// error. It is a property of the callers, not a speed expectation.
const blockingDeadline = 200 * time.Millisecond

type faultCase struct {
	name  string
	fault faultFunc // applied to keysPath
	// blocking: the fetch never completes while the fault lasts, so callers
	// end at their deadline (context.DeadlineExceeded); otherwise the fetch
	// fails and callers get ErrKeysUnavailable: the last good set still
	// serves its keys, but a kid it lacks may be one the issuer published
	// since, so the token is not blamed (see docs/key-set.md).
	blocking bool
	// perFetch is the most requests one fetch may make to keysPath
	// (redirect hops; a transport retry after a reset on a reused
	// connection). 0 means 1.
	perFetch int
	// check runs after the fault has been exercised, for fault-specific
	// assertions.
	check func(t *testing.T, f *chaosFixture)
}

// nonLoopbackKeys is where the redirect fault points: TEST-NET-1 (RFC 5737),
// never routed, and refused by recordingTransport if it were ever asked.
const nonLoopbackKeys = "http://192.0.2.1/keys"

func faultCases() []faultCase {
	status := func(code int) faultFunc {
		return func(cs *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
			// A valid key set with the new key, under an error status: a
			// verifier that ignored the status would accept the new kid.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = w.Write(cs.JWKS())
			return true
		}
	}
	body := func(b string) faultFunc {
		return func(cs *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
			cs.writeJSON(w, []byte(b))
			return true
		}
	}
	padded := func(cs *chaosServer) []byte {
		// A valid key set (with the new key) followed by whitespace, which
		// JSON allows: only the size limit can refuse it.
		b := cs.JWKS()
		return append(b, strings.Repeat(" ", 2*chaosMaxResponse)...)
	}
	return []faultCase{
		{name: "status 500 with a valid key set", fault: status(http.StatusInternalServerError)},
		{name: "status 503", fault: status(http.StatusServiceUnavailable)},
		{name: "status 404", fault: status(http.StatusNotFound)},
		{
			name: "connection reset", perFetch: 2,
			fault: func(_ *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					panic(err)
				}
				if tcp, ok := conn.(*net.TCPConn); ok {
					_ = tcp.SetLinger(0) // RST instead of FIN
				}
				_ = conn.Close()
				return true
			},
		},
		{
			name: "hang before the response headers", blocking: true,
			fault: func(cs *chaosServer, w http.ResponseWriter, r *http.Request) bool {
				cs.block(r)
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			},
		},
		{
			name: "slow body: part of a valid key set, then nothing", blocking: true,
			fault: func(cs *chaosServer, w http.ResponseWriter, r *http.Request) bool {
				b := cs.JWKS()
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Length", fmt.Sprint(len(b)))
				_, _ = w.Write(b[:len(b)/2])
				_ = http.NewResponseController(w).Flush()
				cs.block(r)
				_, _ = w.Write(b[len(b)/2:]) // released: the body completes
				return true
			},
		},
		{
			name: "redirect to a non-loopback http URL",
			fault: func(_ *chaosServer, w http.ResponseWriter, r *http.Request) bool {
				http.Redirect(w, r, nonLoopbackKeys, http.StatusFound)
				return true
			},
			check: func(t *testing.T, f *chaosFixture) {
				if f.rt.Requested("http://192.0.2.1") {
					t.Error("the verifier requested a non-loopback plain-http redirect target")
				}
			},
		},
		{
			name: "endless redirects on the same host", perFetch: 4, // the request and 3 redirects
			fault: func(_ *chaosServer, w http.ResponseWriter, r *http.Request) bool {
				http.Redirect(w, r, keysPath+"?hop="+fmt.Sprint(len(r.URL.RawQuery)), http.StatusFound)
				return true
			},
		},
		{
			name: "body over MaxResponseSize with Content-Length",
			fault: func(cs *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
				b := padded(cs)
				w.Header().Set("Content-Length", fmt.Sprint(len(b)))
				cs.writeJSON(w, b)
				return true
			},
		},
		{
			name: "body over MaxResponseSize without Content-Length",
			fault: func(cs *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
				b := padded(cs)
				w.Header().Set("Content-Type", "application/json")
				for len(b) > 0 { // chunked: the size is known only by reading
					n := min(len(b), 4<<10)
					if _, err := w.Write(b[:n]); err != nil {
						return true // the client stopped reading
					}
					_ = http.NewResponseController(w).Flush()
					b = b[n:]
				}
				return true
			},
		},
		{
			name: "invalid JSON: a valid key set with trailing garbage",
			fault: func(cs *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
				cs.writeJSON(w, append(cs.JWKS(), '}'))
				return true
			},
		},
		{name: "an HTML page with status 200", fault: body("<html><body>Service temporarily unavailable</body></html>")},
		{name: "a JSON document without keys", fault: body(`{"error":"temporarily_unavailable"}`)},
		{name: "an empty key set", fault: body(`{"keys":[]}`)},
		{
			name: "a key set whose only key is a symmetric secret",
			fault: func(cs *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
				cs.writeJSON(w, []byte(`{"keys":[{"kty":"oct","kid":"`+cs.iss.KeyID()+`","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}`))
				return true
			},
		},
		{
			name: "a key set whose only key has an unknown type",
			fault: func(cs *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
				cs.writeJSON(w, []byte(`{"keys":[{"kty":"AKP","kid":"`+cs.iss.KeyID()+`","alg":"ML-DSA-44","pub":"AAAA"}]}`))
				return true
			},
		},
	}
}

// TestChaos_IssuerFaultsNeitherBreakKnownKeysNorStormNorStall runs every
// fault of faultCases through the four properties described at the top of
// this file.
func TestChaos_IssuerFaultsNeitherBreakKnownKeysNorStormNorStall(t *testing.T) {
	for _, tc := range faultCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newChaosFixture(t, func(_ *chaosFixture, c *verifier.Config) { c.MaxResponseSize = chaosMaxResponse })
			perFetch := max(tc.perFetch, 1)
			if _, err := f.iss.RotateKey(); err != nil {
				t.Fatal(err)
			}
			newTok := f.mint(t, nil) // signed by the new key, which the verifier has not seen
			f.cs.Fail(onPath(keysPath, tc.fault))

			timeout, want := 30*time.Second, verifier.ErrKeysUnavailable
			if tc.blocking {
				timeout, want = blockingDeadline, context.DeadlineExceeded
			}
			// Three bursts: at t0, t0+Min/2 (no fetch allowed) and t0+Min
			// (one more allowed, unless the first is still hanging).
			for window := range 3 {
				before := f.cs.Hits(keysPath)
				for i, err := range f.burst(t, burstSize, newTok, timeout) {
					if !errors.Is(err, want) {
						t.Fatalf("window %d, caller %d: VerifyAccessToken = %v, want %v", window, i, err, want)
					}
				}
				if tc.blocking && window == 0 {
					f.cs.waitEntered(t) // the fetch is hanging in the server right now
				}
				f.knownKeysStillVerify(t, f.kid1)

				got := f.cs.Hits(keysPath) - before
				lo, hi := 1, perFetch // one fetch
				if window == 1 || tc.blocking && window == 2 {
					lo, hi = 0, 0 // rate-limited, or joined the hanging fetch
				}
				if got < lo || got > hi {
					t.Fatalf("window %d: %d callers with unknown kids made %d key-set requests, want %d to %d", window, burstSize, got, lo, hi)
				}
				f.clk.Advance(chaosMinRefresh / 2)
			}
			if tc.check != nil {
				tc.check(t, f)
			}

			// The issuer recovers; once MinRefreshInterval has passed, the
			// new key must verify. A blocking fault's fetch may still be
			// finishing when the first attempt arrives, so it gets two.
			f.cs.Fail(nil)
			f.cs.Release()
			attempts := 1
			if tc.blocking {
				attempts = 2
			}
			var err error
			for range attempts {
				f.clk.Advance(chaosMinRefresh)
				if err = f.verify(newTok, 30*time.Second); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("after the issuer recovered, the new key's token: %v", err)
			}
			f.knownKeysStillVerify(t, f.kid1)
		})
	}
}

// TestChaos_FetchTimeoutEndsAHungFetch checks that a fetch the issuer never
// answers is abandoned after FetchTimeout even when no caller is waiting
// with a deadline, so that a hung issuer cannot block key refreshes for
// ever: the waiting caller gets ErrKeysUnavailable, the server sees the client
// give up, and the next fetch is made once MinRefreshInterval has passed.
func TestChaos_FetchTimeoutEndsAHungFetch(t *testing.T) {
	f := newChaosFixture(t, func(_ *chaosFixture, c *verifier.Config) { c.FetchTimeout = 100 * time.Millisecond })
	if _, err := f.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	newTok := f.mint(t, nil)
	gaveUp := make(chan struct{}, 1)
	f.cs.Fail(onPath(keysPath, func(_ *chaosServer, w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done() // only the client can end this request
		gaveUp <- struct{}{}
		return true
	}))
	// The caller's own deadline is far away: only FetchTimeout can end it.
	if err := f.verify(newTok, time.Minute); !errors.Is(err, verifier.ErrKeysUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("VerifyAccessToken during a hung fetch = %v, want ErrKeysUnavailable (not a deadline) once FetchTimeout ends the fetch", err)
	}
	select {
	case <-gaveUp:
	case <-time.After(30 * time.Second): // watchdog only
		t.Fatal("the server never saw the client abandon the hung request")
	}
	f.cs.Fail(nil)
	f.clk.Advance(chaosMinRefresh)
	if err := f.verify(newTok, 30*time.Second); err != nil {
		t.Fatalf("after the hung fetch timed out and the issuer recovered: %v", err)
	}
	if got := f.cs.Hits(keysPath); got != 3 {
		t.Fatalf("key-set requests = %d, want 3 (initial, hung, recovery)", got)
	}
}

// TestChaos_StartsWhileIssuerIsDownAndRecovers checks a verifier that has
// never loaded a key set: New succeeds, tokens are refused with
// ErrKeysUnavailable (the server's problem, never ErrUnknownKey), a burst of
// them costs no fetch storm, and the verifier becomes ready by itself once
// the issuer answers.
func TestChaos_StartsWhileIssuerIsDownAndRecovers(t *testing.T) {
	clk := newClock()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: "ES256", Now: clk.Now})
	cs := newChaosServer(t, iss)
	cs.Fail(onPath(keysPath, func(_ *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "down", http.StatusBadGateway)
		return true
	}))
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer:             iss.URL(),
		Audiences:          []string{iss.Audience()},
		JWKSURL:            cs.URL() + keysPath,
		Now:                clk.Now,
		MinRefreshInterval: chaosMinRefresh,
	})
	if err != nil {
		t.Fatalf("New while the issuer is down: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })

	tok, err := iss.Token("svc", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, burstSize)
	for range burstSize {
		go func() {
			_, err := v.VerifyAccessToken(ctx, tok)
			errs <- err
		}()
	}
	for range burstSize {
		if err := <-errs; !errors.Is(err, verifier.ErrKeysUnavailable) {
			t.Fatalf("VerifyAccessToken before any key set = %v, want ErrKeysUnavailable", err)
		}
	}
	// The scheduled first fetch, the one miss fetch the burst may trigger,
	// and at most one back-off retry (after about a second of real time).
	if got := cs.Hits(keysPath); got > 3 {
		t.Fatalf("%d callers made %d key-set requests while the issuer was down, want at most 3", burstSize, got)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer rcancel()
	if err := v.Ready(rctx); !errors.Is(err, verifier.ErrKeysUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ready while the issuer is down = %v, want ErrKeysUnavailable wrapping the deadline", err)
	}

	// The issuer comes back: the background retry (back-off of about a
	// second) loads the keys without any caller's help.
	cs.Fail(nil)
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready after the issuer recovered: %v", err)
	}
	if _, err := v.VerifyAccessToken(ctx, tok); err != nil {
		t.Fatalf("VerifyAccessToken after recovery: %v", err)
	}
}

// TestChaos_LongOutageEndsInKeysUnavailableThenRecovers checks MaxStaleness
// under a persistent fault: the last good set serves until it is
// MaxStaleness old, then every token (even one with a known kid) fails with
// ErrKeysUnavailable rather than trusting keys of unknown status, and the
// first successful fetch after the outage restores service.
func TestChaos_LongOutageEndsInKeysUnavailableThenRecovers(t *testing.T) {
	f := newChaosFixture(t, func(_ *chaosFixture, c *verifier.Config) {
		c.RefreshInterval = 30 * time.Minute // real-time timer: never fires in this test
		c.MaxStaleness = time.Hour
	})
	f.cs.Fail(onPath(keysPath, func(_ *chaosServer, w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "down", http.StatusInternalServerError)
		return true
	}))
	f.clk.Advance(59 * time.Minute)
	f.knownKeysStillVerify(t, f.kid1)

	f.clk.Advance(2 * time.Minute) // the set is now older than MaxStaleness
	tok := f.mint(t, nil, grpcauthtest.WithIssuerKey(f.kid1))
	if err := f.verify(tok, 30*time.Second); !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("known-kid token after MaxStaleness of outage = %v, want ErrKeysUnavailable", err)
	}
	if err := f.verify(tok, 30*time.Second); !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Fatalf("second call = %v, want ErrKeysUnavailable", err)
	}
	if got := f.cs.Hits(keysPath); got != 2 {
		t.Fatalf("key-set requests = %d, want 2 (initial, one refresh attempt within MinRefreshInterval)", got)
	}

	f.cs.Fail(nil)
	f.clk.Advance(chaosMinRefresh)
	if err := f.verify(tok, 30*time.Second); err != nil {
		t.Fatalf("after the outage ended: %v", err)
	}
}

// A verification waiting for a key-set fetch that is at the issuer when the
// Verifier is closed ends at once with ErrClosed: Close cancelled the fetch,
// so the issuer did not fail and no key is known to be missing.
func TestChaos_CloseDuringAKeyFetchIsErrClosed(t *testing.T) {
	f := newChaosFixture(t, nil)
	if _, err := f.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	newTok := f.mint(t, nil)
	f.cs.Fail(onPath(keysPath, func(cs *chaosServer, _ http.ResponseWriter, r *http.Request) bool {
		cs.block(r)
		return true
	}))
	errc := make(chan error, 1)
	go func() { errc <- f.verify(newTok, time.Minute) }()
	f.cs.waitEntered(t)
	_ = f.v.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, verifier.ErrClosed) || errors.Is(err, verifier.ErrKeysUnavailable) {
			t.Fatalf("VerifyAccessToken during Close = %v, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second): // watchdog only
		t.Fatal("the waiting verification did not end with Close")
	}
}
