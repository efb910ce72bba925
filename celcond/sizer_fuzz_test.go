package celcond

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// FuzzSizer compares the sizer, which sizes a comparison's operand in one
// walk that each larger limit takes on, with two references kept here:
// refDeepSize, the deep size as docs/conditions.md states it, with no
// limit, and freshWalkUpTo, the definition it replaced (a new recursive
// walk for each limit), both without weights (deepSize) and with the
// weights of comparison (comparedSizeUpTo: each list element and map
// entry counting at least 1 and its weight). Over two values generated from bytes (lists and
// maps nested with strings, bytes, scalars, messages, wrappers, proto and
// JSON lists and maps, claim-like lists, long lists, empty ones, and a
// list or map appearing again, in the same operand or the other, or as
// the other), each sized at an
// increasing sequence of limits (0, 1, near 2^63 and math.MaxUint64
// among them):
//
//   - at each limit the sizer's answer is the deep size when that is
//     within the limit, and a number above the limit otherwise (an
//     answer at or below the limit that is not the size would undercharge
//     the comparison);
//   - what it has iterated and read so far, across all its limits (the
//     lists and maps whose iterator it made, the elements, keys and
//     values it read, in order), is what one fresh walk at the last limit
//     iterates and reads: each list and map is walked at most once, and
//     one of more elements than the units left is not iterated;
//   - the lists and maps it keeps are never more than the value's
//     nesting depth;
//   - smallerDeepSize is the smaller of the operands' sizes with the
//     weights of comparison, each operand walked as a fresh walk at the
//     limit where it stops, and an equality's cost is 1 per 10 of that,
//     at least 1; given a most below that, it stops at the first limit
//     at least most, with a size above most.
//
// Seeds are in testdata/fuzz/FuzzSizer and below.
//
//	go test -run '^$' -fuzz '^FuzzSizer$' ./celcond
func FuzzSizer(f *testing.F) {
	for _, s := range [][3]string{
		{"", "", ""},
		{"\x00\x05", "\x00\x06", "\x00\x01\x04\xff"},
		// a list of strings against a map with list values
		{"\x03\x03\x00\x10\x00\x00\x02\x00", "\x04\x02\x02\x03\x02\x00\x05\x01\x07", "\x05\x0a\x80\x80\xff"},
		// a list of messages against two long lists
		{"\x03\x03\x05\x30\x02\x05\x80\x00\x05\x10\x03", "\x03\x02\x07\x00\x40\x07\x01\x20", "\x00\x41\x80\x80\x80\xfd"},
		// a list appearing twice, empty containers, wrappers
		{"\x03\x04\x03\x02\x0b\x00\x0b\x07\x06\x00\x03\x00\x04\x00", "\x0b\x01\x20\x0b\x05\x0a\x03\x02", "\x01\x01\x01\x42\x43\xfe"},
		// JSON and claim-like values, a proto list
		{"\x09\x00\x03\x01\x05\x02\x07\x03\x04", "\x0a\x03\x00\x03\x08\x02\x01\x04", "\x48\x50\x81\xfc"},
		// six levels of nesting, paused inside and resumed
		{"\x03\x01\x03\x01\x04\x01\x00\x03\x01\x03\x01\x03\x02\x00\xf0\x00\x01", "\x03\x01\x03\x01\x03\x01\x03\x01\x00\xd0", "\x00\x01\x45\x80\x80\x80\x80\xff"},
		// a list against itself, and against a list holding it twice
		{"\x03\x03\x00\x10\x00\x00\x02\x00", "\x06\x00", "\x40\x80\xff"},
		{"\x04\x02\x01\x00\x03\x00\x07\x00\x20", "\x03\x02\x06\x01\x0a\x01\x06\x02", "\x04\x4f\x80\xfe"},
		// a map of a long message against a long string, a huge limit
		{"\x04\x01\x01\x05\x01\x02\xf0\x01", "\x00\xff", "\xfd\xfe\xff"},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), []byte(s[2]))
	}
	reg, err := types.NewRegistry(&authtestv1.Caller{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b, limits []byte) {
		var log []sizeEvent // what the walks read
		// The second operand may hold the first's lists and maps, or be
		// the first.
		g := &sizeGen{reg: reg, log: &log}
		operands := [2]ref.Val{}
		sizes, depths := [2]uint64{}, [2]int{}
		for i, data := range [][]byte{a, b} {
			g.data = data
			operands[i] = g.value(sizeGenDepth, false)
		}
		for _, w := range []weights{{}, comparison} {
			for i := range operands {
				nodes := 0
				sizes[i], depths[i] = refDeepSize(operands[i], w, &nodes)
				if nodes > sizeGenNodes {
					t.Skip("too large to size many times over")
				}
			}
			checkSizer(t, operands, sizes, depths, w, limits, &log)
		}
		walk := func(i int, limit uint64) []sizeEvent {
			log = nil
			freshWalkUpTo(operands[i], comparison, limit)
			return log
		}

		// smallerDeepSize sizes the operands in turn at a limit that
		// doubles from 64 until one is within it, or the limit is at
		// least most, each as far as one walk at that limit reads it.
		want := min(sizes[0], sizes[1])
		for _, most := range []uint64{math.MaxUint64, want / 2} {
			var reads []sizeEvent
			read, stopped := [2]int{}, false // stopped at most
			for limit := uint64(64); ; limit *= 2 {
				for i := range operands {
					fresh := walk(i, limit)
					if len(fresh) < read[i] {
						t.Fatalf("operand %d: one walk at %d reads less than one at %d", i, limit, limit/2)
					}
					reads, read[i] = append(reads, fresh[read[i]:]...), len(fresh)
				}
				if want <= limit || limit > math.MaxUint64/2 {
					break
				}
				if limit >= most {
					stopped = true
					break
				}
			}
			log = nil
			got := smallerDeepSize(operands[0], operands[1], most)
			if !stopped && got != want || stopped && got <= most {
				t.Fatalf("smallerDeepSize(most %d) = %d, want min(%d, %d), or above most once the limit tried reaches it", most, got, sizes[0], sizes[1])
			}
			if !slices.Equal(log, reads) {
				t.Fatalf("smallerDeepSize(most %d) read\n%v\nwhere one walk of each operand reads\n%v", most, log, reads)
			}
		}
		cost := runtimeCoster{}.CallCost(operators.Equals, "", operands[:], nil)
		if cost == nil || *cost != max(1, traversal(want)) {
			t.Fatalf("cost of an equality = %v, want %d", deref(cost), max(1, traversal(want)))
		}
	})
}

