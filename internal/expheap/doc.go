// Package expheap is a min-heap of values by expiry, for a store that
// forgets its entries once they expire, soonest first, at O(log n) an
// entry: dpop's MemoryReplayCache and grpcauthtest's opaque tokens.
//
//	var h expheap.Heap[int64, string]
//	h.Push(exp, key)
//	for h.Len() > 0 {
//		if exp, _ := h.Min(); exp >= now {
//			break
//		}
//		delete(entries, h.Pop())
//	}
package expheap
