// Package httpheader reads the HTTP header values that say how long
// something lasts: delta-seconds (Cache-Control max-age, Age, Retry-After),
// Retry-After's HTTP-date, and the Unix time of X-Rate-Limit-Reset. The
// verifier's key set, the introspection Verifier and tokencreds share it,
// so all read a Retry-After alike.
//
//	now := time.Now()
//	if d, header := httpheader.Wait(resp, now); d > 0 {
//		logger.Warn("the issuer asks for a pause", "header", header, "wait", d)
//		notBefore = now.Add(min(d, maxPause)) // each caller caps d further
//	}
package httpheader