// checkSizer checks the sizer with weights w on each operand against
// refDeepSize's sizes and depths and freshWalkUpTo's reads (see
// FuzzSizer), at each of the limits read from limits.
func checkSizer(t *testing.T, operands [2]ref.Val, sizes [2]uint64, depths [2]int, w weights, limits []byte, log *[]sizeEvent) {
	t.Helper()
	walk := func(i int, limit uint64) []sizeEvent {
		*log = nil
		freshWalkUpTo(operands[i], w, limit)
		return *log
	}
	for i, v := range operands {
		s, n := sizer{next: v, w: w}, sizes[i]
		var got []sizeEvent
		for _, limit := range sizeLimits(limits) {
			*log = got
			r := s.upTo(limit)
			got = *log
			if n <= limit && r != n || n > limit && r <= limit {
				t.Fatalf("operand %d of size %d (weights %v): upTo(%d) = %d; want %d if within the limit, else above it", i, n, w, limit, r, n)
			}
			if len(s.stack) > depths[i] || cap(s.stack) > 2*depths[i] {
				t.Fatalf("operand %d of nesting depth %d: %d lists and maps kept (capacity %d) after upTo(%d)", i, depths[i], len(s.stack), cap(s.stack), limit)
			}
			if want := walk(i, limit); !slices.Equal(got, want) {
				t.Fatalf("operand %d (weights %v): after upTo(%d) the sizer has read\n%v\nwhere one walk reads\n%v", i, w, limit, got, want)
			}
		}
		if r := s.upTo(math.MaxUint64); r != n || len(s.stack) != 0 || s.next != nil {
			t.Fatalf("operand %d (weights %v): upTo(MaxUint64) = %d with %d lists and maps kept, want its size %d and none", i, w, r, len(s.stack), n)
		}
	}
}

