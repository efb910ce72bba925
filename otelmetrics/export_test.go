package otelmetrics

// CachedSets is how many attribute sets m keeps for reuse.
func CachedSets(m *Metrics) int { return len(*m.sets.Load()) }

// ForgetNotBuiltLogged makes the next OnDecision of a Metrics New did not
// build log again.
func ForgetNotBuiltLogged() { notBuiltLog.Forget() }

// HandleErrors makes f receive the errors the callback reports instead of
// otel.Handle, until restore is called.
func HandleErrors(f func(error)) (restore func()) {
	prev := handleError
	handleError = f
	return func() { handleError = prev }
}
