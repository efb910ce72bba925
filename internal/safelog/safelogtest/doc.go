// Package safelogtest gives tests a log/slog handler with a bug: it
// panics on the records they choose, as a buggy handler of a server's
// does, for the tests of the code that must survive it (package safelog,
// and the sites that recover a panic and log it).
//
//	panicked := make(chan string, 1)
//	cfg.Logger = slog.New(safelogtest.Handler{Next: slog.NewTextHandler(io.Discard, nil), On: "refresh failed", Panicked: panicked})
//	...
//	<-panicked // the handler was given the record, and panicked
package safelogtest
