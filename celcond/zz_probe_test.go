package celcond_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

func TestZZProbe(t *testing.T) {
	s := strings.Repeat("a", 30000)
	in := grpcauth.ConditionInput{
		Claims:  claims(t, map[string]any{"sub": "alice", "s": s, "u": s[:20000] + "b", "l": make([]int, 5000)}),
		Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: s}},
	}
	for _, expr := range []string{
		"claims.l.all(x, !claims.s.contains(claims.u))",
		"claims.l.all(x, !claims.s.startsWith(claims.u))",
		"claims.l.all(x, !claims.s.endsWith(claims.u))",
		"claims.l.all(x, claims.s.matches('^a*$'))",
		"claims.l.all(x, !claims.s.matches('b'))",
		"claims.l.all(x, request.item.owner.matches('^a*$'))",
	} {
		start := time.Now()
		ok, err := compile(t, celcond.Config{CostLimit: 10000}, expr).Eval(context.Background(), in)
		t.Logf("%s: %v %v in %v", expr, ok, err, time.Since(start))
	}
}
