package grpcauth

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// Each test runs in a synctest bubble: synctest.Wait returns once every
// other goroutine of the bubble is blocked (a waiter in its select), and
// the bubble ends only once every goroutine it started has returned, so
// that a waiter left blocked for good (a leak) fails the test as a
// deadlock.

// returned reports whether the call whose error comes on ch (buffered,
// of one) has returned, without taking its error.
func returned(ch <-chan error) bool { return len(ch) > 0 }

// beginAsync calls u.begin(ctx, key) on a goroutine of its own, and sends
// its error on the channel returned.
func beginAsync[K comparable](u *underWay[K], ctx context.Context, key K) <-chan error {
	done := make(chan error, 1)
	go func() { done <- u.begin(ctx, key) }()
	return done
}

// Work on a key is one at a time: callers that begin while it is under
// way wait for its end, and then begin one after another; work on other
// keys does not wait.
func TestUnderWay_BeginWaitsForTheKeysWorkUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u underWay[string]
		if err := u.begin(t.Context(), "a"); err != nil {
			t.Fatalf("begin on a free key: %v", err)
		}
		if err := u.begin(t.Context(), "b"); err != nil {
			t.Fatalf("begin on another key while a's work is under way: %v", err)
		}
		first, second := beginAsync(&u, t.Context(), "a"), beginAsync(&u, t.Context(), "a")
		synctest.Wait()
		if returned(first) || returned(second) {
			t.Fatal("a begin returned while its key's work was under way")
		}
		if left := u.end("a"); left != 1 {
			t.Errorf("end left %d keys under way, want 1 (b)", left)
		}
		synctest.Wait()
		// One of the two begins now; the other waits for its end.
		next, other := first, second
		if !returned(first) {
			next, other = second, first
		}
		if returned(other) {
			t.Fatal("two callers waiting on a key both began once its work ended")
		}
		if err := <-next; err != nil {
			t.Errorf("the first waiter: %v", err)
		}
		u.end("a")
		if err := <-other; err != nil {
			t.Errorf("the second waiter: %v", err)
		}
		u.end("a")
		u.end("b")
		if n := u.len(); n != 0 {
			t.Errorf("%d keys left under way, want 0", n)
		}
	})
}

// A waiter whose context ends returns its context's error, and only it:
// the work stays under way, and the other waiters keep waiting for it.
func TestUnderWay_AWaitersEndedContextEndsOnlyThatWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u underWay[int]
		if err := u.begin(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		ended := beginAsync(&u, ctx, 1)
		waiting := beginAsync(&u, t.Context(), 1)
		waited := make(chan error, 1)
		go func() { waited <- u.wait(ctx, func(k int) bool { return k == 1 }) }()
		synctest.Wait()
		cancel()
		synctest.Wait()
		if err := <-ended; !errors.Is(err, context.Canceled) {
			t.Errorf("begin whose context ended = %v, want context.Canceled", err)
		}
		if err := <-waited; !errors.Is(err, context.Canceled) {
			t.Errorf("wait whose context ended = %v, want context.Canceled", err)
		}
		if returned(waiting) {
			t.Fatal("a waiter returned as another waiter's context ended")
		}
		if n := u.len(); n != 1 {
			t.Fatalf("%d keys under way after a waiter left, want 1", n)
		}
		u.end(1)
		if err := <-waiting; err != nil {
			t.Errorf("the waiter left waiting: %v", err)
		}
		u.end(1)
	})
}

// A context that has ended already fails a begin only when the key's
// work is under way (noWait in options relies on it), and at once.
func TestUnderWay_EndedContextFailsOnlyABeginThatWouldWait(t *testing.T) {
	var u underWay[int]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := u.begin(ctx, 1); err != nil {
		t.Fatalf("begin on a free key with an ended context: %v", err)
	}
	if err := u.begin(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("begin on a busy key with an ended context = %v, want context.Canceled", err)
	}
	u.end(1)
	if n := u.len(); n != 0 {
		t.Errorf("%d keys under way, want 0", n)
	}
}

