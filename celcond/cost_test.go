package celcond

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	_ "google.golang.org/protobuf/types/known/anypb"

	"github.com/grpcauth/grpcauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
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
			// The short list's two elements, at least 21 units each.
			cost := runtimeCoster{}.CallCost(op, "", args, nil)
			if cost == nil || *cost != 5 {
				t.Errorf("%s: cost = %v, want 5", op, deref(cost))
			}
			if read > 1000 {
				t.Errorf("%s: read %d elements of the long list, want at most 1000", op, read)
			}
		}
	}
	// Lists of one size are charged for all they hold: 1 per 10 units of
	// 1,000 elements of size 1, each counted 1+elementWeight.
	l := types.NewDynamicList(types.DefaultTypeAdapter, make([]int, 1000))
	if cost := (runtimeCoster{}).CallCost(operators.Equals, "", []ref.Val{l, l}, nil); cost == nil || *cost != 2100 {
		t.Errorf("equal lists: cost = %v, want 2100", deref(cost))
	}
}

// TestCost_ComparisonOfTwoLongListsReadsEachOnce: sizing two lists of
// 6,000 elements read each up to 64, 128, ... 4,096 elements before the
// limit that holds them, 2.3 times each list, more than comparing them
// reads: a comprehension comparing two claim lists on every step ran for
// 0.4 s at the default limit, two thirds of it sizing them. A list of more
// elements than the limit is known larger without being read.
func TestCost_ComparisonOfTwoLongListsReadsEachOnce(t *testing.T) {
	const n = 6000
	read := 0
	a := countingList{Lister: types.NewDynamicList(types.DefaultTypeAdapter, make([]int, n)), read: &read}
	b := countingList{Lister: types.NewDynamicList(types.DefaultTypeAdapter, make([]int, n)), read: &read}
	cost := runtimeCoster{}.CallCost(operators.Equals, "", []ref.Val{a, b}, nil)
	if want := uint64(n * (1 + elementWeight) / 10); cost == nil || *cost != want {
		t.Errorf("cost = %v, want %d", deref(cost), want)
	}
	if read > 2*n {
		t.Errorf("read %d elements of two lists of %d, want at most %d", read, n, 2*n)
	}
}

// walkCounter counts the walks over a list or map (the iterators made
// over it) and what they read: the elements or keys an iterator returns,
// and the values a map's Get returns.
type walkCounter struct{ walks, reads int }

// walk counts a walk with it, and returns it counting what it reads.
func (c *walkCounter) walk(it traits.Iterator) traits.Iterator {
	c.walks++
	return countingIterator{Iterator: it, read: &c.reads}
}

type walkCountingList struct {
	traits.Lister
	c *walkCounter
}

func (l walkCountingList) Iterator() traits.Iterator { return l.c.walk(l.Lister.Iterator()) }

type walkCountingMap struct {
	traits.Mapper
	c *walkCounter
}

func (m walkCountingMap) Iterator() traits.Iterator { return m.c.walk(m.Mapper.Iterator()) }

func (m walkCountingMap) Get(k ref.Val) ref.Val {
	m.c.reads++
	return m.Mapper.Get(k)
}

