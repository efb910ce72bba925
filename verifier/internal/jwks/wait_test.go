package jwks

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitSetup is a loaded set on a fake clock with fake timers, whose
// miss-fetch allowance a forged kid has just used: the next permitted miss
// fetch is MinRefreshInterval (10s) away. waiting receives a value each time
// a lookup starts waiting for it.
func waitSetup(t *testing.T, cfg Config) (s *Set, ts *testServer, ft *fakeTimers, clock *fakeClock, waiting chan struct{}) {
	t.Helper()
	s, ts, ft, clock = loadedSet(t, cfg)
	waiting = make(chan struct{}, 1000)
	s.onWait = func() { waiting <- struct{}{} }
	if _, err := s.Key(ctxT(t), "forged"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(forged) = %v, want ErrUnknownKey", err)
	}
	if got := ts.count("/keys"); got != 2 {
		t.Fatalf("%d fetches after the forged kid, want 2", got)
	}
	return s, ts, ft, clock, waiting
}

// loadedSet is a loaded set (kid "a") on a fake clock with fake timers and
// MinRefreshInterval 10s (cfg's URL, Now and MinRefreshInterval replaced),
// whose miss-fetch allowance is unused.
func loadedSet(t *testing.T, cfg Config) (s *Set, ts *testServer, ft *fakeTimers, clock *fakeClock) {
	t.Helper()
	ts = newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	clock = newFakeClock()
	cfg.URL, cfg.Now, cfg.MinRefreshInterval = ts.URL+"/keys", clock.Now, 10*time.Second
	s, ft = startSet(t, cfg)
	ready(t, s)
	return s, ts, ft, clock
}

// joinSetup is loadedSet whose joined receives a value each time a lookup
// joins a fetch in flight (up to slots without a reader).
func joinSetup(t *testing.T, cfg Config, slots int) (s *Set, ts *testServer, ft *fakeTimers, clock *fakeClock, joined chan struct{}) {
	t.Helper()
	s, ts, ft, clock = loadedSet(t, cfg)
	joined = make(chan struct{}, slots)
	s.onJoin = func() { joined <- struct{}{} }
	return s, ts, ft, clock, joined
}

// keyAsync looks kid up in a goroutine and delivers the error.
func keyAsync(ctx context.Context, s *Set, kid string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		k, err := s.Key(ctx, kid)
		if err == nil && (k == nil || k.ID != kid) {
			err = fmt.Errorf("Key(%q) returned key %v", kid, k)
		}
		errc <- err
	}()
	return errc
}

// noSchedule fails the test if a lookup scheduled a rate-limited refresh.
func noSchedule(t *testing.T, ft *fakeTimers) {
	t.Helper()
	select {
	case fa := <-ft.afters:
		t.Fatalf("a rate-limited refresh was scheduled (in %v); want none", fa.d)
	default:
	}
}

// The race oidc-provider showed: a forged kid uses the miss-fetch allowance,
// then the issuer publishes a new key and signs with it at once. The genuine
// token waits for the next permitted fetch and is accepted, at the cost of
// exactly one more fetch.
func TestSet_RotationRaceGenuineKidWaitsAndIsAccepted(t *testing.T) {
	s, ts, ft, clock, waiting := waitSetup(t, Config{})
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "new"))
	clock.Advance(3 * time.Second)

	genuine := keyAsync(ctxT(t), s, "new")
	receive(t, waiting, "the genuine lookup to wait")
	next := ft.nextAfter(t)
	if next.d != 7*time.Second {
		t.Fatalf("refresh scheduled in %v, want the rest of the window, 7s", next.d)
	}
	if got := ts.count("/keys"); got != 2 {
		t.Fatalf("%d fetches before the window ended, want 2", got)
	}
	next.fire()
	if err := receive(t, genuine, "the genuine lookup"); err != nil {
		t.Fatalf("genuine token's key after the next permitted fetch: %v", err)
	}
	if got := ts.count("/keys"); got != 3 {
		t.Fatalf("%d fetches, want 3: exactly one more for the waiting lookup", got)
	}
	if st := s.Stats(); st.MissWaits != 1 || st.MissFetches != 2 {
		t.Fatalf("Stats = %+v, want 1 wait and 2 miss fetches", st)
	}
}

// Every lookup that waits shares the one scheduled refresh: one timer, one
// fetch, whatever the number of waiters and kids. Forged kids are refused
// once it has answered, and remembered, so they are refused at once after.
func TestSet_WaitersShareOneRefresh(t *testing.T) {
	s, ts, ft, _, waiting := waitSetup(t, Config{})
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "new"))

	const forged = 50
	genuine := keyAsync(ctxT(t), s, "new")
	var refused []<-chan error
	for i := range forged {
		refused = append(refused, keyAsync(ctxT(t), s, fmt.Sprintf("forged-%d", i)))
	}
	for range forged + 1 {
		receive(t, waiting, "a lookup to wait")
	}
	ft.nextAfter(t).fire()
	noSchedule(t, ft) // one timer for all of them
	if err := receive(t, genuine, "the genuine lookup"); err != nil {
		t.Fatalf("genuine lookup: %v", err)
	}
	for i, c := range refused {
		if err := receive(t, c, "a forged lookup"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("forged-%d = %v, want ErrUnknownKey", i, err)
		}
	}
	if got := ts.count("/keys"); got != 3 {
		t.Fatalf("%d fetches for %d waiting lookups, want 3 (one shared)", got, forged+1)
	}
	// The shared fetch was fresh for every waiter: their kids are remembered.
	if _, err := s.Key(ctxT(t), "forged-7"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("remembered forged kid = %v, want ErrUnknownKey", err)
	}
	noSchedule(t, ft)
	if st := s.Stats(); st.MissWaits != forged+1 {
		t.Fatalf("Stats = %+v, want %d waits", st, forged+1)
	}
}

