package closetest

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// Transport is an http.RoundTripper whose requests outlive their
// cancellation: each waits for its context to end, then for Release, as a
// transport slow to notice a cancellation does. Shutting down a client of
// it is complete only once its requests have returned.
type Transport struct {
	entered   chan struct{} // closed when the first request arrives
	cancelled chan struct{} // closed when the first request's context ends
	release   chan struct{} // closed to let requests return
	once      [2]sync.Once
	inside    atomic.Int64 // requests not yet returned
}

// NewTransport returns a Transport holding every request.
func NewTransport() *Transport {
	return &Transport{entered: make(chan struct{}), cancelled: make(chan struct{}), release: make(chan struct{})}
}

// RoundTrip holds r until its context has ended and Release was closed,
// then fails with the context's error.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.inside.Add(1)
	defer t.inside.Add(-1)
	t.once[0].Do(func() { close(t.entered) })
	<-r.Context().Done()
	t.once[1].Do(func() { close(t.cancelled) })
	<-t.release
	return nil, r.Context().Err()
}

// Entered is closed when the first request has arrived.
func (t *Transport) Entered() <-chan struct{} { return t.entered }

// SecondCloseWaits calls closeFn, and once that call has cancelled the
// requests held by tr (one must be in flight), calls it again while the
// requests are released concurrently. The second call must return nil, and
// only once no request is left: a Close that returns while another still
// stops the goroutines they run leaves those goroutines to its caller.
func SecondCloseWaits(t testing.TB, tr *Transport, closeFn func() error) {
	t.Helper()
	first := make(chan error, 1)
	go func() { first <- closeFn() }()
	<-tr.cancelled // the first Close has begun and waits for the request
	go close(tr.release)
	if err := closeFn(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := tr.inside.Load(); n != 0 {
		t.Errorf("a second Close returned while the first still waited for %d request(s)", n)
	}
	if err := <-first; err != nil {
		t.Errorf("first Close: %v", err)
	}
}