const (
	sizeGenDepth = 6       // levels of lists and maps at the most
	sizeGenNodes = 200_000 // values refDeepSize visits at the most
)

// sizeLimits reads a non-decreasing sequence of limits from data, one a
// byte: by its top two bits, the last limit plus the byte's low six bits,
// plus their square, doubled (and 1), or a limit near the top of uint64.
func sizeLimits(data []byte) []uint64 {
	var limits []uint64
	cur := uint64(0)
	for _, c := range data[:min(len(data), 12)] {
		low := uint64(c & 63)
		switch c >> 6 {
		case 0:
			cur = addSize(cur, low)
		case 1:
			cur = addSize(cur, low*low)
		case 2:
			cur = addSize(addSize(cur, cur), 1)
		default:
			cur = max(cur, []uint64{math.MaxUint64 / 2, 1 << 63, math.MaxUint64 - 1, math.MaxUint64}[c&3])
		}
		limits = append(limits, cur)
	}
	return limits
}

// sizeEvent is what a walk did to a logged list or map: made an
// iterator ('i'), read an element or key ('n'), or a map's value ('g').
type sizeEvent struct {
	op byte
	id int
}

func (e sizeEvent) String() string { return string(e.op) + strconv.Itoa(e.id) }

// loggedList is a list that logs the walks over it and what they read.
type loggedList struct {
	traits.Lister
	id  int
	log *[]sizeEvent
}

func (l loggedList) Iterator() traits.Iterator {
	*l.log = append(*l.log, sizeEvent{'i', l.id})
	return &loggedIterator{Iterator: l.Lister.Iterator(), id: l.id, log: l.log}
}

type loggedIterator struct {
	traits.Iterator
	// keys, when set, are what it returns, in order, instead of what
	// Iterator returns (a map's keys, in a fixed order).
	keys []ref.Val
	id   int
	log  *[]sizeEvent
}

func (it *loggedIterator) HasNext() ref.Val {
	if it.keys != nil {
		return types.Bool(len(it.keys) > 0)
	}
	return it.Iterator.HasNext()
}

func (it *loggedIterator) Next() ref.Val {
	*it.log = append(*it.log, sizeEvent{'n', it.id})
	if it.keys != nil {
		k := it.keys[0]
		it.keys = it.keys[1:]
		return k
	}
	return it.Iterator.Next()
}

// loggedMap is a map whose walks return its keys in a fixed order, and
// log what they read.
type loggedMap struct {
	traits.Mapper
	keys []ref.Val
	id   int
	log  *[]sizeEvent
}

func (m loggedMap) Iterator() traits.Iterator {
	*m.log = append(*m.log, sizeEvent{'i', m.id})
	return &loggedIterator{keys: slices.Clip(m.keys), id: m.id, log: m.log}
}

func (m loggedMap) Get(k ref.Val) ref.Val {
	*m.log = append(*m.log, sizeEvent{'g', m.id})
	return m.Mapper.Get(k)
}

// sizeGen makes a value from bytes (zeros once they run out).
type sizeGen struct {
	data []byte
	reg  *types.Registry
	log  *[]sizeEvent
	made []ref.Val // the logged lists and maps made, to appear again
}

func (g *sizeGen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	c := g.data[0]
	g.data = g.data[1:]
	return c
}

// length is mostly short, sometimes up to about 16 KiB.
func (g *sizeGen) length() int {
	if c := int(g.byte()); c < 192 {
		return c % 64
	} else {
		return (c - 191) * 256
	}
}

