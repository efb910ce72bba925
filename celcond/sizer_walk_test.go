package celcond

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoiface"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// readCounts counts what the walks of a countedMessage read: its fields
// listed (Range, which the sizer's walk and proto.Size's reflective path
// each call once per walk), and the elements of its lists read (Get).
type readCounts struct{ ranges, elems int }

// countedMessage is a message whose reads are counted in c. It has no
// fast-path methods, so that proto.Size reads it through Range too.
type countedMessage struct {
	protoreflect.Message
	c *readCounts
}

func (m countedMessage) Range(f func(protoreflect.FieldDescriptor, protoreflect.Value) bool) {
	m.c.ranges++
	m.Message.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsList() {
			v = protoreflect.ValueOfList(countedList{v.List(), m.c})
		}
		return f(fd, v)
	})
}

func (countedMessage) ProtoMethods() *protoiface.Methods { return nil }

func (m countedMessage) Interface() protoreflect.ProtoMessage { return countedProto{m} }

type countedProto struct{ m countedMessage }

func (p countedProto) ProtoReflect() protoreflect.Message { return p.m }

type countedList struct {
	protoreflect.List
	c *readCounts
}

func (l countedList) Get(i int) protoreflect.Value {
	l.c.elems++
	return l.List.Get(i)
}

// counted returns m as a CEL value whose reads are counted in c.
func counted(t testing.TB, reg *types.Registry, m proto.Message, c *readCounts) ref.Val {
	t.Helper()
	v := reg.NativeToValue(countedProto{countedMessage{m.ProtoReflect(), c}})
	if types.IsError(v) {
		t.Fatal(v)
	}
	return v
}

// TestCost_ComparisonReadsEachMessageOnceWhateverTheLimitsTried: charging a
// comparison sizes its operands at limits that double from 64 until one
// fits (smallerDeepSize); a message larger than the units left is read
// only as far as it takes to know it, and taken on from there at the next
// limit, and one that fits is sized by proto.Size once: a message is read
// once per comparison, however many limits are tried. Before, it was
// read again from its start at each limit (here 11 walks of the larger
// message, 11 and proto.Size of the smaller, 65,504 element reads each).
func TestCost_ComparisonReadsEachMessageOnceWhateverTheLimitsTried(t *testing.T) {
	reg, err := types.NewRegistry(&authtestv1.Caller{})
	if err != nil {
		t.Fatal(err)
	}
	large, small := callers(1<<16), callers(1<<14) // deep sizes about 2^17 and 2^15
	var lc, sc readCounts
	a, b := counted(t, reg, large, &lc), counted(t, reg, small, &sc)
	if got, want := smallerDeepSize(a, b, math.MaxUint64), 1+uint64(proto.Size(small)); got != want {
		t.Fatalf("smallerDeepSize = %d, want the smaller's deep size %d", got, want)
	}
	if lc.ranges != 1 {
		t.Errorf("the larger message was walked %d times, want once", lc.ranges)
	}
	if sc.ranges != 2 {
		t.Errorf("the smaller message was walked %d times, want twice: once to know it fits, once by proto.Size", sc.ranges)
	}
	// Each list element read once by the walk (and once more by
	// proto.Size for the one that fits), and the larger's no further
	// than the smaller's size: 2^14 elements of 2 units each.
	if n := len(small.Scopes); sc.elems != 2*n {
		t.Errorf("the smaller message's %d elements were read %d times, want %d", n, sc.elems, 2*n)
	}
	if lc.elems != 0 {
		t.Errorf("the larger message's elements were read %d times, want none: its list is longer than any limit tried", lc.elems)
	}
}

