package otelmetrics

// CachedSets is how many attribute sets m keeps for reuse.
func CachedSets(m *Metrics) int { return len(*m.sets.Load()) }