func (g *sizeGen) str() string { return strings.Repeat("s", g.length()) }

// value makes a value of at most depth levels of lists and maps. One
// that is raw holds no logged list or map, as it may be inside a cel-go
// map, which a walk reads in Go's random order of a map's keys.
func (g *sizeGen) value(depth int, raw bool) ref.Val {
	op := g.byte() % 12
	if depth == 0 && (op == 3 || op == 4 || op == 6 || op == 7 || op == 9 || op == 10) {
		op = 2
	}
	switch op {
	case 0:
		return types.String(g.str())
	case 1:
		return types.Bytes(g.str())
	case 2:
		switch g.byte() % 6 {
		case 0:
			return types.Int(-1)
		case 1:
			return types.Uint(1)
		case 2:
			return types.Double(0.5)
		case 3:
			return types.True
		case 4:
			return types.NullValue
		default:
			return types.Duration{Duration: time.Second}
		}
	case 3: // a list
		elems := make([]ref.Val, g.byte()%5)
		for i := range elems {
			elems[i] = g.value(depth-1, raw)
		}
		return g.logList(types.NewRefValList(g.reg, elems), raw)
	case 4: // a map
		n := int(g.byte() % 5)
		if raw {
			m := map[string]any{}
			for i := range n {
				m[strconv.Itoa(i)+g.str()] = g.value(depth-1, true)
			}
			return g.reg.NativeToValue(m)
		}
		m, keys := map[ref.Val]ref.Val{}, make([]ref.Val, n)
		for i := range keys {
			if c := g.byte(); c%2 == 0 {
				keys[i] = types.Int(i)
			} else {
				keys[i] = types.String(strconv.Itoa(i) + strings.Repeat("k", int(c/2)))
			}
			m[keys[i]] = g.value(depth-1, false)
		}
		l := loggedMap{Mapper: types.NewRefValMap(g.reg, m), keys: keys, id: len(g.made), log: g.log}
		g.made = append(g.made, l)
		return l
	case 5: // a message, sized by proto.Size
		scopes := make([]string, g.byte()%4)
		for i := range scopes {
			scopes[i] = g.str()
		}
		return g.reg.NativeToValue(&authtestv1.Caller{Subject: g.str(), Scopes: scopes, Authenticated: g.byte()%2 == 1})
	case 6: // a list or map made before (by either operand), again
		if raw || len(g.made) == 0 {
			return types.String(g.str())
		}
		return g.made[int(g.byte())%len(g.made)]
	case 7: // a long list of numbers, or of empty strings
		if g.byte()%2 == 0 {
			return g.logList(types.NewDynamicList(g.reg, make([]int, int(g.byte())*8)), raw)
		}
		return g.logList(types.NewStringList(g.reg, make([]string, int(g.byte())*8)), raw)
	case 8: // a message's repeated field, a proto list
		scopes := make([]string, g.byte()%6)
		for i := range scopes {
			scopes[i] = g.str()
		}
		l := g.reg.NativeToValue(&authtestv1.Caller{Scopes: scopes}).(traits.Indexer).Get(types.String("scopes"))
		return g.logList(l.(traits.Lister), raw)
	case 9: // JSON: a Struct or a ListValue, both cel-go lists and maps
		if g.byte()%2 == 0 {
			s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
			for i := range g.byte() % 4 {
				s.Fields[strconv.Itoa(int(i))+g.str()] = structpb.NewStringValue(g.str())
			}
			return g.reg.NativeToValue(s)
		}
		l := &structpb.ListValue{}
		for range g.byte() % 4 {
			l.Values = append(l.Values, structpb.NewStringValue(g.str()), structpb.NewListValue(&structpb.ListValue{}))
		}
		return g.logList(g.reg.NativeToValue(l).(traits.Lister), raw)
	case 10: // a claim-like list of Go values, converted on every read
		elems := make([]any, g.byte()%4)
		for i := range elems {
			elems[i] = g.value(depth-1, raw)
		}
		return g.reg.NativeToValue(elems)
	default: // a wrapper
		switch g.byte() % 3 {
		case 0:
			return g.reg.NativeToValue(wrapperspb.String(g.str()))
		case 1:
			return g.reg.NativeToValue(wrapperspb.Bytes([]byte(g.str())))
		default:
			return g.reg.NativeToValue(wrapperspb.Int64(7))
		}
	}
}

