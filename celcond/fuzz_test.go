package celcond_test

import (
	"context"
	"testing"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// FuzzCondition compiles arbitrary expressions for ConditionService.Own and
// evaluates those that compile on arbitrary claims and requests, with a
// small cost limit: it must never panic, and a compiled condition must
// give a bool or an error. Seeds are in testdata/fuzz/FuzzCondition.
//
//	go test -run '^$' -fuzz FuzzCondition ./celcond
func FuzzCondition(f *testing.F) {
	for _, s := range []struct {
		expr, owner string
		claims      string
	}{
		{"request.item.owner == subject || 'test:admin' in scopes", "alice", `{"sub":"alice","scp":["test:write"]}`},
		{"claims.tenant == 'acme'", "", `{"sub":"bob","tenant":"acme"}`},
		{"claims.x.y.z > 1.5", "", `{"x":{"y":{"z":2}}}`},
		{"[1,2,3].all(i, [1,2,3].all(j, i * j < 10))", "", `{}`},
		{"request.item.owner.matches('^a.*$')", "alice", `{"sub":"alice"}`},
		{"size(claims) > 0 && claims.exists(k, k.startsWith('s'))", "", `{"sub":"s"}`},
		{"int(claims.n) == 1", "", `{"n":1e300}`},
		{"method.size() / 0 == 1", "", `{}`},
		{"(((((((((((((((true)))))))))))))))", "", `{}`},
		{"subject +", "", `{}`},
		{"authtest.v1.OwnRequest{item: authtest.v1.Item{owner: subject}}.item == request.item", "alice", `{"sub":"alice"}`},
		{"claims.acl[request.item.owner] == 'rw' && {subject: 1}[subject] == 1", "a", `{"sub":"s","acl":{"a":"rw"}}`},
		{"request.item.owner.matches('(a{30}){30}x')", "aaaa", `{}`},
		{"{b'a': 1}.size() == 1", "", `{}`},
	} {
		f.Add(s.expr, s.owner, []byte(s.claims))
	}
	c, err := celcond.New(celcond.Config{CostLimit: 1000})
	if err != nil {
		f.Fatal(err)
	}
	own := method("Own")
	f.Fuzz(func(t *testing.T, expr, owner string, claimsJSON []byte) {
		cond, err := c.CompileCondition(own, expr)
		if err != nil {
			return
		}
		cl, err := verifier.ParseClaims(claimsJSON)
		if err != nil {
			cl, _ = verifier.NewClaims(map[string]any{"sub": owner})
		}
		in := grpcauth.ConditionInput{Method: "/authtest.v1.ConditionService/Own", Claims: cl,
			Request: &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: owner}}}
		_, _ = cond.Eval(context.Background(), in)
	})
}
