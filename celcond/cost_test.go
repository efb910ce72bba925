package celcond

import (
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"google.golang.org/protobuf/proto"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// countingList is a list that counts the elements its iterators return.
type countingList struct {
	traits.Lister
	read *int
}

func (l countingList) Iterator() traits.Iterator {
	return countingIterator{Iterator: l.Lister.Iterator(), read: l.read}
}

type countingIterator struct {
	traits.Iterator
	read *int
}

func (it countingIterator) Next() ref.Val {
	*it.read++
	return it.Iterator.Next()
}

// TestCost_ComparisonReadsTheLongerListNoFurtherThanTheShorter: an
// equality is charged by the smaller deep size of its operands; computing
// both sizes whole read a long list on every step of a comprehension that
// compared it with a short one (claims.l.all(x, claims.l != [x]) ran for
// 15 s within the default limit over a 30,000-element claim).
func TestCost_ComparisonReadsTheLongerListNoFurtherThanTheShorter(t *testing.T) {
	read := 0
	long := countingList{Lister: types.NewDynamicList(types.DefaultTypeAdapter, make([]int, 100_000)), read: &read}
	short := types.NewDynamicList(types.DefaultTypeAdapter, []int{0, 1})
	for _, args := range [][]ref.Val{{long, short}, {short, long}} {
		for _, op := range []string{operators.Equals, operators.NotEquals} {
			read = 0
			cost := runtimeCoster{}.CallCost(op, "", args, nil)
			if cost == nil || *cost != 1 {
				t.Errorf("%s: cost = %v, want 1", op, deref(cost))
			}
			if read > 1000 {
				t.Errorf("%s: read %d elements of the long list, want at most 1000", op, read)
			}
		}
	}
	// Lists of one size are charged for all they hold: 1 per 10 units of
	// 1,000 elements of size 1, plus one per element.
	l := types.NewDynamicList(types.DefaultTypeAdapter, make([]int, 1000))
	if cost := (runtimeCoster{}).CallCost(operators.Equals, "", []ref.Val{l, l}, nil); cost == nil || *cost != 200 {
		t.Errorf("equal lists: cost = %v, want 200", deref(cost))
	}
}

// TestCost_ComparisonDoesNotSizeTheLargerMessageWhole: the same for
// messages, whose encoded size took reading the whole message.
func TestCost_ComparisonDoesNotSizeTheLargerMessageWhole(t *testing.T) {
	huge := &authtestv1.Caller{Scopes: make([]string, 1<<20)}
	for i := range huge.Scopes {
		huge.Scopes[i] = "s"
	}
	small := &authtestv1.Caller{Subject: "alice", Scopes: []string{"a"}}
	reg, err := types.NewRegistry(small)
	if err != nil {
		t.Fatal(err)
	}
	args := []ref.Val{reg.NativeToValue(huge), reg.NativeToValue(small)}

	const calls, sizes = 200, 20
	start := time.Now()
	for range sizes {
		proto.Size(huge)
	}
	sizing := time.Since(start)
	start = time.Now()
	for range calls {
		cost := runtimeCoster{}.CallCost(operators.NotEquals, "", args, nil)
		if want := traversal(1 + uint64(proto.Size(small))); cost == nil || *cost != want {
			t.Fatalf("cost = %v, want %d", deref(cost), want)
		}
	}
	if took := time.Since(start); took > sizing {
		t.Errorf("%d comparisons with a small message took %v, more than sizing the large one %d times (%v)", calls, took, sizes, sizing)
	}
	// A message of one size is charged by its encoded size.
	s := reg.NativeToValue(&authtestv1.Caller{Subject: strings.Repeat("a", 1000)})
	if cost := (runtimeCoster{}).CallCost(operators.Equals, "", []ref.Val{s, s}, nil); cost == nil || *cost != 101 {
		t.Errorf("equal messages: cost = %v, want 101", deref(cost))
	}
}

// deref returns *p, or nil.
func deref(p *uint64) any {
	if p == nil {
		return nil
	}
	return *p
}