// Past MaxWaiters a lookup is refused at once, without a fetch.
func TestSet_WaiterCapExceededIsRefusedAtOnce(t *testing.T) {
	s, ts, ft, _, waiting := waitSetup(t, Config{MaxWaiters: 2})
	first, second := keyAsync(ctxT(t), s, "w1"), keyAsync(ctxT(t), s, "w2")
	receive(t, waiting, "the first lookup to wait")
	receive(t, waiting, "the second lookup to wait")
	limited := s.Stats().MissesLimited

	if _, err := s.Key(ctxT(t), "w3"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key past the cap = %v, want ErrUnknownKey at once", err)
	}
	if st := s.Stats(); st.MissesLimited != limited+1 || st.MissWaits != 2 {
		t.Fatalf("Stats = %+v, want one more limited miss and 2 waits", st)
	}
	ft.nextAfter(t).fire()
	for _, c := range []<-chan error{first, second} {
		if err := receive(t, c, "a waiting lookup"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("waiting lookup = %v, want ErrUnknownKey", err)
		}
	}
	if got := ts.count("/keys"); got != 3 {
		t.Fatalf("%d fetches, want 3", got)
	}
	// The slots are free again: the next rate-limited lookup waits.
	third := keyAsync(ctxT(t), s, "w4")
	receive(t, waiting, "a lookup to wait once the slots were freed")
	ft.nextAfter(t).fire()
	if err := receive(t, third, "the third waiting lookup"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("third = %v", err)
	}
}

// Lookups that join a fetch in flight take waiter slots too: a slow or
// hung issuer keeps a fetch in flight for up to FetchTimeout (two with a
// discovery round), and before, every forged kid arriving meanwhile joined
// it, however many, so a flood held calls open without bound. Past
// MaxWaiters (DefaultMaxWaiters when waiting for the rate limit is off) a
// lookup is refused at once, and the slots come back.
func TestSet_JoinersCountTowardsMaxWaiters(t *testing.T) {
	for _, tt := range []struct {
		maxWaiters, slots int
	}{
		{2, 2},
		{-1, DefaultMaxWaiters},
	} {
		t.Run(fmt.Sprint(tt.maxWaiters), func(t *testing.T) {
			s, ts, ft, _, joined := joinSetup(t, Config{MaxWaiters: tt.maxWaiters}, tt.slots+1)
			waiting := make(chan struct{}, tt.slots+1)
			s.onWait = func() { waiting <- struct{}{} }

			ts.holdRequests() // the issuer hangs
			starter := keyAsync(ctxT(t), s, "x")
			ts.waitEntered(t, "/keys")
			var joiners []<-chan error
			for i := range tt.slots {
				joiners = append(joiners, keyAsync(ctxT(t), s, fmt.Sprintf("j%d", i)))
				receive(t, joined, "a lookup to join")
			}
			limited := s.Stats().MissesLimited

			past := keyAsync(ctxT(t), s, "past")
			select {
			case err := <-past:
				if !errors.Is(err, ErrUnknownKey) {
					t.Fatalf("Key past the cap = %v, want ErrUnknownKey at once", err)
				}
			case <-joined:
				t.Fatal("a lookup past the cap joined the fetch in flight")
			}
			if st := s.Stats(); st.MissesLimited != limited+1 {
				t.Fatalf("Stats = %+v, want one more limited miss", st)
			}

			ts.release()
			if err := receive(t, starter, "the lookup that started the fetch"); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("starter = %v, want ErrUnknownKey", err)
			}
			// The joiners' fetch started before them: they wait for the next
			// one in the slots they held, or are refused when waiting is off.
			if tt.maxWaiters > 0 {
				for range tt.slots {
					receive(t, waiting, "a joiner to wait")
				}
				ft.nextAfter(t).fire()
			}
			for _, c := range joiners {
				if err := receive(t, c, "a joiner"); !errors.Is(err, ErrUnknownKey) {
					t.Fatalf("joiner = %v, want ErrUnknownKey", err)
				}
			}
			s.mu.Lock()
			held := s.waiters
			s.mu.Unlock()
			if held != 0 {
				t.Fatalf("%d waiter slots still taken, want 0", held)
			}
		})
	}
}