// TestDeepSize_MessageInAListIsReadOnlyAsFarAsTheUnitsLeft: a message
// that is a list's element is sized against the units left before the
// limit once the elements before it are counted, not against the whole
// limit: a list of a 60-character string and a message holding a list of
// 50 scopes, sized at 64, is known larger without reading the scopes (4
// units are left for the message, and 50 scopes count at least 50; the
// walk that read each element until it counted the units left read 2).
// Sized against the whole limit, the walk read 32 scopes. This is work,
// not charge: either way the size is above the limit.
func TestDeepSize_MessageInAListIsReadOnlyAsFarAsTheUnitsLeft(t *testing.T) {
	reg, err := types.NewRegistry(&authtestv1.Caller{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		value func(msg ref.Val) ref.Val
	}{
		{"list", func(msg ref.Val) ref.Val {
			return types.NewRefValList(reg, []ref.Val{types.String(strings.Repeat("x", 60)), msg})
		}},
		{"map", func(msg ref.Val) ref.Val {
			return types.NewRefValMap(reg, map[ref.Val]ref.Val{types.String(strings.Repeat("x", 59)): msg})
		}},
	} {
		var c readCounts
		v := tt.value(counted(t, reg, callers(50), &c))
		if n := deepSizeUpTo(v, 64); n <= 64 {
			t.Errorf("%s: deepSizeUpTo(64) = %d, want above 64", tt.name, n)
		}
		if c.elems > 4 {
			t.Errorf("%s: %d of the message's scopes read, want at most the 4 units left", tt.name, c.elems)
		}
	}
}

// FuzzProtoWalk checks protoWalk, the walk of a message the sizer takes on
// from limit to limit, against refProtoSizeAtLeast, the recursive walk it
// replaced, read whole: over messages generated from bytes (JSON values
// nested as google.protobuf.Struct, Value and ListValue, a Caller with a
// list of scopes and unknown fields, a request with two maps of
// strings), taken to an
// increasing sequence of limits (see sizeLimits), its count
//
//   - is the whole walk's count when that is below the limit, and at
//     least the limit otherwise;
//
//   - is never more than the whole walk's count, itself never more than
//     proto.Size: a lower bound of the encoded size, which the sizer
//     charges once it is known no larger than the units left;
//
//   - never decreases from one limit to the next.
//
//     go test -run '^$' -fuzz '^FuzzProtoWalk$' ./celcond
func FuzzProtoWalk(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""},
		{"\x00\x04\x03\x00\x05\x00\x02\x01", "\x01\x02\x04\x08\xff"},
		{"\x00\x05\x03\x01\x04\x02\x00\x30\x05\x01\x00\x03", "\x00\x00\x41\x80\x80"},
		{"\x01\x20\x05", "\x10\x43\xfe"},
		{"\x01\x00\x00\x00\x05", "\x02\x08\x81"},
		{"\x02\x05\x10\x03\x40\x02", "\x03\x05\x50\x80\xff"},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	maps := mapMethod(f).Input()
	f.Fuzz(func(t *testing.T, data, limits []byte) {
		g := &walkGen{sizeGen: sizeGen{data: data}, maps: maps}
		m := g.message()
		size := uint64(proto.Size(m))
		whole := refProtoSizeAtLeast(m.ProtoReflect(), math.MaxUint64)
		if whole > size {
			t.Fatalf("the whole walk counts %d, more than proto.Size %d", whole, size)
		}
		var w protoWalk
		w.start(m.ProtoReflect())
		last := uint64(0)
		for _, limit := range sizeLimits(limits) {
			got := w.upTo(limit)
			if whole < limit && got != whole || whole >= limit && got < limit {
				t.Fatalf("upTo(%d) = %d; the whole walk counts %d: want it if below the limit, else at least the limit", limit, got, whole)
			}
			if got > whole || got < last {
				t.Fatalf("upTo(%d) = %d after %d; want at most the whole walk's %d, and no less than before", limit, got, last, whole)
			}
			last = got
		}
		if got := w.upTo(math.MaxUint64); got != whole || len(w.stack) != 0 {
			t.Fatalf("upTo(MaxUint64) = %d with %d frames kept, want %d and none", got, len(w.stack), whole)
		}
	})
}

// walkGen makes a message from bytes (zeros once they run out).
type walkGen struct {
	sizeGen
	maps protoreflect.MessageDescriptor // two map<string, string> fields, m and n
}

func (g *walkGen) message() proto.Message {
	switch g.byte() % 3 {
	case 0:
		return g.json(5)
	case 1:
		scopes := make([]string, int(g.byte())*4)
		for i := range scopes {
			scopes[i] = g.str()
		}
		c := &authtestv1.Caller{Subject: g.str(), Scopes: scopes, Authenticated: g.byte()%2 == 1}
		if u := g.str(); u != "" { // a field this version does not know
			c.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), []byte(u)))
		}
		return c
	default:
		req := dynamicpb.NewMessage(g.maps)
		for _, name := range []protoreflect.Name{"m", "n"} {
			m := req.Mutable(g.maps.Fields().ByName(name)).Map()
			for i := range int(g.byte()) * 2 {
				m.Set(protoreflect.ValueOfString(strconv.Itoa(i)+g.str()).MapKey(), protoreflect.ValueOfString(g.str()))
			}
		}
		return req
	}
}

// json makes a google.protobuf.Value of at most depth levels of lists
// and structs.
func (g *walkGen) json(depth int) *structpb.Value {
	op := g.byte() % 6
	if depth == 0 && op >= 4 {
		op = 0
	}
	switch op {
	case 0:
		return structpb.NewStringValue(g.str())
	case 1:
		return structpb.NewNumberValue(float64(g.byte()))
	case 2:
		return structpb.NewBoolValue(g.byte()%2 == 0)
	case 3:
		return structpb.NewNullValue()
	case 4:
		l := &structpb.ListValue{}
		for range int(g.byte() % 8) {
			l.Values = append(l.Values, g.json(depth-1))
		}
		return structpb.NewListValue(l)
	default:
		s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for i := range int(g.byte() % 8) {
			s.Fields[strconv.Itoa(i)+g.str()] = g.json(depth - 1)
		}
		return structpb.NewStructValue(s)
	}
}

// refProtoSizeAtLeast is protoSizeAtLeast as it was before protoWalk: a
// recursive walk from the start for each limit, stopping once it has
// counted limit units.
func refProtoSizeAtLeast(m protoreflect.Message, limit uint64) uint64 {
	n := uint64(len(m.GetUnknown()))
	value := func(v protoreflect.Value) uint64 {
		switch x := v.Interface().(type) {
		case string:
			return uint64(len(x))
		case []byte:
			return uint64(len(x))
		case protoreflect.Message:
			return refProtoSizeAtLeast(x, limit-min(n, limit))
		}
		return 0
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		n = addSize(n, 1)
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && n < limit; i++ {
				n = addSize(n, 1+value(l.Get(i)))
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				n = addSize(n, 1+value(k.Value())+value(v))
				return n < limit
			})
		default:
			n = addSize(n, value(v))
		}
		return n < limit
	})
	return n
}