// TestCost_ComparisonSizesEachListOrMapInOneWalk: an equality's operands
// were sized up to a limit that doubles from 64, each limit a new walk:
// two maps of 4,000 entries of deep size 44,000 were walked five times
// each, their keys copied by cel-go's iterator on every walk, and a
// comprehension comparing two such request maps on every step spent two
// thirds of its time sizing them. Each list or map, at any depth, is
// walked once, and each element, key and value read once, for the same
// charge.
func TestCost_ComparisonSizesEachListOrMapInOneWalk(t *testing.T) {
	entries, elems := map[string]string{}, make([]string, 4000)
	for i := range 4000 {
		entries[fmt.Sprintf("k%04d", i)] = fmt.Sprintf("v%04d", i)
		elems[i] = fmt.Sprintf("e%04d", i)
	}
	small := map[string]string{}
	for i := range 40 {
		small[fmt.Sprintf("k%04d", i)] = fmt.Sprintf("v%04d", i)
	}
	adapter := types.DefaultTypeAdapter
	for _, tt := range []struct {
		name         string
		value        func(*walkCounter) ref.Val
		walks, reads int    // of each operand
		cost         uint64 // 1 per 10 units of deep size, weighted
	}{
		{"maps of 4,000 entries", func(c *walkCounter) ref.Val {
			return walkCountingMap{Mapper: adapter.NativeToValue(entries).(traits.Mapper), c: c}
		}, 1, 2 * 4000, 4000 * (1 + entryWeight) / 10},
		{"lists of 4,000 strings", func(c *walkCounter) ref.Val {
			return walkCountingList{Lister: adapter.NativeToValue(elems).(traits.Lister), c: c}
		}, 1, 4000, 4000 * (1 + elementWeight) / 10},
		{"lists of 100 maps of 40 entries", func(c *walkCounter) ref.Val {
			maps := make([]ref.Val, 100)
			for i := range maps {
				maps[i] = walkCountingMap{Mapper: adapter.NativeToValue(small).(traits.Mapper), c: c}
			}
			return walkCountingList{Lister: types.NewRefValList(adapter, maps), c: c}
		}, 1 + 100, 100 + 100*2*40, 100 * 40 * (1 + entryWeight) / 10},
	} {
		var a, b walkCounter
		cost := runtimeCoster{}.CallCost(operators.Equals, "", []ref.Val{tt.value(&a), tt.value(&b)}, nil)
		if cost == nil || *cost != tt.cost {
			t.Errorf("%s: cost = %v, want %d", tt.name, deref(cost), tt.cost)
		}
		for i, c := range []walkCounter{a, b} {
			if c.walks != tt.walks || c.reads != tt.reads {
				t.Errorf("%s: operand %d: %d walks reading %d elements, keys and values; want %d reading %d", tt.name, i, c.walks, c.reads, tt.walks, tt.reads)
			}
		}
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

	for _, op := range []string{operators.Equals, operators.NotEquals} {
		cost := runtimeCoster{}.CallCost(op, "", args, nil)
		if want := traversal(1 + uint64(proto.Size(small))); cost == nil || *cost != want {
			t.Fatalf("%s: cost = %v, want %d", op, deref(cost), want)
		}
	}
	// The capped walk that stands before proto.Size knows a list of more
	// elements than its limit larger without reading it (each counts at
	// least 1), where reading the whole message would read 2^20.
	var c readCounts
	if n := protoSizeAtLeast(countedMessage{huge.ProtoReflect(), &c}, 64); n <= 64 || n > uint64(proto.Size(huge)) {
		t.Errorf("protoSizeAtLeast(1M-element message, 64) = %d, want a lower bound of its size above 64", n)
	}
	if c.elems != 0 {
		t.Errorf("protoSizeAtLeast(1M-element message, 64) read %d elements, want none", c.elems)
	}
	// A message of one size is charged by its encoded size.
	s := reg.NativeToValue(&authtestv1.Caller{Subject: strings.Repeat("a", 1000)})
	if cost := (runtimeCoster{}).CallCost(operators.Equals, "", []ref.Val{s, s}, nil); cost == nil || *cost != 101 {
		t.Errorf("equal messages: cost = %v, want 101", deref(cost))
	}
}

// BenchmarkCost_ComparisonWithALargeMessage is what charging one equality
// between a 1M-element message and a small one costs: the capped walks,
// not the large message's encoded size (go test -run '^$' -bench
// BenchmarkCost_ -benchmem ./celcond/).
func BenchmarkCost_ComparisonWithALargeMessage(b *testing.B) {
	huge := &authtestv1.Caller{Scopes: make([]string, 1<<20)}
	small := &authtestv1.Caller{Subject: "alice", Scopes: []string{"a"}}
	reg, err := types.NewRegistry(small)
	if err != nil {
		b.Fatal(err)
	}
	args := []ref.Val{reg.NativeToValue(huge), reg.NativeToValue(small)}
	b.ReportAllocs()
	for b.Loop() {
		runtimeCoster{}.CallCost(operators.NotEquals, "", args, nil)
	}
}

// deref returns *p, or nil.
func deref(p *uint64) any {
	if p == nil {
		return nil
	}
	return *p
}

// packedMethod returns a method whose request, Req, has a packed repeated
// int32 field, ids, which encodes a small number in one byte.
func packedMethod(t testing.TB) protoreflect.MethodDescriptor {
	t.Helper()
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:    proto.String("celcond/packed_test.proto"),
		Package: proto.String("celcond.packedtest"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Req"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("ids"), Number: proto.Int32(1), JsonName: proto.String("ids"),
				Label: descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum(),
				Type:  descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(),
			}},
		}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name:   proto.String("S"),
			Method: []*descriptorpb.MethodDescriptorProto{{Name: proto.String("M"), InputType: proto.String(".celcond.packedtest.Req"), OutputType: proto.String(".celcond.packedtest.Req")}},
		}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().Get(0).Methods().Get(0)
}

