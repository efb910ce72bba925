//go:build !race

package introspect_test

const raceEnabled = false
