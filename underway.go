package grpcauth

import (
	"context"
	"sync"
)

// underWay holds, by key, the work under way, so that callers can wait
// for it to end, each within its own context: begin waits for the work
// under way on its key, so that there is at most one per key, and wait
// for the work under way on any of the keys it matches. The work is the
// caller's: it runs it between begin and end, on its goroutine or
// another, and handles the work's panics and runtime.Goexit itself,
// calling end however the work ends (a deferred end does). It serves
// attempts (a build of a file, or a read of a descriptor's options: one
// at a time per descriptor), readsUnderWay (every read of options, each
// under a number of its own, waited for all together) and
// Authenticator.descriptorReads (Check's and Requirement's reads of
// descriptors: one at a time per service).
//
// A waiting call whose context ends returns its context's error, and
// leaves the work and the other callers waiting for it as they were.
// Work no caller waits for allocates nothing but its map entry (New reads
// every option): the channel its end closes is made by the first caller
// that waits for it. The zero underWay is empty and ready to use.
type underWay[K comparable] struct {
	mu sync.Mutex
	// works holds the keys whose work is under way, each with the
	// channel closed as it ends: nil until a caller waits for it.
	works map[K]chan struct{}
}

// begin records work on key as under way once no work on key is, waiting
// for the work under way first, and returns nil; the caller must call
// end(key) once its work ends. It returns ctx's error, and records
// nothing, when ctx ends while work on key is still under way. A ctx
// that has ended already does not stop a begin whose key has no work
// under way.
func (u *underWay[K]) begin(ctx context.Context, key K) error {
	for {
		u.mu.Lock()
		if _, busy := u.works[key]; !busy {
			if u.works == nil {
				u.works = make(map[K]chan struct{})
			}
			u.works[key] = nil
			u.mu.Unlock()
			return nil
		}
		if err := u.waitFor(ctx, key); err != nil {
			return err
		}
	}
}

// end records the end of the work on key that begin recorded, releases
// the callers waiting for it, and returns how many keys are left with
// work under way.
func (u *underWay[K]) end(key K) (left int) {
	u.mu.Lock()
	ended := u.works[key]
	delete(u.works, key)
	left = len(u.works)
	u.mu.Unlock()
	if ended != nil {
		close(ended)
	}
	return left
}

// wait returns nil once no key that matches has work under way, or ctx's
// error when ctx ends before. Work begun while it waits holds it up only
// if its key matches too: matches that no later key meets (readsUnderWay's
// numbers up to one) wait only for the work begun before.
func (u *underWay[K]) wait(ctx context.Context, matches func(K) bool) error {
	for {
		u.mu.Lock()
		var (
			key   K
			found bool
		)
		for k := range u.works {
			if matches(k) {
				key, found = k, true
				break
			}
		}
		if !found {
			u.mu.Unlock()
			return nil
		}
		if err := u.waitFor(ctx, key); err != nil {
			return err
		}
	}
}

// waitFor, called with u.mu held while work on key is under way, unlocks
// u.mu and waits until that work ends or ctx ends. It returns ctx's
// error, at once, when ctx has ended already; otherwise nil, also when ctx
// ends while it waits: the caller then looks again, under u.mu, and gets
// ctx's error here only if the work is still under way.
func (u *underWay[K]) waitFor(ctx context.Context, key K) error {
	if err := ctx.Err(); err != nil {
		u.mu.Unlock()
		return err
	}
	ended := u.works[key]
	if ended == nil {
		ended = make(chan struct{})
		u.works[key] = ended
	}
	u.mu.Unlock()
	select {
	case <-ended:
	case <-ctx.Done():
	}
	return nil
}

// len returns how many keys have work under way.
func (u *underWay[K]) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.works)
}