// TestEval_PackedListsWithinTheProvenSizeStayWithinTheLimit: a packed
// repeated scalar takes one byte an element, so a request within the
// proven size (bounded by its encoded size) can hold as many elements as
// that size; comparing such lists was charged two units an element, twice
// what the proof assumed, and an untracked evaluation could cost twice the
// limit.
func TestEval_PackedListsWithinTheProvenSizeStayWithinTheLimit(t *testing.T) {
	md := packedMethod(t)
	// A limit that proves lists longer than the claims' footprint.
	const limit = 100 * DefaultCostLimit
	c, err := New(Config{CostLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	gc, err := c.CompileCondition(md, "request.ids.all(x, request.ids == request.ids)")
	if err != nil {
		t.Fatal(err)
	}
	cond := gc.(*condition)
	if cond.fast == nil {
		t.Fatal("no proven size")
	}
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	// The longest list within the proven size.
	for k := int(cond.fastSize); k >= 0; k-- {
		req := dynamicpb.NewMessage(md.Input())
		l := req.Mutable(md.Input().Fields().ByName("ids")).List()
		for range k {
			l.Append(protoreflect.ValueOfInt32(0))
		}
		in := grpcauth.ConditionInput{Method: "/celcond.packedtest.S/M", Claims: claims, Request: req}
		if !cond.small(in) {
			continue
		}
		_, det, err := cond.prg.Eval(&activation{in: in})
		if err != nil {
			t.Fatalf("%d elements, proven size %d: tracked: %v", k, cond.fastSize, err)
		}
		if cost := det.ActualCost(); cost == nil || *cost > limit {
			t.Fatalf("%d elements, proven size %d: cost %v over the limit", k, cond.fastSize, deref(cost))
		}
		return
	}
	t.Fatal("no input within the proven size")
}

// iterCountingMap is a map that counts the iterators made over it: cel-go
// makes one by copying all the map's keys.
type iterCountingMap struct {
	traits.Mapper
	iterators *int
}

func (m iterCountingMap) Iterator() traits.Iterator {
	*m.iterators++
	return m.Mapper.Iterator()
}

// TestCost_ComparisonDoesNotIterateTheLargerMap: an iterator over a
// cel-go map copies all its keys, so sizing a large map to compare it with
// a small one read it whole on every step, although cel-go's equality
// stops at the sizes (claims.l.all(x, claims.m != {'a': x}) ran for 1 s
// over 54 KB of claims, and for seconds more over a larger map).
func TestCost_ComparisonDoesNotIterateTheLargerMap(t *testing.T) {
	big := map[string]int{}
	for i := range 1000 {
		big[strings.Repeat("k", i)] = i
	}
	iterators := 0
	large := iterCountingMap{Mapper: types.DefaultTypeAdapter.NativeToValue(big).(traits.Mapper), iterators: &iterators}
	small := types.DefaultTypeAdapter.NativeToValue(map[string]int{"a": 1})
	for _, args := range [][]ref.Val{{large, small}, {small, large}} {
		iterators = 0
		// The small map's entry, at least 61 units.
		cost := runtimeCoster{}.CallCost(operators.NotEquals, "", args, nil)
		if cost == nil || *cost != 7 {
			t.Errorf("cost = %v, want 7", deref(cost))
		}
		if iterators != 0 {
			t.Errorf("made %d iterators over the large map, want 0", iterators)
		}
	}
}

// messageField returns a field of the message type typ, or of type
// string when typ is "".
func messageField(name string, n int32, label descriptorpb.FieldDescriptorProto_Label, typ string) *descriptorpb.FieldDescriptorProto {
	f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), JsonName: proto.String(name),
		Label: label.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(), TypeName: proto.String(typ)}
	if typ == "" {
		f.Type, f.TypeName = descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), nil
	}
	return f
}

// fileMethod builds file, adding it a service S whose method M takes and
// returns the Req of file's package, and returns M.
func fileMethod(t testing.TB, file *descriptorpb.FileDescriptorProto) protoreflect.MethodDescriptor {
	t.Helper()
	req := proto.String("." + file.GetPackage() + ".Req")
	file.Service = []*descriptorpb.ServiceDescriptorProto{{
		Name:   proto.String("S"),
		Method: []*descriptorpb.MethodDescriptorProto{{Name: proto.String("M"), InputType: req, OutputType: req}},
	}}
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().Get(0).Methods().Get(0)
}

// anyMethod returns a method whose request, Req, holds google.protobuf.Any
// values: a, anys, the values of the map m, and the field x of the
// messages inner and items, next to a string, name, in both.
func anyMethod(t *testing.T) protoreflect.MethodDescriptor {
	t.Helper()
	field := messageField
	one, many := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL, descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	return fileMethod(t, &descriptorpb.FileDescriptorProto{
		Name:       proto.String("celcond/any_test.proto"),
		Package:    proto.String("celcond.anytest"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/any.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Req"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("a", 1, one, ".google.protobuf.Any"), field("anys", 2, many, ".google.protobuf.Any"),
				field("inner", 3, one, ".celcond.anytest.Inner"), field("items", 4, many, ".celcond.anytest.Inner"),
				field("name", 5, one, ""), field("ring", 6, one, ".celcond.anytest.Ring"),
				field("m", 7, many, ".celcond.anytest.Req.MEntry"),
			},
			NestedType: []*descriptorpb.DescriptorProto{{
				Name:    proto.String("MEntry"),
				Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
				Field:   []*descriptorpb.FieldDescriptorProto{field("key", 1, one, ""), field("value", 2, one, ".google.protobuf.Any")},
			}},
		}, {
			// Ring holds an Any, and Ring2 through Ring.
			Name:  proto.String("Ring"),
			Field: []*descriptorpb.FieldDescriptorProto{field("next", 1, one, ".celcond.anytest.Ring2"), field("x", 2, one, ".google.protobuf.Any")},
		}, {
			Name:  proto.String("Ring2"),
			Field: []*descriptorpb.FieldDescriptorProto{field("back", 1, one, ".celcond.anytest.Ring")},
		}, {
			Name:  proto.String("Inner"),
			Field: []*descriptorpb.FieldDescriptorProto{field("x", 1, one, ".google.protobuf.Any"), field("name", 2, one, "")},
		}},
	})
}

