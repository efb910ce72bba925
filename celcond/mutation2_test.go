package celcond

// Tests for the size and cost accounting (deepSize, deepSizeUpTo,
// protoSizeAtLeast, addSize, patternCost, matchCost) a second hand-run
// mutation test found no test held: each fails with the mutants named in
// its comment.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// TestDeepSize_IsWhatComparingReadsAndIsExactUpToAnyLimit: deepSize is the
// length of a string or bytes, 1 + the encoded size of a message, the sum
// of a list's elements (each at least 1), 1 + key + value per map entry,
// and 1 for a scalar; deepSizeUpTo is that size whenever it is within the
// limit, and otherwise a number above the limit (never the limit itself,
// which would pass for an exact size). (Mutants: a string's length + 1, a
// bytes' 1, a scalar's 0, a list element's minimum of 1 dropped, a map
// entry's 1 or key dropped, a map of exactly limit entries taken for its
// size, the map walk stopping at the limit or skipping a key or value at
// it, a message's size above the limit returned as the limit.)
func TestDeepSize_IsWhatComparingReadsAndIsExactUpToAnyLimit(t *testing.T) {
	reg, err := types.NewRegistry(&authtestv1.Caller{})
	if err != nil {
		t.Fatal(err)
	}
	long := &authtestv1.Caller{Subject: strings.Repeat("a", 100)}
	for _, tt := range []struct {
		name string
		v    ref.Val
		want uint64
	}{
		{"string", types.String("abc"), 3},
		{"bytes", types.Bytes("abcd"), 4},
		{"int", types.Int(7), 1},
		{"list of an empty string, a string and an int", reg.NativeToValue([]any{"", "ab", 5}), 1 + 2 + 1},
		{"map of two entries", reg.NativeToValue(map[string]string{"a": "bc", "": ""}), (1 + 1 + 2) + 1},
		{"map of empty values", reg.NativeToValue(map[string]string{"a": "", "b": ""}), 2 + 2},
		{"map of an empty key", reg.NativeToValue(map[string]string{"": "a"}), 2},
		{"message", reg.NativeToValue(&authtestv1.Caller{Subject: "alice"}), 1 + 7},
		{"long message", reg.NativeToValue(long), 1 + uint64(proto.Size(long))},
	} {
		if got := deepSize(tt.v); got != tt.want {
			t.Errorf("%s: deepSize = %d, want %d", tt.name, got, tt.want)
		}
		for limit := range tt.want + 2 {
			got := deepSizeUpTo(tt.v, limit)
			if tt.want <= limit && got != tt.want || tt.want > limit && got <= limit {
				t.Errorf("%s: deepSizeUpTo(%d) = %d, want %d if within the limit, else above it", tt.name, limit, got, tt.want)
			}
		}
	}
}

// TestProtoSizeAtLeast_FindsAMessageLargerThanTheLimitWithoutSizingIt:
// the capped walk counts a bytes field's length, a nested message's
// fields, 1 per map entry beside its key and value, and unknown fields,
// so that it reaches the limit for a message larger than it (proto.Size,
// which reads it whole, is then not needed). (Mutants: a bytes field, a
// nested message, a map entry's 1 or the unknown fields counted 0.)
func TestProtoSizeAtLeast_FindsAMessageLargerThanTheLimitWithoutSizingIt(t *testing.T) {
	many := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for i := 10; i < 70; i++ {
		many.Fields[fmt.Sprint(i)] = &structpb.Value{} // of size 0
	}
	unknown := &emptypb.Empty{}
	unknown.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), make([]byte, 200)))
	const limit = 150
	for name, m := range map[string]proto.Message{
		"bytes field":                 wrapperspb.Bytes(make([]byte, 200)),
		"nested message":              &structpb.Struct{Fields: map[string]*structpb.Value{"": structpb.NewStringValue(strings.Repeat("a", 200))}},
		"60 entries of two-byte keys": many,
		"unknown fields":              unknown,
	} {
		if proto.Size(m) <= limit {
			t.Fatalf("%s: proto.Size %d, want above %d", name, proto.Size(m), limit)
		}
		if n := protoSizeAtLeast(m.ProtoReflect(), limit); n < limit {
			t.Errorf("%s: protoSizeAtLeast(%d) = %d, want at least the limit", name, limit, n)
		}
	}
}

// TestAddSize_SaturatesInsteadOfOverflowing: a sum beyond uint64 is
// math.MaxUint64, so that a size never wraps round to a small one.
// (Mutants: the overflow check dropped; 0 for an overflow.)
func TestAddSize_SaturatesInsteadOfOverflowing(t *testing.T) {
	for _, tt := range [][3]uint64{{1, 2, 3}, {math.MaxUint64 - 1, 1, math.MaxUint64}, {math.MaxUint64, 1, math.MaxUint64}, {2, math.MaxUint64, math.MaxUint64}} {
		if got := addSize(tt[0], tt[1]); got != tt[2] {
			t.Errorf("addSize(%d, %d) = %d, want %d", tt[0], tt[1], got, tt[2])
		}
	}
}

// TestPatternCost_IsTheLongerOfThePatternAndItsProgram: a pattern costs
// 1 per 4 of its length or of its compiled program's instructions,
// whichever is larger: a character class of 26 letters compiles to a few
// instructions but costs by its 28 bytes, as cel-go charges it. (Mutant:
// the pattern's length not counted.)
func TestPatternCost_IsTheLongerOfThePatternAndItsProgram(t *testing.T) {
	if got := patternCost("[abcdefghijklmnopqrstuvwxyz]"); got != 7 {
		t.Errorf("patternCost of a 28-byte class = %d, want 7", got)
	}
}

