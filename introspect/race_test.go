//go:build race

package introspect_test

// raceEnabled reports a -race build: allocation measurements are skipped
// (the detector changes allocation). The README's test command runs them
// without -race.
const raceEnabled = true