// TestCompile_AnyValuesAreRefused: cel-go unpacks a google.protobuf.Any
// whenever it is read, each level of an Any holding an Any, and compares
// messages that hold one by unpacking it, which the cost limit counts as
// 1: has(request.a) && request.a == 1 took 5 s on a 200 KB request whose a
// held an Any nested 8,000 times, growing with the square of the size.
// An expression may read the fields of a message that holds an Any, and
// iterate a list of them, but not use the Any or such a message whole.
func TestCompile_AnyValuesAreRefused(t *testing.T) {
	checkCompiles(t, anyMethod(t), "google.protobuf.Any", []string{
		"request.a == 1",
		"has(request.a.value)",
		"request.anys[0] == 1",
		"size(request.anys) > 0",
		"request.anys.exists(x, x == 1)",
		"request.inner == request.inner",
		"request.inner.x == 1",
		"request.items.exists(i, i.x == 1)",
		"request.items.exists(i, i == request.inner)",
		"dyn(request) != dyn(request.inner)",
		"request in [request]",
		"request.ring.next == request.ring.next",
		"has(request.m.k)",
		"request.items.all(i, has(request.m.k))",
	}, []string{
		"request.name == 'a'",
		"request.inner.name == 'a'",
		"has(request.a) && has(request.inner.x)",
		"request.items.all(i, i.name != '')",
		"request.m.all(k, k != '')",
	})
}

// checkCompiles checks that CompileCondition refuses each of refused for
// md with an error naming refusal, and compiles each of allowed.
func checkCompiles(t *testing.T, md protoreflect.MethodDescriptor, refusal string, refused, allowed []string) {
	t.Helper()
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range refused {
		if _, err := c.CompileCondition(md, expr); err == nil || !strings.Contains(err.Error(), refusal) {
			t.Errorf("%s: err = %v, want a refusal naming %q", expr, err, refusal)
		}
	}
	for _, expr := range allowed {
		if _, err := c.CompileCondition(md, expr); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
}

// TestCompile_AnyHeldThroughACycleIsFound: Ring holds an Any, and Ring2
// through Ring. Checking Ring first walked Ring2 while Ring was under way,
// found nothing in it, and remembered that Ring2 holds no Any, whenever
// cel-go listed Ring's fields with next before x (its order is a map's).
func TestCompile_AnyHeldThroughACycleIsFound(t *testing.T) {
	env, err := cel.NewEnv(cel.TypeDescs(anyMethod(t).ParentFile()))
	if err != nil {
		t.Fatal(err)
	}
	for range 64 {
		h := holdsAny{provider: env.CELTypeProvider(), memo: map[string]bool{}}
		for _, name := range []string{"celcond.anytest.Ring", "celcond.anytest.Ring2"} {
			if !h.check(types.NewObjectType(name)) {
				t.Fatalf("%s: holds no Any, want one", name)
			}
		}
	}
}

// jsonMethod returns a method whose request, Req, has fields of the types
// cel-go copies on every read: s (google.protobuf.Struct), v (Value), lv
// (ListValue), the values of the map m, and the field labels (a Struct)
// of the messages item and items; a and name are strings.
func jsonMethod(t *testing.T) protoreflect.MethodDescriptor {
	t.Helper()
	field := messageField
	one, many := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL, descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	return fileMethod(t, &descriptorpb.FileDescriptorProto{
		Name:       proto.String("celcond/json_test.proto"),
		Package:    proto.String("celcond.jsontest"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/struct.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Req"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("s", 1, one, ".google.protobuf.Struct"), field("v", 2, one, ".google.protobuf.Value"),
				field("lv", 3, one, ".google.protobuf.ListValue"), field("items", 4, many, ".celcond.jsontest.Item"),
				field("m", 5, many, ".celcond.jsontest.Req.MEntry"), field("a", 6, many, ""),
				field("name", 7, one, ""), field("item", 8, one, ".celcond.jsontest.Item"),
			},
			NestedType: []*descriptorpb.DescriptorProto{{
				Name:    proto.String("MEntry"),
				Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
				Field:   []*descriptorpb.FieldDescriptorProto{field("key", 1, one, ""), field("value", 2, one, ".google.protobuf.Value")},
			}},
		}, {
			Name:  proto.String("Item"),
			Field: []*descriptorpb.FieldDescriptorProto{field("labels", 1, one, ".google.protobuf.Struct"), field("name", 2, one, "")},
		}},
	})
}