// TestMatchCost_ChargesOneMoreThanTheTextAndSaturates: matching n bytes
// costs (1 per 10 of n + 1) × the pattern's cost, and a cost beyond uint64
// (an unbounded text, or a product that overflows) is math.MaxUint64,
// never a small number. (Mutants: n in place of n + 1; the unbounded
// text's or the product's overflow check dropped.)
func TestMatchCost_ChargesOneMoreThanTheTextAndSaturates(t *testing.T) {
	for _, tt := range [][3]uint64{
		{0, 5, 5},
		{9, 5, 5},
		{10, 5, 10},
		{math.MaxUint64, 1, math.MaxUint64},
		{math.MaxUint64 / 2, 1000, math.MaxUint64},
	} {
		if got := matchCost(tt[0], tt[1]); got != tt[2] {
			t.Errorf("matchCost(%d, %d) = %d, want %d", tt[0], tt[1], got, tt[2])
		}
	}
}

// TestNumber_MinusTwoToThe53IsAnInt: an integer of magnitude 2^53 or
// more is an int on both sides of zero, however written. (Mutants: < in
// place of <= for -2^53, in number's fast path and after exactInteger.)
func TestNumber_MinusTwoToThe53IsAnInt(t *testing.T) {
	for _, n := range []string{"-9007199254740992", "-9007199254740992.0", "9007199254740992.0"} {
		v, err := number(json.Number(n))
		if want := int64(exactDouble); err != nil || v != want && v != -want {
			t.Errorf("number(%s) = %T %v, %v; want an int64", n, v, v, err)
		}
	}
}

// TestNumber_OutOfRangeIsErrRangeAndFailsTheClaimInAListOrObject: a
// number beyond the double range is an error wrapping strconv.ErrRange,
// and fails the claim holding it in a list or an object, not only a claim
// that is the number itself. (Mutants: the error not wrapped; the error of
// a list's element or an object's member dropped, leaving an infinity.)
func TestNumber_OutOfRangeIsErrRangeAndFailsTheClaimInAListOrObject(t *testing.T) {
	if _, err := number("1e400"); !errors.Is(err, strconv.ErrRange) {
		t.Errorf("number(1e400): err %v, want strconv.ErrRange", err)
	}
	for _, v := range []any{[]any{json.Number("1"), json.Number("1e400")}, map[string]any{"a": json.Number("-1e400")}} {
		if got, err := numbers(v); !errors.Is(err, strconv.ErrRange) {
			t.Errorf("numbers(%v) = %v, %v; want strconv.ErrRange", v, got, err)
		}
	}
}

// TestCallCost_ChargesEachCallByWhatItReads: the runtime cost of each call
// runtimeCoster prices, exactly (1 per 10 units read, rounded up), and no
// price (nil, cel-go's own) for arguments of other types. (Mutants: a
// minimum of 1 dropped, for a key, an equality or a comparison; the 1 of
// a conversion, of bytes or string, or of a time accessor dropped; a
// key's, a conversion's or bytes' length not counted; a string taken for
// bytes; matches or a comparison priced for an argument that is no string;
// a concatenation charged by one operand, a comparison by the longer; a
// list's elements not counted for in; in priced for something other than
// a list or map.)
func TestCallCost_ChargesEachCallByWhatItReads(t *testing.T) {
	s := func(n int) ref.Val { return types.String(strings.Repeat("a", n)) }
	list := types.DefaultTypeAdapter.NativeToValue(make([]string, 20))
	for _, tt := range []struct {
		name     string
		function string
		args     []ref.Val
		want     any // uint64, or nil for no price
	}{
		{"empty key", keyFunction, []ref.Val{s(0)}, uint64(1)},
		{"25-byte key", keyFunction, []ref.Val{s(25)}, uint64(3)},
		{"matches with a pattern that is no string", overloads.Matches, []ref.Val{s(1), types.Int(1)}, nil},
		{"int of 25 bytes", overloads.TypeConvertInt, []ref.Val{s(25)}, uint64(1 + 3)},
		{"int of an empty string", overloads.TypeConvertInt, []ref.Val{s(0)}, uint64(1)},
		{"bytes of 25 bytes", overloads.TypeConvertBytes, []ref.Val{s(25)}, uint64(1 + 3)},
		{"bytes of bytes", overloads.TypeConvertBytes, []ref.Val{types.Bytes("ab")}, nil},
		{"string of 25 bytes", overloads.TypeConvertString, []ref.Val{types.Bytes(strings.Repeat("a", 25))}, uint64(1 + 3)},
		{"hours in +01:00", overloads.TimeGetHours, []ref.Val{types.Timestamp{}, types.String("+01:00")}, uint64(1 + 1)},
		{"empty strings equal", operators.Equals, []ref.Val{s(0), s(0)}, uint64(1)},
		{"30 + 15 bytes", operators.Add, []ref.Val{s(30), s(15)}, uint64(5)},
		{"30 < 15 bytes", operators.Less, []ref.Val{s(30), s(15)}, uint64(2)},
		{"empty < empty", operators.Less, []ref.Val{s(0), s(0)}, uint64(1)},
		{"string < int", operators.Less, []ref.Val{s(30), types.Int(1)}, nil},
		{"in a list of 20 empty strings", operators.In, []ref.Val{s(0), list}, uint64(20)},
		{"in a string", operators.In, []ref.Val{s(0), s(5)}, nil},
	} {
		var got any
		if c := (runtimeCoster{}).CallCost(tt.function, "", tt.args, nil); c != nil {
			got = *c
		}
		if got != tt.want {
			t.Errorf("%s: cost %v, want %v", tt.name, got, tt.want)
		}
	}
}
