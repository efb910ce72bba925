package celcond

import (
	"testing"

	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// callers returns a Caller of n scopes of one character each.
func callers(n int) *authtestv1.Caller { return callersOf(n, "s") }

// callersOf returns a Caller of n scopes, each scope.
func callersOf(n int, scope string) *authtestv1.Caller {
	c := &authtestv1.Caller{Scopes: make([]string, n)}
	for i := range c.Scopes {
		c.Scopes[i] = scope
	}
	return c
}

// BenchmarkCost_ComparingTwoLargeMessages is what charging one equality
// between two messages of many small elements costs, the smaller of deep
// size about 2^15 (sub-benchmarks 16k) or 2^17 (64k): sizing them tries
// the limits 64, 128, ... up to the smaller's size (11 or 13 of them).
// The larger has four times the smaller's scopes (longer than every
// limit tried: known larger without being read), or as many of 8 bytes
// each (read as far as the last limit). Each message is read once at
// most (and the smaller once more by proto.Size); before, each was read
// from its start at every limit.
//
//	go test -run '^$' -bench ComparingTwoLargeMessages -benchmem -count=3 ./celcond/
func BenchmarkCost_ComparingTwoLargeMessages(b *testing.B) {
	reg, err := types.NewRegistry(&authtestv1.Caller{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name   string
		larger *authtestv1.Caller
		n      int // the smaller's scopes
	}{
		{"16k/longer", callers(1 << 16), 1 << 14},
		{"16k/wider", callersOf(1<<14, "ssssssss"), 1 << 14},
		{"64k/longer", callers(1 << 18), 1 << 16},
		{"64k/wider", callersOf(1<<16, "ssssssss"), 1 << 16},
	} {
		args := []ref.Val{reg.NativeToValue(bm.larger), reg.NativeToValue(callers(bm.n))}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				runtimeCoster{}.CallCost(operators.Equals, "", args, nil)
			}
		})
	}
}
