package alloctest

import "runtime"

// Bytes returns the fewest bytes one call of fn allocated in runs calls
// (the fewest, so that background work such as a key-set refresh, or a
// sync.Pool refilled after a GC, is not counted).
func Bytes(runs int, fn func()) uint64 {
	var ms runtime.MemStats
	least := ^uint64(0)
	for range runs {
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		fn()
		runtime.ReadMemStats(&ms)
		least = min(least, ms.TotalAlloc-before)
	}
	return least
}

// LiveHeap returns the heap in use after two collections (the second
// empties the sync.Pool victim caches the first left).
func LiveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
