package grpcauth

import (
	"context"
	"errors"
	"runtime"
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
