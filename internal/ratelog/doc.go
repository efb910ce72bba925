// Package ratelog bounds the records a site logs for an event any caller,
// unauthenticated, can make happen as often as it likes (a request to a
// server that is down, a panic a token raises): a Window lets one record
// through per period and counts the others, for the next record to say.
//
//	var failures ratelog.Window // one per site and per instance
//
//	if ok, suppressed := failures.Allow(now, time.Minute); ok {
//		logger.Warn("pkg: request failed", "error", err, "suppressed", suppressed)
//	}
package ratelog