// Past the cap while the issuer fails, a lookup is refused at once with
// ErrUnavailable, not ErrUnknownKey: the fetch in flight may bring the
// kid, and the latest one failed, so the token is not blamed (as for every
// other unknown kid while refreshes fail; see docs/key-set.md).
func TestSet_PastTheCapWhileRefreshesFailIsUnavailable(t *testing.T) {
	s, ts, _, clock, joined := joinSetup(t, Config{MaxWaiters: 1}, 2)
	ts.set("/keys", reply{status: 503})
	if _, err := s.Key(ctxT(t), "x"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown kid, failed fetch = %v, want ErrUnavailable", err)
	}
	clock.Advance(10 * time.Second)
	ts.holdRequests() // the issuer hangs
	starter := keyAsync(ctxT(t), s, "y")
	ts.waitEntered(t, "/keys")
	joiner := keyAsync(ctxT(t), s, "j")
	receive(t, joined, "a lookup to join")
	past := keyAsync(ctxT(t), s, "past")
	select {
	case err := <-past:
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Key past the cap after a failed refresh = %v, want ErrUnavailable at once", err)
		}
	case <-joined:
		t.Fatal("a lookup past the cap joined the fetch in flight")
	}
	ts.release()
	for _, c := range []<-chan error{starter, joiner} {
		if err := receive(t, c, "a lookup of the held fetch"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("lookup of the failed fetch = %v, want ErrUnavailable", err)
		}
	}
}

// A negative MaxWaiters turns waiting off: a rate-limited lookup is refused
// at once, as before waiting existed.
func TestSet_NegativeMaxWaitersNeverWaits(t *testing.T) {
	s, ts, ft, _, _ := waitSetup(t, Config{MaxWaiters: -1})
	if _, err := s.Key(ctxT(t), "other"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key = %v, want ErrUnknownKey at once", err)
	}
	noSchedule(t, ft)
	if got, st := ts.count("/keys"), s.Stats(); got != 2 || st.MissWaits != 0 {
		t.Fatalf("%d fetches, Stats %+v; want 2 and no wait", got, st)
	}
}

// A waiter whose deadline comes before the next permitted fetch returns at
// its deadline with the context's error, frees its slot, and costs no fetch:
// the refresh it waited for, which no lookup waits for any more, is
// cancelled (before, its timer fired and fetched for nobody).
func TestSet_WaiterDeadlineShorterThanWaitReturnsDeadline(t *testing.T) {
	s, ts, ft, _, waiting := waitSetup(t, Config{MaxWaiters: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	errc := keyAsync(ctx, s, "new")
	receive(t, waiting, "the lookup to wait")
	next := ft.nextAfter(t) // ten seconds away; never fired in time
	if err := receive(t, errc, "the lookup to return at its deadline"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Key = %v, want context.DeadlineExceeded", err)
	}
	if next.fire() {
		t.Fatal("the refresh nobody waits for any more was not cancelled")
	}
	if got := ts.count("/keys"); got != 2 {
		t.Fatalf("%d fetches, want 2", got)
	}
	// Its slot (the only one) is free: another lookup can wait, for a
	// refresh of its own.
	other := keyAsync(ctxT(t), s, "other")
	receive(t, waiting, "another lookup to take the freed slot")
	ft.nextAfter(t).fire()
	if err := receive(t, other, "the other lookup"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other = %v, want ErrUnknownKey", err)
	}
}

// A waiter that gives up leaves the shared refresh to the others: it is
// cancelled only when the last of them has gone.
func TestSet_SharedRefreshOutlivesAWaiterThatGivesUp(t *testing.T) {
	s, ts, ft, _, waiting := waitSetup(t, Config{})
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "new"))
	ctx, cancel := context.WithCancel(context.Background())
	quitter := keyAsync(ctx, s, "forged-2")
	receive(t, waiting, "the first lookup to wait")
	genuine := keyAsync(ctxT(t), s, "new")
	receive(t, waiting, "the second lookup to wait")
	next := ft.nextAfter(t)
	cancel()
	if err := receive(t, quitter, "the lookup that gave up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Key = %v, want context.Canceled", err)
	}
	if !next.fire() {
		t.Fatal("the shared refresh was cancelled while a lookup still waits for it")
	}
	if err := receive(t, genuine, "the lookup still waiting"); err != nil {
		t.Fatalf("genuine lookup: %v", err)
	}
	if got := ts.count("/keys"); got != 3 {
		t.Fatalf("%d fetches, want 3", got)
	}
}

// A kid the latest fetch already looked for and did not find is refused
// without waiting.
func TestSet_RememberedMissingKidDoesNotWait(t *testing.T) {
	s, ts, ft, _, _ := waitSetup(t, Config{})
	for range 3 {
		if _, err := s.Key(ctxT(t), "forged"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Key(forged) again = %v, want ErrUnknownKey at once", err)
		}
	}
	noSchedule(t, ft)
	if got, st := ts.count("/keys"), s.Stats(); got != 2 || st.MissWaits != 0 || st.MissesLimited != 3 {
		t.Fatalf("%d fetches, Stats %+v; want 2 fetches, no wait, 3 limited", got, st)
	}
}