// TestCompile_StructReadsRepeatedInAComprehensionAreRefused: cel-go copies
// a google.protobuf.Struct, Value or ListValue field whole on every read,
// has() included, which the cost limit counts as 1:
// request.items.all(i, !has(request.s.x)) took 4.9 s for 50 items and a
// 2.1 MB Struct, and minutes with more items. Such a field may be read
// outside a comprehension, iterated, or read once from each element a
// comprehension iterates, but not read again on every step.
func TestCompile_StructReadsRepeatedInAComprehensionAreRefused(t *testing.T) {
	checkCompiles(t, jsonMethod(t), "google.protobuf.Struct, Value or ListValue", []string{
		"request.items.all(i, !has(request.s.x))",
		"request.items.all(i, has(request.s))",
		"request.a.exists(x, request.v == x)",
		"request.a.exists(x, 1 in request.lv)",
		"request.a.exists(x, request.m[x] == 1)",
		"request.a.exists(x, has(request.m.k))",
		"request.a.exists(x, request.item.labels.env == x)",
		"request.items.all(i, request.s.exists(k, k == i.name))",
		"request.a.all(x, request.items.all(i, has(i.labels.k)))",
		"request.items.all(i, request.items.exists(j, j.labels == i.labels))",
		"request.items.map(i, request.item).all(x, has(x.labels.k))",
		"request.items.filter(i, i.name != '').all(i, has(i.labels.k))",
		// A dyn value hides the type of the fields read from it.
		"request.items.all(i, has(dyn(request).s.x))",
		"request.items.all(i, has([request, 1][0].s.x))",
		"request.items.all(i, has({'a': request, 'b': 1}.a.s.x))",
		"request.items.all(i, has((i.name == '' ? request : dyn(1)).s.x))",
		// So does a list or map of messages made dyn.
		"request.items.all(i, has(dyn([request])[0].s.x))",
		"request.items.all(i, has(dyn(request.items)[0].labels.x))",
		"request.items.all(i, has(dyn({'a': request}).a.s.x))",
		"request.items.all(i, has([[request], [1]][0][0].s.x))",
		"request.items.all(i, has(([request] + [dyn(1)])[0].s.x))",
		// An element of a list or map field of them is copied on every
		// access: held in a variable, such a field is read again.
		"[request.m].all(m, request.a.all(x, has(m['k'].y)))",
		"[{'a': request.m}].all(o, request.a.all(x, has(o.a.k.y)))",
		"dyn(request.m).size() == 1",
	}, []string{
		"request.s.x == 'y'",
		"has(request.s.x) && has(request.v) && request.m.k == 1",
		"request.item.labels.env == 'prod'",
		"request.s.exists(k, k == 'a')",
		"request.lv.exists(v, v == 1)",
		"request.m.exists(k, k == request.name)",
		"request.items.all(i, i.labels.env == 'prod')",
		"request.items.exists(i, has(i.labels.env) && i.name == request.name)",
		"request.items.all(i, i.labels.exists(k, k == 'a'))",
		"request.a.all(x, x != request.name)",
		"request.items.map(i, i).exists(i, i.name == 'a')",
		"[request.item].exists(i, i.name == request.name)",
		"request.m['k'] == 1 && 'k' in request.m && size(request.m) == 1 && request.m.size() == 1",
		"request.m != request.m || request.m.exists(k, k == request.name)",
		"request.items.all(i, [i.name, i.labels.x].exists(x, x == 'a'))",
	})
}

// TestCompile_MessagesBuiltFromComputedListsAreRefused: building a message
// copies a list or map into its repeated or map field an element at a
// time, and converts any value set to a google.protobuf.Any, Struct, Value
// or ListValue field (or a dyn value) whole, and may merge a message into
// a message field, while the cost limit charges a construction a fixed
// 40: request.ids.all(x, Req{ids: request.ids}.ids.size() > 0) ran past
// 20 s on a 1 MB request. Such a field may be set to a literal, or to a
// message built in place; scalars are set as they are.
func TestCompile_MessagesBuiltFromComputedListsAreRefused(t *testing.T) {
	refusal := "cel-go copies such a value into the message"
	checkCompiles(t, packedMethod(t), refusal, []string{
		"request.ids.all(x, celcond.packedtest.Req{ids: request.ids}.ids.size() > 0)",
		"celcond.packedtest.Req{ids: request.ids.map(x, x + 1)} == request",
		"celcond.packedtest.Req{ids: [request.ids[0]]} == request",
		"google.protobuf.ListValue{values: request.ids}.size() > 0",
		"size(google.protobuf.Value{list_value: google.protobuf.ListValue{values: [1]}}) > 0",
		"google.protobuf.Struct{fields: {'a': request.ids}}.size() > 0",
		"google.protobuf.Struct{fields: {subject: 1}}.size() > 0",
	}, []string{
		"celcond.packedtest.Req{ids: [1, 2]}.ids.size() == 2",
		"celcond.packedtest.Req{} == request",
		"google.protobuf.ListValue{values: [1, 'a', [2]]}.size() == 3",
		"google.protobuf.Struct{fields: {'a': {'b': [1]}}}.size() == 1",
		"google.protobuf.StringValue{value: subject} == subject",
		"google.protobuf.Value{string_value: subject} == subject",
	})
	checkCompiles(t, jsonMethod(t), refusal, []string{
		"celcond.jsontest.Req{s: request.s}.name == ''",
		"celcond.jsontest.Req{v: subject}.name == ''",
		"celcond.jsontest.Req{v: request.item}.name == ''",
		"celcond.jsontest.Req{items: request.items}.name == ''",
		"celcond.jsontest.Req{a: claims.groups}.name == ''",
		"celcond.jsontest.Req{item: dyn(claims.item)}.name == ''",
		"celcond.jsontest.Req{item: request.item}.name == ''",
		"celcond.jsontest.Req{v: celcond.jsontest.Item{name: request.name}}.name == ''",
		"celcond.jsontest.Req{item: celcond.jsontest.Item{labels: request.s}}.name == ''",
		// A dyn value is converted by its type at run time even into a
		// scalar field: a list of uints into a bytes field an element
		// at a time.
		"celcond.jsontest.Req{name: claims.name}.name == ''",
		"celcond.jsontest.Req{name: dyn(request.a)}.name == ''",
	}, []string{
		"celcond.jsontest.Req{name: subject}.name == request.name",
		"celcond.jsontest.Req{name: string(claims.name)}.name == request.name",
		"celcond.jsontest.Req{item: celcond.jsontest.Item{name: subject}}.item.name == request.name",
		"celcond.jsontest.Req{v: 1, s: {'a': 'b'}, lv: ['x'], a: ['y']}.name == ''",
	})
	checkCompiles(t, anyMethod(t), refusal, []string{
		"celcond.anytest.Inner{x: request.name}.name == ''",
		"celcond.anytest.Inner{x: google.protobuf.Duration{seconds: size(request.name)}}.name == ''",
	}, []string{
		"celcond.anytest.Inner{x: 1, name: request.name}.name == ''",
	})
}

