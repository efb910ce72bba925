package expheap

import (
	"cmp"
	"container/heap"
)

// Heap is a min-heap of values of type V by their expiry, of type E; the
// zero Heap is empty and ready for use. It is not safe for concurrent
// use.
type Heap[E cmp.Ordered, V any] struct{ entries entries[E, V] }

// Len returns the number of values in h.
func (h *Heap[E, V]) Len() int { return len(h.entries) }

// Push adds v, which expires at exp.
func (h *Heap[E, V]) Push(exp E, v V) { heap.Push(&h.entries, entry[E, V]{exp, v}) }

// Min returns the value that expires soonest and its expiry, without
// removing it. h must not be empty.
func (h *Heap[E, V]) Min() (exp E, v V) { return h.entries[0].exp, h.entries[0].v }

// Pop removes the value that expires soonest and returns it. h must not
// be empty.
func (h *Heap[E, V]) Pop() V { return heap.Pop(&h.entries).(entry[E, V]).v }

type entry[E cmp.Ordered, V any] struct {
	exp E
	v   V
}

// entries is Heap's heap.Interface.
type entries[E cmp.Ordered, V any] []entry[E, V]

func (h entries[E, V]) Len() int           { return len(h) }
func (h entries[E, V]) Less(a, b int) bool { return cmp.Less(h[a].exp, h[b].exp) }
func (h entries[E, V]) Swap(a, b int)      { h[a], h[b] = h[b], h[a] }
func (h *entries[E, V]) Push(x any)        { *h = append(*h, x.(entry[E, V])) }
func (h *entries[E, V]) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = entry[E, V]{} // the slot keeps nothing alive
	*h = old[:len(old)-1]
	return e
}
