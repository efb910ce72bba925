// Package safelog keeps a log/slog handler's panic to the record it was
// handling: the record is lost, and the panic goes no further. It is for
// the records a package writes where a panic would end the process (a
// goroutine of its own, which no caller's recovery covers) or replace
// the answer the record reports, never for a hot path: New wraps a
// Logger once, and each record then costs a deferred recover per
// handler call.
//
//	log := safelog.New(cfg.Logger) // once, as the Config is validated
//
//	go func() {
//		// A handler that panics loses this record; the goroutine goes on.
//		log.Warn("pkg: refresh failed", "error", err)
//	}()
package safelog