// A kid is remembered by the fetch that looked for it, as it publishes its
// answer, not by the lookup that started it when that lookup reads the
// answer: a flood whose calls give up (cancelled RPCs, short deadlines)
// before the fetch answers otherwise has the same forged kid never
// remembered, and every later call of it waits for, and triggers, another
// fetch. Here the starter is gone and a lookup of the same kid, which
// joined the fetch, is refused at once once it answers.
func TestSet_KidIsRememberedEvenWhenTheLookupThatStartedTheFetchGaveUp(t *testing.T) {
	s, ts, ft, _, joined := joinSetup(t, Config{}, 1)

	ts.holdRequests()
	ctx, cancel := context.WithCancel(context.Background())
	starter := keyAsync(ctx, s, "forged")
	ts.waitEntered(t, "/keys")
	joiner := keyAsync(ctxT(t), s, "forged")
	receive(t, joined, "the second lookup to join the fetch")
	cancel()
	if err := receive(t, starter, "the lookup that gave up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("starter = %v, want context.Canceled", err)
	}
	ts.release()
	refusedAtOnce(t, ft, joiner, "the joiner")
	if _, err := s.Key(ctxT(t), "forged"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(forged) again = %v, want ErrUnknownKey at once", err)
	}
	noSchedule(t, ft)
	if got := ts.count("/keys"); got != 2 {
		t.Fatalf("%d fetches, want 2", got)
	}
}

// The kids a shared refresh will look for are those of the lookups still
// waiting for it: a flood of calls that wait and give up at once, one after
// another, while one call keeps the refresh scheduled, takes no memory
// beyond the slots in use.
func TestSet_WaitersThatGiveUpLeaveNoKidBehind(t *testing.T) {
	s, _, ft, _, waiting := waitSetup(t, Config{MaxWaiters: 2})
	parked := keyAsync(ctxT(t), s, "parked")
	receive(t, waiting, "a lookup to wait")
	next := ft.nextAfter(t)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 100 {
		if _, err := s.Key(gone, fmt.Sprintf("forged-%d", i)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Key with a cancelled ctx = %v, want context.Canceled", err)
		}
		receive(t, waiting, "a lookup to wait")
	}
	s.mu.Lock()
	kids := len(s.next.kids)
	s.mu.Unlock()
	if kids != 1 {
		t.Fatalf("the shared refresh looks for %d kids, want 1 (the one waiting)", kids)
	}
	next.fire()
	if err := receive(t, parked, "the waiting lookup"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("parked = %v, want ErrUnknownKey", err)
	}
}

// refusedAtOnce asserts that the lookup (what) delivering on errc is
// ErrUnknownKey without waiting for another fetch: no rate-limited refresh
// is scheduled for it.
func refusedAtOnce(t *testing.T, ft *fakeTimers, errc <-chan error, what string) {
	t.Helper()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("%s = %v, want ErrUnknownKey at once", what, err)
		}
	case fa := <-ft.afters:
		t.Fatalf("%s waits %v for another fetch of a kid the latest fetch looked for", what, fa.d)
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// A waiting lookup that gives up after the shared refresh has started
// leaves its kid with the fetch, which remembers it as it answers: a flood
// of calls whose deadlines end while the issuer answers is refused at once
// next time, rather than waiting for, and triggering, another fetch.
func TestSet_WaiterThatGivesUpAfterTheRefreshStartedLeavesItsKidRemembered(t *testing.T) {
	s, ts, ft, _, waiting := waitSetup(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	waiter := keyAsync(ctx, s, "late")
	receive(t, waiting, "a lookup to wait")
	ts.holdRequests()
	if !ft.nextAfter(t).fire() {
		t.Fatal("the shared refresh was stopped before it fired")
	}
	ts.waitEntered(t, "/keys")
	cancel()
	if err := receive(t, waiter, "the lookup that gave up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter = %v, want context.Canceled", err)
	}
	ts.release()
	refusedAtOnce(t, ft, keyAsync(ctxT(t), s, "late"), "Key(late) after the shared refresh")
	if got := ts.count("/keys"); got != 3 {
		t.Fatalf("%d fetches, want 3 (first, forged, shared refresh)", got)
	}
}

// A lookup that joined a fetch which started before it arrived looks again
// once that fetch answers; a fetch in flight it then joins started after
// it arrived, so that fetch's answer is its answer, and the fetch
// remembers its kid as it answers, also when the lookup has given up by
// then.
func TestSet_LookupThatJoinsAFreshFetchOnItsSecondLookHasItsKidRemembered(t *testing.T) {
	s, ts, ft, clock := loadedSet(t, Config{})
	joined, secondLook := make(chan struct{}, 2), make(chan struct{})
	joins := 0 // only the lookup of "forged" joins
	s.onJoin = func() {
		joined <- struct{}{}
		if joins++; joins == 1 {
			<-secondLook // it reads the stale answer once the test says so
		}
	}

	ts.holdRequests()
	first := keyAsync(ctxT(t), s, "x")
	ts.waitEntered(t, "/keys")
	ctx, cancel := context.WithCancel(context.Background())
	forged := keyAsync(ctx, s, "forged")
	receive(t, joined, "the lookup of forged to join the fetch it did not start")
	ts.release()
	if err := receive(t, first, "Key(x)"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(x) = %v, want ErrUnknownKey", err)
	}
	clock.Advance(10 * time.Second) // the rate limit allows the next miss fetch
	ts.holdRequests()
	second := keyAsync(ctxT(t), s, "y")
	ts.waitEntered(t, "/keys")
	close(secondLook)
	receive(t, joined, "the lookup of forged to join the fetch Key(y) started")
	cancel()
	if err := receive(t, forged, "the lookup that gave up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Key(forged) = %v, want context.Canceled", err)
	}
	ts.release()
	if err := receive(t, second, "Key(y)"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(y) = %v, want ErrUnknownKey", err)
	}
	refusedAtOnce(t, ft, keyAsync(ctxT(t), s, "forged"), "Key(forged) again")
	if got := ts.count("/keys"); got != 3 {
		t.Fatalf("%d fetches, want 3", got)
	}
}

