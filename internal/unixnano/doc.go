// Package unixnano reads a time as Unix nanoseconds without wrapping
// around: time.Time.UnixNano's result is undefined outside the int64
// range (years before 1678 or after 2262), where it wraps, and a time
// that far in the future would read as one in the past. dpop's
// MemoryReplayCache and the verifier's key set use it.
//
//	exp := unixnano.Of(expires) // math.MaxInt64 for a time after 2262
//	if exp >= now {
//		// not expired
//	}
package unixnano
