//go:build race

package verifier

// raceEnabled reports a -race build: heap and allocation measurements are
// skipped (the detector changes allocation, drops sync.Pool items on
// purpose, and slows the 48 KB junk decodes 20x). The README's test command
// runs them without -race.
const raceEnabled = true