// A scheduled background refresh that starts while lookups wait answers
// them (it is just as fresh), and the rate-limited refresh is cancelled.
func TestSet_BackgroundRefreshAnswersWaiters(t *testing.T) {
	s, ts, ft, _, waiting := waitSetup(t, Config{})
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "new"))
	genuine := keyAsync(ctxT(t), s, "new")
	receive(t, waiting, "the lookup to wait")
	next := ft.nextAfter(t)
	ft.refreshNow(t)
	if err := receive(t, genuine, "the waiting lookup"); err != nil {
		t.Fatalf("waiting lookup after the background refresh: %v", err)
	}
	if next.fire() {
		t.Fatal("the rate-limited refresh was not cancelled when another fetch answered its waiters")
	}
	if got := ts.count("/keys"); got != 3 {
		t.Fatalf("%d fetches, want 3", got)
	}
}

// Close releases waiting lookups at once and stops the shared timer (the
// package's goleak check would catch a leftover goroutine).
func TestSet_CloseReleasesWaiters(t *testing.T) {
	s, ts, ft, _, waiting := waitSetup(t, Config{})
	errc := keyAsync(context.Background(), s, "new")
	receive(t, waiting, "the lookup to wait")
	next := ft.nextAfter(t)
	s.Close()
	// No fetch looked for "new": the answer is not ErrUnknownKey (which
	// would tell the client its token is bad) but ErrUnavailable wrapping
	// ErrClosed.
	if err := receive(t, errc, "the waiting lookup after Close"); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key after Close = %v, want ErrUnavailable wrapping ErrClosed", err)
	}
	if next.fire() {
		t.Fatal("Close did not stop the shared timer")
	}
	if got := ts.count("/keys"); got != 2 {
		t.Fatalf("%d fetches, want 2", got)
	}
}

// Close also releases lookups whose shared refresh is already at the
// issuer: the fetch Close cancelled looked for nothing, so they get
// ErrClosed (the verifier's ErrClosed), not the cancelled request's error
// as if the issuer had failed, and the cancelled fetch is no failure.
func TestSet_CloseDuringTheSharedFetchReleasesWaitersWithErrClosed(t *testing.T) {
	s, ts, ft, _, waiting := waitSetup(t, Config{})
	errc := keyAsync(context.Background(), s, "new")
	receive(t, waiting, "the lookup to wait")
	ts.holdRequests()
	ft.nextAfter(t).fire()
	ts.waitEntered(t, "/keys")
	s.Close()
	if err := receive(t, errc, "the waiting lookup after Close"); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Key after Close = %v, want ErrUnavailable wrapping ErrClosed", err)
	}
	if st := s.Stats(); st.Failures != 0 || !st.LastFailure.IsZero() {
		t.Fatalf("Stats = %+v, want no failure: Close cancelled the fetch", st)
	}
}

// After Close no fetch can look for a new kid, inside the rate-limit
// window or out of it: a lookup racing Close is not told the token is bad.
func TestSet_UnknownKidAfterCloseIsErrClosedEvenWhenRateLimited(t *testing.T) {
	s, _, ft, clock, _ := waitSetup(t, Config{})
	s.Close()
	for _, advance := range []time.Duration{0, 10 * time.Second} {
		clock.Advance(advance)
		_, err := s.Key(ctxT(t), "new")
		if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Key(new) after Close, %v into the window = %v, want ErrUnavailable wrapping ErrClosed", advance, err)
		}
	}
	noSchedule(t, ft)
}

// An unknown kid whose fetch failed is the server's problem: ErrUnavailable,
// not ErrUnknownKey. Known kids keep being served from the last good set,
// and while the latest refresh has failed no lookup waits.
func TestSet_UnknownKidAfterFailedFetchIsUnavailable(t *testing.T) {
	failures := []struct {
		name string
		r    reply
	}{
		{"500", reply{status: 500}},
		{"bad body", reply{body: []byte("<html>maintenance</html>")}},
		{"connection dropped", reply{hang: true}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.setKeys(t, rsaJWK(t, 0, "a"))
			clock := newFakeClock()
			s, ft := startSet(t, Config{URL: ts.URL + "/keys", Now: clock.Now})
			ready(t, s)
			ts.set("/keys", f.r)

			_, err := s.Key(ctxT(t), "new") // starts a fetch, which fails
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "last good set") {
				t.Fatalf("unknown kid, failed fetch = %v, want ErrUnavailable naming the last good set", err)
			}
			if k, err := s.Key(ctxT(t), "a"); err != nil || k == nil {
				t.Fatalf("known kid while the issuer fails = %v, %v", k, err)
			}
			// Rate-limited now: answered at once, still ErrUnavailable.
			if _, err := s.Key(ctxT(t), "other"); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("rate-limited unknown kid after a failed fetch = %v, want ErrUnavailable", err)
			}
			noSchedule(t, ft)
			if got := s.Stats().Fetches; got != 2 { // not the server's count: the transport retries a dropped connection
				t.Fatalf("%d fetches, want 2", got)
			}
			// The issuer recovers: an unknown kid is the token's fault again.
			ts.setKeys(t, rsaJWK(t, 0, "a"))
			clock.Advance(DefaultMinRefreshInterval)
			if _, err := s.Key(ctxT(t), "new"); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("unknown kid after a good fetch = %v, want ErrUnknownKey", err)
			}
		})
	}
}