// TestEval_TrackedComprehensionStopsAfterMaxTrackedSteps: cel-go's cost
// tracker takes time growing with the square of a comprehension's steps,
// which the cost limit charges linearly: over a 40 KB request of 40,000
// ids, request.ids.exists_one(x, x < 0) ran to its end within the
// default limit, for 1.6 s. A tracked evaluation now stops, as if over
// the limit, past maxTrackedSteps steps, with or without a context that
// can end; one within them still runs to its result.
func TestEval_TrackedComprehensionStopsAfterMaxTrackedSteps(t *testing.T) {
	cond, input := packedCondition(t, "request.ids.exists_one(x, x < 0)")

	long := input(40_000)
	if cond.small(long) {
		t.Fatalf("40,000 ids are within the proven size %d: not tracked", cond.fastSize)
	}
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ctx := range []context.Context{context.Background(), cancellable} {
		ok, err := cond.Eval(ctx, long)
		if ok || err == nil || !strings.Contains(err.Error(), "more steps") {
			t.Errorf("40,000 ids: Eval = %v, %v; want the step bound's error", ok, err)
		}
	}

	// Within the bound, the tracked program gives the result.
	within := input(maxTrackedSteps)
	out, _, err := cond.prg.Eval(&activation{in: within})
	if err != nil || out != types.False {
		t.Errorf("%d ids, tracked: %v, %v; want false", maxTrackedSteps, out, err)
	}
	out, _, err = cond.prg.ContextEval(cancellable, &activation{in: within})
	if err != nil || out != types.False {
		t.Errorf("%d ids, tracked, with a context: %v, %v; want false", maxTrackedSteps, out, err)
	}
}

// BenchmarkCost_HostileComprehension measures a comprehension that never
// stops early, request.ids.exists_one(x, x < 0), on hostile requests
// under the default cost limit: "tracked" over 40,000 ids, beyond the
// proven size, which stops at maxTrackedSteps (1.6 s a call before that
// bound); "untracked" over the longest list within the proven size.
//
//	go test -run '^$' -bench BenchmarkCost_HostileComprehension -benchmem ./celcond
func BenchmarkCost_HostileComprehension(b *testing.B) {
	cond, input := packedCondition(b, "request.ids.exists_one(x, x < 0)")
	for _, tt := range []struct {
		name string
		n    int
	}{{"tracked", 40_000}, {"untracked", int(cond.fastSize) - 8}} {
		in := input(tt.n)
		if cond.small(in) != (tt.name == "untracked") {
			b.Fatalf("%s: %d ids, proven size %d", tt.name, tt.n, cond.fastSize)
		}
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				_, _ = cond.Eval(context.Background(), in)
			}
		})
	}
}

// packedCondition compiles expr for packedMethod's request with the
// default Config, and returns it with a function giving an input whose
// request holds n ids of 1, for a token of subject alice.
func packedCondition(t testing.TB, expr string) (*condition, func(n int) grpcauth.ConditionInput) {
	t.Helper()
	md := packedMethod(t)
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	gc, err := c.CompileCondition(md, expr)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return gc.(*condition), func(n int) grpcauth.ConditionInput {
		req := dynamicpb.NewMessage(md.Input())
		l := req.Mutable(md.Input().Fields().ByName("ids")).List()
		for range n {
			l.Append(protoreflect.ValueOfInt32(1))
		}
		return grpcauth.ConditionInput{Method: "/celcond.packedtest.S/M", Claims: claims, Request: req}
	}
}

// TestEval_StepBoundKeepsTheTrackedCost: the step bound's guard around a
// comprehension's step leaves what cel-go's tracker charges unchanged,
// for every macro: behind a guard that hid the step's call, the tracker
// did not charge map's step (__result__ + [x]), 1 a step.
func TestEval_StepBoundKeepsTheTrackedCost(t *testing.T) {
	c, env := packedEnv(t)
	for _, expr := range []string{
		"request.ids.all(x, x > 0)",
		"request.ids.exists(x, x < 0)",
		"request.ids.exists_one(x, x < 0)",
		"request.ids.map(x, x * 2).size() > 0",
		"request.ids.map(x, x > 0, x * 2).size() > 0",
		"request.ids.filter(x, x > 0).size() > 0",
		"request.ids.map(x, request.ids.map(y, y + x)).size() > 0",
	} {
		cond, input := packedCondition(t, expr)
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		unguarded, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize),
			cel.CostLimit(c.limit), cel.CostTracking(runtimeCoster{}))
		if err != nil {
			t.Fatal(err)
		}
		in := input(50)
		_, want, err := unguarded.Eval(&activation{in: in})
		if err != nil {
			t.Fatalf("%s, unguarded: %v", expr, err)
		}
		_, got, err := cond.prg.Eval(&activation{in: in})
		if err != nil {
			t.Fatalf("%s, tracked: %v", expr, err)
		}
		if *got.ActualCost() != *want.ActualCost() {
			t.Errorf("%s: tracked cost %d, want cel-go's %d", expr, *got.ActualCost(), *want.ActualCost())
		}
	}
}

