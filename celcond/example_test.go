package celcond_test

import (
	"context"
	"fmt"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// Example installs a Compiler as the Authenticator's ConditionCompiler, and
// then checks the items example's CreateItem condition directly, as the
// interceptors evaluate it: a way to test a condition without a server.
func Example() {
	conds, err := celcond.New(celcond.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// In a server: grpcauth.New(grpcauth.Config{Verifier: v, Conditions: conds}).

	createItem := itemsv1.File_items_v1_items_proto.Services().ByName("ItemService").Methods().ByName("CreateItem")
	cond, err := conds.CompileCondition(createItem, "request.owner == '' || request.owner == subject || 'items:admin' in scopes")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, call := range []struct {
		sub   string
		scope string
		owner string
	}{
		{"alice", "items:write", ""},
		{"alice", "items:write", "alice"},
		{"alice", "items:write", "bob"},
		{"root", "items:write items:admin", "bob"},
	} {
		claims, err := verifier.NewClaims(map[string]any{"sub": call.sub, "scope": call.scope})
		if err != nil {
			fmt.Println(err)
			return
		}
		ok, err := cond.Eval(context.Background(), grpcauth.ConditionInput{
			Method:  "/items.v1.ItemService/CreateItem",
			Claims:  claims,
			Request: &itemsv1.CreateItemRequest{Name: "x", Owner: call.owner},
		})
		fmt.Printf("%s (%s) creating for %q: %v %v\n", call.sub, call.scope, call.owner, ok, err)
	}

	// A misspelt field fails at compile time, so Check reports it at start-up.
	_, err = conds.CompileCondition(createItem, "request.ownr == subject")
	fmt.Println("typo compiles:", err == nil)
	// Output:
	// alice (items:write) creating for "": true <nil>
	// alice (items:write) creating for "alice": true <nil>
	// alice (items:write) creating for "bob": false <nil>
	// root (items:write items:admin) creating for "bob": true <nil>
	// typo compiles: false
}