// An unknown kid after a successful fetch is the token's fault.
func TestSet_UnknownKidAfterGoodFetchIsUnknownKey(t *testing.T) {
	ts := newTestServer(t)
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	s, _ := startSet(t, Config{URL: ts.URL + "/keys"})
	ready(t, s)
	_, err := s.Key(ctxT(t), "nope")
	if !errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown kid after a good fetch = %v, want ErrUnknownKey only", err)
	}
	if got := ts.count("/keys"); got != 2 {
		t.Fatalf("%d fetches, want 2 (initial, miss)", got)
	}
}

// A failed refresh is logged differently before any set has loaded and
// while the last good set is kept.
func TestSet_FailureLogSaysWhetherAnySetLoaded(t *testing.T) {
	log, buf := capturingLogger()
	ts := newTestServer(t)
	ts.set("/keys", reply{status: 503})
	s, ft := startSet(t, Config{URL: ts.URL + "/keys", Logger: log})
	ft.peek(t)
	if logs := buf.String(); !strings.Contains(logs, "no key set has ever loaded") || strings.Contains(logs, "keeping the last good set") {
		t.Fatalf("failure before the first set:\n%s", logs)
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ft.refreshNow(t)
	ready(t, s)
	ts.set("/keys", reply{status: 503})
	ft.refreshNow(t)
	if logs := buf.String(); !strings.Contains(logs, "refresh failed; keeping the last good set") {
		t.Fatalf("failure after a good set:\n%s", logs)
	}
}

// A kid the latest refresh dropped was withdrawn by the issuer: a token
// naming it is refused at once, without waiting for another fetch.
func TestSet_KidRemovedByRefreshIsRefusedWithoutWaiting(t *testing.T) {
	s, ts, ft, clock, _ := waitSetup(t, Config{})
	ts.setKeys(t, rsaJWK(t, 1, "b"))
	clock.Advance(10 * time.Second)
	if k, err := s.Key(ctxT(t), "b"); err != nil || k == nil { // a miss fetch, which drops a
		t.Fatalf("Key(b) = %v, %v", k, err)
	}
	if _, err := s.Key(ctxT(t), "a"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(a) after a was withdrawn = %v, want ErrUnknownKey at once", err)
	}
	noSchedule(t, ft)
	if st := s.Stats(); st.MissWaits != 0 || st.Fetches != 3 {
		t.Fatalf("Stats = %+v, want no wait and 3 fetches", st)
	}
}

// Waiting lookups cost no goroutine beyond their callers': the set starts
// none per waiter, and none at all until the shared refresh fires.
func TestSet_WaitersCostNoGoroutineOfTheirOwn(t *testing.T) {
	s, _, ft, _, waiting := waitSetup(t, Config{})
	const waiters = 40
	before := runtime.NumGoroutine()
	var results []<-chan error
	for i := range waiters {
		results = append(results, keyAsync(ctxT(t), s, fmt.Sprintf("w-%d", i)))
	}
	for range waiters {
		receive(t, waiting, "a lookup to wait")
	}
	// At most: a goroutine of the test's servers may end meanwhile.
	if got := runtime.NumGoroutine() - before; got > waiters {
		t.Fatalf("%d waiting lookups run %d more goroutines, want at most their own %d", waiters, got, waiters)
	}
	ft.nextAfter(t).fire()
	for _, c := range results {
		if err := receive(t, c, "a waiting lookup"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("waiting lookup = %v, want ErrUnknownKey", err)
		}
	}
}

// The error of a lookup says, as the failure log does, whether any set has
// ever loaded: it reaches the decision log (KEYS_UNAVAILABLE), where an
// operator must tell an issuer never reached from one that stopped
// answering.
func TestSet_UnavailableErrorSaysWhetherAnySetLoaded(t *testing.T) {
	ts := newTestServer(t)
	ts.set("/keys", reply{status: 503})
	s, ft := startSet(t, Config{URL: ts.URL + "/keys"})
	ft.peek(t)
	for _, kid := range []string{"", "a"} {
		_, err := s.Key(ctxT(t), kid)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no key set has ever loaded") || !strings.Contains(err.Error(), "503") {
			t.Errorf("kid %q before any set loaded: %v, want ErrUnavailable saying no set has ever loaded, with the last fetch's error", kid, err)
		}
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"))
	ft.refreshNow(t)
	ready(t, s)
	ts.set("/keys", reply{status: 503})
	ft.refreshNow(t)
	_, err := s.Key(ctxT(t), "b")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not in the last good set") || strings.Contains(err.Error(), "ever loaded") {
		t.Errorf("unknown kid while the last good set is kept: %v", err)
	}
}