// logList returns l logged, unless raw.
func (g *sizeGen) logList(l traits.Lister, raw bool) ref.Val {
	if raw {
		return l
	}
	ll := loggedList{Lister: l, id: len(g.made), log: g.log}
	g.made = append(g.made, ll)
	return ll
}

// refDeepSize is the deep size as docs/conditions.md states it, with no
// limit: the length of a string or bytes, 1 + the encoded size of a
// message, the sum of a list's elements (each at least 1, and with
// weights at least 1 + w.element), 1 + key + value per map entry (with
// weights at least 1 + w.entry), and 1 for anything else; and the
// nesting depth of lists and maps. It counts the values it visits in
// nodes.
func refDeepSize(v ref.Val, w weights, nodes *int) (uint64, int) {
	*nodes++
	if *nodes > sizeGenNodes {
		return 0, 0
	}
	n, depth := uint64(0), 0
	switch x := v.(type) {
	case types.String:
		return uint64(len(x)), 0
	case types.Bytes:
		return uint64(len(x)), 0
	case traits.Mapper:
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, _ := refDeepSize(k, w, nodes)
			vs, vd := refDeepSize(x.Get(k), w, nodes)
			n, depth = n+max(1+w.entry, 1+ks+vs), max(depth, vd)
		}
		return n, depth + 1
	case traits.Lister:
		for it := x.Iterator(); it.HasNext() == types.True; {
			s, d := refDeepSize(it.Next(), w, nodes)
			n, depth = n+max(1+w.element, s), max(depth, d)
		}
		return n, depth + 1
	}
	if m, ok := v.Value().(proto.Message); ok {
		return 1 + uint64(proto.Size(m)), 0
	}
	return 1, 0
}

// freshWalkUpTo is deepSizeUpTo as it was before the sizer: a new
// recursive walk for each limit; with weights w, each list element and
// map entry counting at least 1 and its weight.
func freshWalkUpTo(v ref.Val, w weights, limit uint64) uint64 {
	switch x := v.(type) {
	case types.String:
		return uint64(len(x))
	case types.Bytes:
		return uint64(len(x))
	case traits.Mapper:
		if size, ok := x.Size().(types.Int); ok && size > 0 && mulSize(uint64(size), 1+w.entry) > limit {
			return mulSize(uint64(size), 1+w.entry)
		}
		n := uint64(0)
		for it := x.Iterator(); n <= limit && it.HasNext() == types.True; {
			start := n
			k := it.Next()
			if n = addSize(n, 1); n <= limit {
				n = addSize(n, freshWalkUpTo(k, w, limit-n))
			}
			if n <= limit {
				n = addSize(n, freshWalkUpTo(x.Get(k), w, limit-n))
			}
			n = max(n, addSize(start, 1+w.entry))
		}
		return n
	case traits.Lister:
		if size, ok := x.Size().(types.Int); ok && size > 0 && mulSize(uint64(size), 1+w.element) > limit {
			return mulSize(uint64(size), 1+w.element)
		}
		n := uint64(0)
		for it := x.Iterator(); n <= limit && it.HasNext() == types.True; {
			n = addSize(n, max(1+w.element, freshWalkUpTo(it.Next(), w, limit-n)))
		}
		return n
	}
	if m, ok := v.Value().(proto.Message); ok {
		if n := protoSizeAtLeast(m.ProtoReflect(), limit); n >= limit {
			return addSize(n, 1)
		}
		return 1 + uint64(proto.Size(m))
	}
	return 1
}
