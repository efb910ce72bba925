package celcond_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// fixedVerifier accepts every token with the same claims.
type fixedVerifier struct{ c verifier.Claims }

func (v fixedVerifier) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return v.c, nil
}

// BenchmarkCondition measures a simple field-equality condition,
// request.item.owner == subject: "eval" is one evaluation alone;
// "unary/none" and "unary/condition" call the unary interceptor directly
// (fixed claims, no network, a no-op handler) for the same method and
// scopes without and with the condition, so their difference is the
// condition's cost per call.
//
//	go test -run '^$' -bench BenchmarkCondition -benchmem -count 5 ./celcond
func BenchmarkCondition(b *testing.B) {
	const expr = "request.item.owner == subject"
	const own = "/authtest.v1.ConditionService/Own"
	c := claims(b, map[string]any{"sub": "alice", "cid": "app", "scp": []string{"test:write"}})
	req := &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "alice"}}

	cond := compile(b, celcond.Config{}, expr)
	in := grpcauth.ConditionInput{Method: own, Claims: c, Request: req}
	b.Run("eval", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := cond.Eval(context.Background(), in); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})

	conds, err := celcond.New(celcond.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(loopbackCtx(), metadata.Pairs("authorization", "Bearer t"))
	info := &grpc.UnaryServerInfo{FullMethod: own}
	noop := func(context.Context, any) (any, error) { return nil, nil }
	for _, tt := range []struct{ name, condition string }{{"none", ""}, {"condition", expr}} {
		a, err := grpcauth.New(grpcauth.Config{Verifier: fixedVerifier{c}, Conditions: conds,
			Rules: map[string]*grpcauthv1.Rule{own: {Scopes: []string{"test:write"}, Condition: tt.condition}}})
		if err != nil {
			b.Fatal(err)
		}
		unary := a.UnaryServerInterceptor()
		if _, err := unary(ctx, req, info, noop); err != nil {
			b.Fatal(err)
		}
		b.Run("unary/"+tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := unary(ctx, req, info, noop); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loopbackCtx is the context of a call from a plaintext loopback peer.
func loopbackCtx() context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000},
		AuthInfo: loopbackInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}})
}

type loopbackInfo struct{ credentials.CommonAuthInfo }

func (loopbackInfo) AuthType() string { return "insecure" }

// BenchmarkConditionComprehension measures comprehensions evaluated with a
// cancellable context, as a call's are: "literal" over a two-element list
// literal, proven within the cost limit (untracked); "claims/2" and
// "claims/1000" over a claim list of 2 elements (a typical amr) and of
// 1000 (the per-step cost of watching the context); "groups/20", a
// realistic group check (claims.groups.exists(g, g == 'admin')) over 20
// groups. The claim lists are not proven within the cost limit for every
// token, but those of claims/2 and groups/20 are within the size proven
// for their expression, and are not tracked; that of claims/1000 is
// tracked. No element matches.
//
//	go test -run '^$' -bench BenchmarkConditionComprehension -benchmem -count 5 ./celcond
func BenchmarkConditionComprehension(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tt := range []struct {
		name, expr string
		n          int
	}{
		{"literal", "[subject, client_id].exists(x, x == 'bob')", 0},
		{"claims/2", "claims.l.exists(x, x == subject)", 2},
		{"claims/1000", "claims.l.exists(x, x == subject)", 1000},
		{"groups/20", "claims.l.exists(g, g == 'admin')", 20},
	} {
		cond := compile(b, celcond.Config{}, tt.expr)
		l := make([]string, tt.n)
		if strings.HasPrefix(tt.name, "groups/") {
			for i := range l {
				l[i] = fmt.Sprintf("group-%02d", i)
			}
		}
		in := grpcauth.ConditionInput{Claims: claims(b, map[string]any{"sub": "alice", "cid": "app", "l": l}),
			Request: &authtestv1.OwnRequest{}}
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := cond.Eval(ctx, in); ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// BenchmarkCost_ComparingTwoRequestMaps measures a tracked evaluation
// comparing two request maps of 4,000 entries on each of 20 steps,
// [1, ..., 20].all(i, request.m == request.n): charging each comparison
// sizes both maps (deep size 44,000 each), which cel-go's equality then
// reads whole. Each entry counts 61 units of size (see entryWeight), so
// the evaluation costs 488,141, within a limit ten times the default
// (88,141 before entries were weighted, within the default).
//
//	go test -run '^$' -bench ComparingTwoRequestMaps -benchmem -count=3 ./celcond/
func BenchmarkCost_ComparingTwoRequestMaps(b *testing.B) {
	md := celcond.MapMethod(b)
	req := dynamicpb.NewMessage(md.Input())
	for _, name := range []protoreflect.Name{"m", "n"} {
		m := req.Mutable(md.Input().Fields().ByName(name)).Map()
		for i := range 4000 {
			m.Set(protoreflect.ValueOfString(fmt.Sprintf("k%04d", i)).MapKey(), protoreflect.ValueOfString(fmt.Sprintf("v%04d", i)))
		}
	}
	c, err := celcond.New(celcond.Config{CostLimit: 10 * celcond.DefaultCostLimit})
	if err != nil {
		b.Fatal(err)
	}
	cond, err := c.CompileCondition(md, "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20].all(i, request.m == request.n)")
	if err != nil {
		b.Fatal(err)
	}
	in := grpcauth.ConditionInput{Method: "/celcond.maptest.S/M", Claims: claims(b, map[string]any{"sub": "alice"}), Request: req}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := cond.Eval(context.Background(), in); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