// pausedSet is a loaded set on a fake clock whose latest fetch, for the
// unknown kid "new", the issuer answered with status and Retry-After
// retryAfter; the issuer then publishes "new". scheduled is the background
// refresh's pending wait.
func pausedSet(t *testing.T, cfg Config, status int, retryAfter string) (s *Set, ts *testServer, clock *fakeClock, ft *fakeTimers, scheduled *fakeTimer) {
	t.Helper()
	return pausedSetWith(t, cfg, status, func(time.Time) map[string]string { return map[string]string{"Retry-After": retryAfter} })
}

// pausedSetWith is pausedSet with the headers header returns for the
// clock's time when the issuer answers.
func pausedSetWith(t *testing.T, cfg Config, status int, header func(now time.Time) map[string]string) (s *Set, ts *testServer, clock *fakeClock, ft *fakeTimers, scheduled *fakeTimer) {
	t.Helper()
	s, ts, clock, ft, scheduled = scheduledSet(t, cfg, rsaJWK(t, 0, "a"))
	ts.set("/keys", reply{status: status, header: header(clock.Now())})
	if _, err := s.Key(ctxT(t), "new"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Key(new) = %v, want ErrUnavailable", err)
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "new"))
	return s, ts, clock, ft, scheduled
}

// An issuer that answered an unknown kid's fetch with 429 or 503 and a
// Retry-After is not asked again for unknown kids before it has passed,
// however many arrive: RFC 9110, 10.2.3 and RFC 6585, 4 ask clients to
// wait, and a flood of forged kids would otherwise hit a rate-limiting
// issuer once per MinRefreshInterval. Lookups meanwhile get ErrUnavailable
// at once (the latest refresh failed). A genuine rotation is then picked up
// by the first lookup after the Retry-After.
func TestSet_UnknownKidFetchesWaitForTheRetryAfter(t *testing.T) {
	s, ts, clock, _, _ := pausedSet(t, Config{}, 429, "120")
	var elapsed time.Duration
	for _, d := range []time.Duration{DefaultMinRefreshInterval, time.Minute, 49 * time.Second} { // 119 s in all
		clock.Advance(d)
		elapsed += d
		if _, err := s.Key(ctxT(t), "new"); !errors.Is(err, ErrUnavailable) || ts.count("/keys") != 2 {
			t.Fatalf("%v into a Retry-After of 120s: Key(new) = %v after %d fetches, want ErrUnavailable without a third",
				elapsed, err, ts.count("/keys"))
		}
	}
	clock.Advance(time.Second)
	if k, err := s.Key(ctxT(t), "new"); err != nil || k.ID != "new" || ts.count("/keys") != 3 {
		t.Fatalf("after the Retry-After: Key(new) = %v, %v after %d fetches, want the new key from a third", k, err, ts.count("/keys"))
	}
}

// A Retry-After holds unknown kids' fetches back no longer than the
// background refresh's back-off cap (5 minutes, and RefreshInterval): an
// issuer asking for a day, by mistake or by an attacker's doing on its
// path, does not block key rotation for a day. A clock set back does not
// stretch it either.
func TestSet_UnknownKidFetchesWaitForTheRetryAfterWithinTheCap(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   Config
		limit time.Duration
	}{
		{"default", Config{}, backoffMax},
		{"short RefreshInterval", Config{RefreshInterval: time.Minute}, time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, ts, clock, _, _ := pausedSet(t, tt.cfg, 503, "86400")
			clock.Advance(tt.limit - time.Second)
			if _, err := s.Key(ctxT(t), "new"); !errors.Is(err, ErrUnavailable) || ts.count("/keys") != 2 {
				t.Fatalf("just before the cap: Key(new) = %v after %d fetches, want ErrUnavailable without a third", err, ts.count("/keys"))
			}
			clock.Advance(time.Second)
			if _, err := s.Key(ctxT(t), "new"); err != nil || ts.count("/keys") != 3 {
				t.Fatalf("at the cap: Key(new) = %v after %d fetches, want the new key from a third", err, ts.count("/keys"))
			}
		})
	}
	t.Run("clock set back", func(t *testing.T) {
		s, ts, clock, _, _ := pausedSet(t, Config{}, 429, "120")
		clock.Advance(-time.Hour)
		if _, err := s.Key(ctxT(t), "new"); err != nil || ts.count("/keys") != 3 {
			t.Fatalf("clock an hour back: Key(new) = %v after %d fetches, want the new key from a third", err, ts.count("/keys"))
		}
	})
}