// TestEval_StepBoundIsPerEvaluation: the steps are counted per
// evaluation, in its own activation: concurrent evaluations of one
// tracked condition, each within maxTrackedSteps but together far
// beyond, all give their result, one after another as at once.
func TestEval_StepBoundIsPerEvaluation(t *testing.T) {
	cond, input := packedCondition(t, "request.ids.exists_one(x, x < 0)")
	// 3,000 ids of -1, 10 bytes each: beyond the proven size.
	in := input(3000)
	ids := in.Request.ProtoReflect()
	l := ids.Mutable(ids.Descriptor().Fields().ByName("ids")).List()
	for i := range l.Len() {
		l.Set(i, protoreflect.ValueOfInt32(-1))
	}
	if cond.small(in) {
		t.Fatalf("3,000 ids are within the proven size %d: not tracked", cond.fastSize)
	}
	const workers, rounds = 3, 2
	errs := make(chan error, workers*rounds)
	for range workers {
		go func() {
			for range rounds {
				ok, err := cond.Eval(context.Background(), in)
				if err == nil && ok {
					err = errors.New("true, want false")
				}
				errs <- err
			}
		}()
	}
	for range workers * rounds {
		if err := <-errs; err != nil {
			t.Errorf("Eval of 3,000 ids: %v", err)
		}
	}
}

// TestCompile_StepGuardKeepsWhatTheTrackerSees: cel-go's cost tracker
// charges a call, and drops a conditional's operands from its stack, only
// when it sees one (InterpretableCall, InterpretableAttribute): the guard
// of a step keeps the step's kind, which a plain guard hid from it
// (filter's and exists_one's conditional step grew the tracker's stack on
// every step).
func TestCompile_StepGuardKeepsWhatTheTrackerSees(t *testing.T) {
	_, env := packedEnv(t)
	kind := func(i interpreter.InterpretableV2) string {
		switch i.(type) {
		case interpreter.InterpretableCall:
			return "call"
		case interpreter.InterpretableAttribute:
			return "attribute"
		}
		return "other"
	}
	for _, expr := range []string{
		"request.ids.all(x, x > 0)",
		"request.ids.exists_one(x, x < 0)",
		"request.ids.map(x, x * 2).size() > 0",
		"request.ids.map(x, x > 0, x * 2).size() > 0",
		"request.ids.filter(x, x > 0).size() > 0",
	} {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		steps := loopSteps(ast)
		var before, after []string
		watch := func(kinds *[]string) cel.ProgramOption {
			return cel.CustomDecoratorV2(func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
				if steps[i.ID()] {
					*kinds = append(*kinds, kind(i))
				}
				return i, nil
			})
		}
		if _, err := env.Program(ast, watch(&before), cel.CustomDecoratorV2(stepGuards(steps, nil)), watch(&after)); err != nil {
			t.Fatal(err)
		}
		if len(before) == 0 || strings.Join(before, ",") != strings.Join(after, ",") {
			t.Errorf("%s: steps %v, guarded %v; want the same", expr, before, after)
		}
	}
}

// packedEnv returns a Compiler with the default Config, and its
// environment for packedMethod, in which CompileCondition compiles.
func packedEnv(t *testing.T) (*Compiler, *cel.Env) {
	t.Helper()
	md := packedMethod(t)
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	env, err := c.env.Extend(cel.TypeDescs(md.Input().ParentFile()),
		cel.Variable("request", cel.ObjectType(string(md.Input().FullName()))))
	if err != nil {
		t.Fatal(err)
	}
	return c, env
}

// mapMethod returns a method whose request, Req, has two map<string,
// string>, m and n.
func mapMethod(t testing.TB) protoreflect.MethodDescriptor {
	t.Helper()
	return mapsMethod(t, "maptest")
}

// mapsMethod returns a method of the package celcond.pkg whose request,
// Req, has two map<string, string>, m and n (fields 1 and 2), and the
// fields extra.
func mapsMethod(t testing.TB, pkg string, extra ...*descriptorpb.FieldDescriptorProto) protoreflect.MethodDescriptor {
	t.Helper()
	one, many := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL, descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	entry := func(name string) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{
			Name:    proto.String(name),
			Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
			Field:   []*descriptorpb.FieldDescriptorProto{messageField("key", 1, one, ""), messageField("value", 2, one, "")},
		}
	}
	full := "celcond." + pkg
	file := "celcond/map_test.proto"
	if pkg != "maptest" {
		file = "celcond/" + pkg + "_test.proto"
	}
	return fileMethod(t, &descriptorpb.FileDescriptorProto{
		Name:    proto.String(file),
		Package: proto.String(full),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Req"),
			Field: append([]*descriptorpb.FieldDescriptorProto{messageField("m", 1, many, "."+full+".Req.MEntry"),
				messageField("n", 2, many, "."+full+".Req.NEntry")}, extra...),
			NestedType: []*descriptorpb.DescriptorProto{entry("MEntry"), entry("NEntry")},
		}},
	})
}