// Work that panics, or ends its goroutine (runtime.Goexit), releases its
// waiters through its deferred end, as every caller ends it.
func TestUnderWay_WorkThatPanicsOrExitsReleasesItsWaiters(t *testing.T) {
	for _, exits := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			var u underWay[string]
			if err := u.begin(t.Context(), "k"); err != nil {
				t.Fatal(err)
			}
			release := make(chan struct{})
			workEnded := make(chan any, 1)
			go func() {
				defer func() { workEnded <- recover() }()
				defer u.end("k")
				<-release
				if exits {
					runtime.Goexit()
				}
				panic("the work's panic")
			}()
			waiter := beginAsync(&u, t.Context(), "k")
			waited := make(chan error, 1)
			go func() { waited <- u.wait(t.Context(), func(string) bool { return true }) }()
			synctest.Wait()
			close(release)
			if v := <-workEnded; (v == nil) != exits {
				t.Errorf("exits %v: the work's recover saw %v", exits, v)
			}
			if err := <-waiter; err != nil {
				t.Errorf("exits %v: begin after the work ended: %v", exits, err)
			}
			// wait may see the waiter's own work, which it ends now.
			u.end("k")
			if err := <-waited; err != nil {
				t.Errorf("exits %v: wait: %v", exits, err)
			}
		})
	}
}

// wait waits for the work on the keys it matches only, also when work on
// a key it does not match begins while it waits.
func TestUnderWay_WaitIsNotHeldUpByKeysItDoesNotMatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u underWay[uint64]
		for _, n := range []uint64{1, 2, 3} {
			if err := u.begin(t.Context(), n); err != nil {
				t.Fatal(err)
			}
		}
		waited := make(chan error, 1)
		go func() { waited <- u.wait(t.Context(), func(n uint64) bool { return n <= 2 }) }()
		synctest.Wait()
		if err := u.begin(t.Context(), 4); err != nil {
			t.Fatal(err)
		}
		u.end(2)
		synctest.Wait()
		if returned(waited) {
			t.Fatal("wait returned while work it matches (1) was under way")
		}
		u.end(1)
		if err := <-waited; err != nil {
			t.Errorf("wait: %v", err)
		}
		if left := u.end(3); left != 1 {
			t.Errorf("end left %d keys under way, want 1 (4)", left)
		}
		u.end(4)
	})
}

// Callers of attempts.do with a key whose attempt is under way share its
// run: its failure, or exited for an attempt that panics, reaches them
// kept, without attempting again; a caller whose context ends while it
// waits gets errWaitEnded, and is alone in that.
func TestAttempts_WaitersShareOneRun(t *testing.T) {
	exited := errors.New("exited")
	failure := errors.New("failure")
	for _, panics := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			var at attempts[string]
			release := make(chan struct{})
			var calls atomic.Int32
			first := make(chan error, 1)
			go func() {
				defer func() {
					if v := recover(); v != nil {
						first <- exited
					}
				}()
				first <- at.do(t.Context(), "k", exited, func() error {
					calls.Add(1)
					<-release
					if panics {
						panic("the attempt's panic")
					}
					return failure
				})
			}()
			synctest.Wait()
			ctx, cancel := context.WithCancel(t.Context())
			doAsync := func(ctx context.Context) <-chan error {
				done := make(chan error, 1)
				go func() {
					done <- at.do(ctx, "k", exited, func() error { calls.Add(1); return nil })
				}()
				return done
			}
			ended, waiters := doAsync(ctx), []<-chan error{doAsync(t.Context()), doAsync(t.Context())}
			synctest.Wait()
			cancel()
			if err := <-ended; !errors.Is(err, errWaitEnded) || !errors.Is(err, context.Canceled) {
				t.Errorf("panics %v: do whose context ended = %v, want errWaitEnded and context.Canceled", panics, err)
			}
			close(release)
			want := failure
			if panics {
				want = exited
			}
			if err := <-first; err != want {
				t.Errorf("panics %v: the attempt's caller got %v, want %v", panics, err, want)
			}
			for _, w := range waiters {
				if err := <-w; err != want {
					t.Errorf("panics %v: a waiter got %v, want %v", panics, err, want)
				}
			}
			if calls.Load() != 1 {
				t.Errorf("panics %v: %d attempts, want 1", panics, calls.Load())
			}
			if n := at.running.len(); n != 0 {
				t.Errorf("panics %v: %d attempts left under way", panics, n)
			}
		})
	}
}

// endsAsAsked is a context that ends while its waiter has let go of
// underWay's mutex: the first call of Done (in waitFor's select) reports
// it on asked, and returns, as an ended context's, only once answer is
// closed; Err reports the context ended from then on.
type endsAsAsked struct {
	context.Context
	once          sync.Once
	asked, answer chan struct{}
}