// Okta answers a 429 with X-Rate-Limit-Reset, the Unix time its rate-limit
// window resets, and no Retry-After: no unknown kid's fetch starts before
// that time (by Config.Now), however many forged kids arrive meanwhile
// (each refused at once, ErrUnavailable), where MinRefreshInterval alone
// would let one through every 10 s. A reset a day away holds them back no
// longer than a Retry-After of a day would (backoffMax, and
// RefreshInterval): after it, the first lookup fetches, and the lookups of
// the new key that come with it share that one fetch.
func TestSet_UnknownKidFetchesWaitForOktasRateLimitReset(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   Config
		reset time.Duration // from the 429
		want  time.Duration // how long no fetch starts
	}{
		{"reset in 2 min", Config{}, 2 * time.Minute, 2 * time.Minute},
		{"reset a day away: the cap", Config{}, 24 * time.Hour, backoffMax},
		{"reset a day away, short RefreshInterval: the cap", Config{RefreshInterval: time.Minute}, 24 * time.Hour, time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, ts, clock, _, _ := pausedSetWith(t, tt.cfg, 429, func(now time.Time) map[string]string {
				return map[string]string{"X-Rate-Limit-Reset": strconv.FormatInt(now.Add(tt.reset).Unix(), 10)}
			})
			clock.Advance(min(DefaultMinRefreshInterval, tt.want-time.Second))
			refused := func(err error) bool { return errors.Is(err, ErrUnavailable) }
			lookups(t, s, 1, func(int) string { return "forged" }, refused) // alone: the rate limit would allow a fetch
			lookups(t, s, 32, func(i int) string { return fmt.Sprintf("forged-%d", i) }, refused)
			clock.Advance(tt.want - time.Second - min(DefaultMinRefreshInterval, tt.want-time.Second))
			lookups(t, s, 1, func(int) string { return "new" }, refused)
			if n := ts.count("/keys"); n != 2 {
				t.Fatalf("a second before the pause ends: %d fetches, want none after the 429 (2)", n)
			}
			clock.Advance(time.Second)
			lookups(t, s, 32, func(int) string { return "new" }, func(err error) bool { return err == nil })
			if n := ts.count("/keys"); n != 3 {
				t.Fatalf("after the pause: %d fetches, want one shared by every lookup (3)", n)
			}
		})
	}
}

// lookups looks n kids up at once in s, kid(i) for the i-th, and fails t
// unless ok holds for every answer. It takes every answer first (each
// lookup ends with ctxT's deadline at the latest), so that none is left
// running into the Set's Close.
func lookups(t *testing.T, s *Set, n int, kid func(int) string, ok func(error) bool) {
	t.Helper()
	ctx, errc := ctxT(t), make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.Key(ctx, kid(i))
			errc <- err
		}()
	}
	var bad []error
	for range n {
		if err := <-errc; !ok(err) {
			bad = append(bad, err)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%d of %d lookups answered otherwise, the first: %v", len(bad), n, bad[0])
	}
}

// A fetch the issuer answers without Retry-After ends the pause an earlier
// one asked for: it binds only while it is the latest answer.
func TestSet_AnAnswerWithoutRetryAfterEndsThePause(t *testing.T) {
	s, ts, clock, ft, scheduled := pausedSet(t, Config{}, 429, "120")
	// A refresh answered within the Retry-After by Config.Now: the
	// scheduled one, whose wait for the Retry-After's end also ends once
	// its timers add up to it, which a Now of the caller's need not
	// follow. The issuer serves again.
	clock.Advance(30 * time.Second)
	scheduled.span(t, nil)
	if got := ft.next(t).span(t, nil); got != 90*time.Second {
		t.Fatalf("scheduled refresh waits %v, want the Retry-After's remaining 90s", got)
	}
	ft.next(t) // the fetch is done
	if n := ts.count("/keys"); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "new2"))
	if _, err := s.Key(ctxT(t), "new2"); err != nil || ts.count("/keys") != 4 {
		t.Fatalf("Key(new2) = %v after %d fetches, want the new key from a fourth", err, ts.count("/keys"))
	}
}

// A fetch's error is published with its snapshot, in one critical section:
// a lookup made between a fetch's answer and its publication sees the set
// as it was before that fetch, its latest error included. Before, a
// successful fetch cleared the error of the failed fetch before it
// published its keys, so a lookup refused past the cap in between got
// ErrUnknownKey (the token's fault) for a kid that fetch had just found,
// where the published state (the latest refresh failed) says
// ErrUnavailable.
func TestSet_FetchErrorIsPublishedWithItsSnapshot(t *testing.T) {
	s, ts, ft, clock, joined := joinSetup(t, Config{MaxWaiters: 1}, 1)
	ts.set("/keys", reply{status: 503})
	if _, err := s.Key(ctxT(t), "x"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown kid, failed fetch = %v, want ErrUnavailable", err)
	}
	answered, proceed := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(proceed) }) }
	t.Cleanup(release) // before the Set's Close, which waits for the fetch
	s.onResult = func() {
		answered <- struct{}{}
		<-proceed
	}
	clock.Advance(10 * time.Second)
	ts.setKeys(t, rsaJWK(t, 0, "a"), rsaJWK(t, 1, "new"))
	ts.holdRequests()
	starter := keyAsync(ctxT(t), s, "y")
	ts.waitEntered(t, "/keys")
	joiner := keyAsync(ctxT(t), s, "j") // takes the one slot
	receive(t, joined, "a lookup to join")
	ts.release()
	receive(t, answered, "the fetch to have its answer")

	// The fetch found "new" but has not published it: past the cap, the
	// answer is the published state's, whose latest refresh failed.
	_, err := s.Key(ctxT(t), "new")
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key past the cap before the fetch published its result = %v, want ErrUnavailable", err)
	}
	release()
	if err := receive(t, starter, "the lookup that started the fetch"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("starter = %v, want ErrUnknownKey", err)
	}
	ft.nextAfter(t).fire() // the joiner's fetch started before it arrived: it waits for a fresh one
	if err := receive(t, joiner, "the lookup that joined the fetch"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("joiner = %v, want ErrUnknownKey", err)
	}
	if k, err := s.Key(ctxT(t), "new"); err != nil || k == nil {
		t.Fatalf("Key(new) once published = %v, %v", k, err)
	}
}
