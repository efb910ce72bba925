// Package jitter spreads out timers that would otherwise fire together (a
// stream's re-verification, an introspected token's cached answer), by
// bringing them forward, never back: the times they are due at are
// security bounds (how long a revoked token keeps working). grpcauth and
// introspect share it, so both apply one rule.
//
//	random := jitter.Random // when built: tests replace it in TestMain
//	// For each timer, d before the bound it must not pass:
//	timer := time.AfterFunc(jitter.Earlier(d, random()), revalidate) // up to a tenth of d (at most Max) early, never late
package jitter
