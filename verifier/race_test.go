//go:build race

package verifier

// raceEnabled reports a -race build: heap measurements are skipped (the
// detector changes allocation, and slows the 48 KB junk decodes 20x).
const raceEnabled = true