func newEndsAsAsked() *endsAsAsked {
	return &endsAsAsked{Context: context.Background(), asked: make(chan struct{}), answer: make(chan struct{})}
}

func (c *endsAsAsked) Done() <-chan struct{} {
	c.once.Do(func() {
		close(c.asked)
		<-c.answer
	})
	return c.answer
}

func (c *endsAsAsked) Err() error {
	select {
	case <-c.answer:
		return context.Canceled
	default:
		return nil
	}
}

// A waiter whose context ends as the work it waits for ends (both ready
// in its select) looks again, and finds the key free: begin records its
// work, and wait returns nil, whichever of the two its select took.
func TestUnderWay_ContextEndingAsTheWorkEndsLooksAgain(t *testing.T) {
	for range 20 { // the select takes either at random
		var u underWay[int]
		if err := u.begin(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		ctx := newEndsAsAsked()
		go func() { got <- u.begin(ctx, 1) }()
		<-ctx.asked
		u.end(1)
		close(ctx.answer)
		if err := <-got; err != nil {
			t.Fatalf("begin: %v, want nil (the key is free)", err)
		}
		ctx = newEndsAsAsked()
		go func() { got <- u.wait(ctx, func(int) bool { return true }) }()
		<-ctx.asked
		u.end(1)
		close(ctx.answer)
		if err := <-got; err != nil {
			t.Fatalf("wait: %v, want nil (no work under way)", err)
		}
	}
}

// attempts keeps an attempt's failure, also exited for one that panics or
// ends its goroutine, while its key is still recorded as under way: the
// end that releases the waiters comes after, so that none of them finds
// the key free and no failure kept, and attempts again.
func TestAttempts_FailureIsKeptBeforeTheWaitersAreReleased(t *testing.T) {
	exited, failure := errors.New("exited"), errors.New("failure")
	for _, ends := range []string{"fails", "panics", "exits"} {
		underWayAsKept := make(chan int, 1)
		at := &attempts[string]{}
		// bounded is asked as the failure is kept.
		at.bounded = func(string, error) (int, bool) {
			underWayAsKept <- at.running.len()
			return 0, false
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() { _ = recover() }()
			_ = at.do(t.Context(), "k", exited, func() error {
				switch ends {
				case "panics":
					panic("the attempt's panic")
				case "exits":
					runtime.Goexit()
				}
				return failure
			})
		}()
		if n := <-underWayAsKept; n != 1 {
			t.Errorf("%s: %d attempts under way as the failure was kept, want 1 (its own)", ends, n)
		}
		<-done
		want := failure
		if ends != "fails" {
			want = exited
		}
		if err := at.kept("k"); err != want {
			t.Errorf("%s: kept %v, want %v", ends, err, want)
		}
		if n := at.running.len(); n != 0 {
			t.Errorf("%s: %d attempts left under way", ends, n)
		}
	}
}

// readsUnderWay under churn: a wait for the reads numbered up to last
// returns nil only once each of them has ended, however reads begin and
// end around it. It fails when begin records its read in underWay after
// letting go of r.mu (end may then report a last whose read wait does not
// see yet): not every run, as that takes the race.
func TestReadsUnderWay_WaitReturnsOnlyOnceEveryEarlierReadEnded(t *testing.T) {
	const goroutines, reads = 16, 100
	var (
		r      readsUnderWay
		ending [goroutines*reads + 1]atomic.Bool // set as each read ends
		wg     sync.WaitGroup
	)
	for g := range goroutines {
		wg.Go(func() {
			for i := range reads {
				n := r.begin()
				runtime.Gosched()
				ending[n].Store(true)
				last, _ := r.end(n)
				ctx, cancel := context.WithCancel(t.Context())
				if (g+i)%4 == 0 {
					go cancel()
				}
				if err := r.wait(ctx, last); err == nil {
					for k := uint64(1); k <= last; k++ {
						if !ending[k].Load() {
							t.Errorf("the wait for reads up to %d returned before read %d ended", last, k)
							break
						}
					}
				} else if !errors.Is(err, context.Canceled) {
					t.Errorf("wait: %v", err)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	if n := r.underWay(); n != 0 {
		t.Errorf("%d reads left under way", n)
	}
}
