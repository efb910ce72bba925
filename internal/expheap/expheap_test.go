package expheap

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Values pushed in any order come out soonest expiry first, Min naming
// the next one without removing it.
func TestHeap_PopsSoonestFirst(t *testing.T) {
	var h Heap[int64, int64]
	var want []int64
	for range 200 {
		exp := rand.Int64N(50) // duplicates too
		h.Push(exp, exp)
		want = append(want, exp)
	}
	slices.Sort(want)
	for i, w := range want {
		if exp, v := h.Min(); exp != w || v != w {
			t.Fatalf("Min %d = (%d, %d), want (%d, %d)", i, exp, v, w, w)
		}
		if got := h.Pop(); got != w {
			t.Fatalf("Pop %d = %d, want %d", i, got, w)
		}
	}
	if h.Len() != 0 {
		t.Errorf("Len = %d after popping every value, want 0", h.Len())
	}
}

// A popped value's slot is cleared, so that the heap's array does not
// keep it alive.
func TestHeap_PopClearsTheSlot(t *testing.T) {
	var h Heap[float64, *int]
	h.Push(2, new(int))
	h.Push(1, new(int))
	h.Pop()
	if e := h.entries[:2][1]; e.v != nil {
		t.Errorf("popped slot holds %v, want nil", e.v)
	}
}
