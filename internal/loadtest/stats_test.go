package loadtest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
)

// sampler records the peak goroutine count and heap while the load runs.
type sampler struct {
	peakGoroutines atomic.Int64
	peakHeap       atomic.Uint64 // runtime.MemStats.HeapAlloc
	samples        atomic.Int64
	done           chan struct{}
}

// startSampler samples every interval until ctx ends; wait for done after.
func startSampler(ctx context.Context, interval time.Duration) *sampler {
	s := &sampler{done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.sample()
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	g := int64(runtime.NumGoroutine())
	for old := s.peakGoroutines.Load(); g > old && !s.peakGoroutines.CompareAndSwap(old, g); old = s.peakGoroutines.Load() {
	}
	for old := s.peakHeap.Load(); ms.HeapAlloc > old && !s.peakHeap.CompareAndSwap(old, ms.HeapAlloc); old = s.peakHeap.Load() {
	}
	s.samples.Add(1)
}

// heapAfterGC returns HeapAlloc right after a full collection: the live heap.
func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// tally counts calls and decisions. Safe for concurrent use.
type tally struct {
	calls, streams, wrong atomic.Int64

	mu       sync.Mutex
	byWant   map[codes.Code]int64
	byKind   [numKinds]int64
	mistakes []string // the first few wrong decisions, for the failure message
}

func newTally() *tally { return &tally{byWant: make(map[codes.Code]int64)} }

const maxMistakes = 10

func (t *tally) record(m method, c credential, want, got verdict) {
	t.calls.Add(1)
	if m.stream {
		t.streams.Add(1)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byWant[want.code]++
	t.byKind[c.kind]++
	if got != want {
		t.wrong.Add(1)
		if len(t.mistakes) < maxMistakes {
			t.mistakes = append(t.mistakes, fmt.Sprintf("%s with a %v credential (scopes %v): got %v, want %v", m.name, c.kind, c.scopes, got, want))
		}
	}
}

// summary is the soak's result table.
type summary struct {
	duration          time.Duration
	callers, conns    int
	alg               string
	calls, streams    int64
	wrong             int64
	byWant            map[codes.Code]int64
	byKind            [numKinds]int64
	rotations         int
	jwks, jwksBound   int64
	goroutinesBefore  int
	goroutinesPeak    int64
	goroutinesAfter   int
	heapPeak          uint64
	heapBefore        uint64
	heapAfter         uint64
	minRefresh, every time.Duration
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (s summary) String() string {
	var b strings.Builder
	row := func(k string, v any) { fmt.Fprintf(&b, "| %s | %v |\n", k, v) }
	b.WriteString("| metric | value |\n|---|---|\n")
	row("duration", s.duration.Round(time.Millisecond))
	row("callers / client connections", fmt.Sprintf("%d / %d", s.callers, s.conns))
	row("signing algorithm", s.alg)
	row("calls made (streaming)", fmt.Sprintf("%d (%d)", s.calls, s.streams))
	row("calls per second", fmt.Sprintf("%.0f", float64(s.calls)/s.duration.Seconds()))
	row("wrong decisions", s.wrong)
	row("expected OK / PermissionDenied / Unauthenticated", fmt.Sprintf("%d / %d / %d",
		s.byWant[codes.OK], s.byWant[codes.PermissionDenied], s.byWant[codes.Unauthenticated]))
	var kinds []string
	for k := range numKinds {
		kinds = append(kinds, fmt.Sprintf("%v %d", k, s.byKind[k]))
	}
	row("calls by credential", strings.Join(kinds, ", "))
	row("key rotations (each followed by removal of the old key)", fmt.Sprintf("%d, every %v", s.rotations, s.every))
	row("MinRefreshInterval", s.minRefresh)
	row("JWKS requests (bound)", fmt.Sprintf("%d (%d)", s.jwks, s.jwksBound))
	row("goroutines before / peak / after", fmt.Sprintf("%d / %d / %d", s.goroutinesBefore, s.goroutinesPeak, s.goroutinesAfter))
	row("peak heap (HeapAlloc, sampled)", mib(s.heapPeak))
	row("live heap after GC, before / after", mib(s.heapBefore)+" / "+mib(s.heapAfter))
	return b.String()
}