// TestEval_IteratingAMapCountsItsEntriesAsSteps: cel-go copies a map's
// keys whole before a comprehension's first step, and charges the copy
// nothing, so a comprehension that stops early (exists finding its first
// key) was charged 1 for reading the whole map: request.m.exists(k,
// request.m.exists(j, true) && false) over a request map of 300,000
// entries ran for 39 s within the limit, its 4,096 tracked steps each
// copying 300,000 keys. A tracked evaluation counts a map's iteration as
// one step per 16 entries, when it starts.
func TestEval_IteratingAMapCountsItsEntriesAsSteps(t *testing.T) {
	md := mapMethod(t)
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cond, err := c.CompileCondition(md, "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].exists(i, request.m.exists(j, true) && false)")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := verifier.NewClaims(map[string]any{"sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	withEntries := func(n int) grpcauth.ConditionInput {
		req := dynamicpb.NewMessage(md.Input())
		m := req.Mutable(md.Input().Fields().ByName("m")).Map()
		for i := range n {
			m.Set(protoreflect.ValueOfString(strconv.Itoa(i)).MapKey(), protoreflect.ValueOfString(""))
		}
		return grpcauth.ConditionInput{Claims: alice, Request: req}
	}
	gc := cond.(*condition)
	// 10 iterations of 8,000 entries count 5,000 steps, 2 steps each.
	in := withEntries(8000)
	if gc.fast != nil && gc.small(in) {
		t.Fatal("the request is within the proven size: not tracked")
	}
	if ok, err := cond.Eval(context.Background(), in); ok || err == nil || !strings.Contains(err.Error(), "more steps than a tracked evaluation may") {
		t.Errorf("10 iterations of a map of 8,000 entries = %v, %v; want the step bound's error", ok, err)
	}
	// 10 of 1,000 count 650.
	if ok, err := cond.Eval(context.Background(), withEntries(1000)); ok || err != nil {
		t.Errorf("10 iterations of a map of 1,000 entries = %v, %v; want false", ok, err)
	}
}

// TestEval_ComparingLargeRequestListsOrMapsIsRefusedAtTheCostLimit: an
// equality of two lists or maps was charged 1 per 10 units of their deep
// size, where converting and comparing an element, or an entry, takes 5-8
// times what a unit of comprehension steps does: 20 equalities of two
// request maps of 4,000 entries cost 88,141 (lists of 4,000 strings
// 40,141) and ran within the default limit, taking 5-8 times as long as
// any other evaluation that close to it. Each element now counts at least
// 1+elementWeight units, each entry 1+entryWeight, and the compile-time
// proof bounds them so: lists of 2,500 strings, within what the old
// estimate proved for 20 equalities, so never tracked, are over the limit
// too. 20 equalities of two 40,000-byte strings (80,141) still pass.
func TestEval_ComparingLargeRequestListsOrMapsIsRefusedAtTheCostLimit(t *testing.T) {
	md := unitMethod(t)
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	const twenty = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20].all(i, %s)"
	for _, tt := range []struct {
		name, cmp string
		req       proto.Message
		refused   bool
	}{
		{"maps of 4,000 entries", "request.m == request.n", unitRequest(md, 4000, 0, 0), true},
		{"lists of 4,000 strings", "request.l == request.k", unitRequest(md, 0, 4000, 0), true},
		{"lists of 2,500 strings, within the old proof", "request.l == request.k", unitRequest(md, 0, 2500, 0), true},
		{"lists of 2,000 strings", "request.l == request.k", unitRequest(md, 0, 2000, 0), false},
		{"strings of 40,000 bytes", "request.s == request.t", unitRequest(md, 0, 0, 40000), false},
	} {
		cond, err := c.CompileCondition(md, fmt.Sprintf(twenty, tt.cmp))
		if err != nil {
			t.Fatal(err)
		}
		in := grpcauth.ConditionInput{Method: "/celcond.unitcost.S/M", Claims: claims, Request: tt.req}
		ok, err := cond.Eval(context.Background(), in)
		switch {
		case tt.refused && (ok || err == nil || !strings.Contains(err.Error(), "cost limit")):
			t.Errorf("%s: %v, %.200v; want refused at the cost limit", tt.name, ok, err)
		case !tt.refused && (!ok || err != nil):
			t.Errorf("%s: %v, %.200v; want true", tt.name, ok, err)
		}
	}
}

// TestCost_SizingStopsOnceTheComparisonIsOverTheLimit: two lists of the
// same length are sized to the smaller's size, however far cel-go's
// equality read them (it stops at the first elements that differ): two
// lists of 100,000 elements were read whole for a charge over any limit.
// Sizing stops at the first size tried whose cost is over the limit.
func TestCost_SizingStopsOnceTheComparisonIsOverTheLimit(t *testing.T) {
	const n, limit = 100_000, 1000
	read := 0
	a := countingList{Lister: types.NewDynamicList(types.DefaultTypeAdapter, make([]int, n)), read: &read}
	b := countingList{Lister: types.NewDynamicList(types.DefaultTypeAdapter, make([]int, n)), read: &read}
	for _, op := range []string{operators.Equals, operators.In} {
		read = 0
		args := []ref.Val{a, b}
		if op == operators.In {
			args = []ref.Val{types.NewDynamicList(types.DefaultTypeAdapter, []int{1}), b}
		}
		cost := runtimeCoster{limit: limit}.CallCost(op, "", args, nil)
		if cost == nil || *cost <= limit {
			t.Errorf("%s: cost = %v, want over %d", op, deref(cost), limit)
		}
		// 16,384 units of size, the first limit tried at least
		// 10*limit, hold 780 elements of 21 units.
		if read > 2*800 {
			t.Errorf("%s: read %d elements of lists of %d, want at most %d", op, read, n, 2*800)
		}
	}
}
