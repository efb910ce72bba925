package celcond

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/cel-go/common/types"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/verifier"
)

// BenchmarkCost_NanosecondsPerUnit measures what a unit of the cost limit
// buys, in time, for the operations a tracked evaluation repeats: a
// whole-map equality (two request maps of 4,000 entries of 5-byte keys
// and values, deep size 44,000, charged 24,400: each entry counts 61
// units, see entryWeight), a list equality (4,000 strings of 5 bytes,
// deep size 20,000, charged 8,400: each element 21), a string equality
// (40,000 bytes, charged 4,000), each 20 times, and comprehension steps
// (exists over the 4,000 strings, each step a comparison). ns/unit is the
// evaluation's time over its actual cost: the closer those of different
// operations are, the better the cost limit bounds time whatever the
// expression does (docs/conditions.md, "Cost").
//
//	go test -run '^$' -bench NanosecondsPerUnit -benchmem -count=3 ./celcond/
func BenchmarkCost_NanosecondsPerUnit(b *testing.B) {
	md := unitMethod(b)
	req := unitRequest(md, 4000, 4000, 40000)
	// A limit above what the equalities of lists and maps cost: 20 of
	// them are over the default.
	c, err := New(Config{CostLimit: 10 * DefaultCostLimit})
	if err != nil {
		b.Fatal(err)
	}
	claims, err := verifier.NewClaims(map[string]any{"sub": "alice"})
	if err != nil {
		b.Fatal(err)
	}
	in := grpcauth.ConditionInput{Method: "/celcond.unitcost.S/M", Claims: claims, Request: req}
	twenty := "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20].all(i, %s)"
	for _, bm := range []struct{ name, expr string }{
		{"map equality", fmt.Sprintf(twenty, "request.m == request.n")},
		{"list equality", fmt.Sprintf(twenty, "request.l == request.k")},
		{"string equality", fmt.Sprintf(twenty, "request.s == request.t")},
		{"comprehension steps", "!request.l.exists(x, x == 'none')"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			cond, err := c.CompileCondition(md, bm.expr)
			if err != nil {
				b.Fatal(err)
			}
			prg := cond.(*condition).prg // the tracked program
			act := &activation{in: in}
			out, det, err := prg.Eval(act)
			if err != nil || out != trueVal || det.ActualCost() == nil {
				b.Fatalf("%v, %v, cost tracked %v", out, err, det.ActualCost() != nil)
			}
			cost := *det.ActualCost()
			b.ReportAllocs()
			for b.Loop() {
				*act = activation{in: in}
				if _, _, err := prg.Eval(act); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cost), "units/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(cost), "ns/unit")
		})
	}
}

// unitRequest returns a request of unitMethod's type whose maps m and n
// have the same entries entries of 5-byte keys and values, whose lists l
// and k the same elems 5-byte strings, and whose strings s and t the same
// text bytes.
func unitRequest(md protoreflect.MethodDescriptor, entries, elems, text int) *dynamicpb.Message {
	req := dynamicpb.NewMessage(md.Input())
	fields := md.Input().Fields()
	for _, name := range []protoreflect.Name{"m", "n"} {
		m := req.Mutable(fields.ByName(name)).Map()
		for i := range entries {
			m.Set(protoreflect.ValueOfString(fmt.Sprintf("k%04d", i)).MapKey(), protoreflect.ValueOfString(fmt.Sprintf("v%04d", i)))
		}
	}
	for _, name := range []protoreflect.Name{"l", "k"} {
		l := req.Mutable(fields.ByName(name)).List()
		for i := range elems {
			l.Append(protoreflect.ValueOfString(fmt.Sprintf("s%04d", i)))
		}
	}
	s := strings.Repeat("a", text)
	req.Set(fields.ByName("s"), protoreflect.ValueOfString(s))
	req.Set(fields.ByName("t"), protoreflect.ValueOfString(s))
	return req
}

// trueVal is CEL's true.
var trueVal = types.True

// unitMethod returns a method whose request, Req, has two maps of
// strings, m and n, two lists of strings, l and k, and two strings, s
// and t.
func unitMethod(t testing.TB) protoreflect.MethodDescriptor {
	t.Helper()
	one, many := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL, descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	return mapsMethod(t, "unitcost", messageField("l", 3, many, ""), messageField("k", 4, many, ""),
		messageField("s", 5, one, ""), messageField("t", 6, one, ""))
}
