// Package alloctest measures what a call allocates, for the tests of the
// rejection-cost bound (at most twice a token's length plus 4 KiB), and the
// live heap, for the tests of what caches keep alive.
//
//	var err error
//	n := alloctest.Bytes(5, func() { _, err = v.VerifyAccessToken(ctx, forged) })
//	if limit := 2*uint64(len(forged)) + 4096; n > limit || err == nil {
//		t.Errorf("rejecting a %d-byte token: %v, %d bytes allocated, want an error and at most %d", len(forged), err, n, limit)
//	}
//
//	before := alloctest.LiveHeap()
//	fill() // what the cache under test keeps alive
//	live := int64(alloctest.LiveHeap()) - int64(before)
package alloctest
