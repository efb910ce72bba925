package main

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// policyEnv serves ItemService in process with a test issuer.
func policyEnv(t *testing.T) (*grpcauthtest.Issuer, itemsv1.ItemServiceClient) {
	t.Helper()
	return policyEnvLog(t, slog.New(slog.DiscardHandler))
}

// policyEnvLog is policyEnv with the server logging to log.
func policyEnvLog(t *testing.T, log *slog.Logger) (*grpcauthtest.Issuer, itemsv1.ItemServiceClient) {
	t.Helper()
	iss, addr, _ := serveInProcess(t, log)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return iss, itemsv1.NewItemServiceClient(conn)
}

// serveInProcess serves the example's gRPC server (newServer) on a
// loopback port with a test issuer until the test ends or stop is called,
// and returns the issuer, the port's address and stop, which shuts the
// server down as SIGTERM does and returns serve's error.
func serveInProcess(t *testing.T, log *slog.Logger) (iss *grpcauthtest.Issuer, addr string, stop func() error) {
	t.Helper()
	iss = grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	s := newTestServer(t, iss, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.serve(ctx, ln, log) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-served
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return iss, ln.Addr().String(), stop
}

// as returns a context carrying a token for sub with scopes and opts.
func as(t *testing.T, iss *grpcauthtest.Issuer, sub string, scopes []string, opts ...grpcauthtest.MintOption) context.Context {
	t.Helper()
	tok, err := iss.Mint(map[string]any{"sub": sub}, append(opts, grpcauthtest.WithScopes(scopes...))...)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
}

// reason returns the grpcauth ErrorInfo reason of err, or "".
func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetDomain() == grpcauth.ErrorDomain {
			return ei.GetReason()
		}
	}
	return ""
}

func TestPolicy_CreateItemOwnerNeedsAdminUnlessItIsTheCaller(t *testing.T) {
	iss, c := policyEnv(t)
	alice := as(t, iss, "alice", []string{"items:write"})
	admin := as(t, iss, "root", []string{"items:write", "items:admin"})
	tests := []struct {
		name   string
		ctx    context.Context
		owner  string
		code   codes.Code
		reason string
		want   string // the created item's owner
	}{
		{"no owner: the caller", alice, "", codes.OK, "", "alice"},
		{"the caller as owner", alice, "alice", codes.OK, "", "alice"},
		{"someone else, without items:admin", alice, "bob", codes.PermissionDenied, grpcauth.ReasonConditionFailed, ""},
		{"someone else, with items:admin", admin, "bob", codes.OK, "", "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.CreateItem(tt.ctx, &itemsv1.CreateItemRequest{Name: "x", Owner: tt.owner})
			if status.Code(err) != tt.code || reason(err) != tt.reason {
				t.Fatalf("CreateItem = %v (reason %q), want %v %q", err, reason(err), tt.code, tt.reason)
			}
			if got := resp.GetItem().GetOwner(); got != tt.want {
				t.Errorf("owner = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPolicy_DeleteItemNeedsOwnershipOrAdmin(t *testing.T) {
	iss, c := policyEnv(t)
	alice := as(t, iss, "alice", []string{"items:write"})
	bob := as(t, iss, "bob", []string{"items:write"})
	admin := as(t, iss, "root", []string{"items:write", "items:admin"})
	mine, err := c.CreateItem(alice, &itemsv1.CreateItemRequest{Name: "alice's"})
	if err != nil {
		t.Fatal(err)
	}
	id := mine.GetItem().GetId()
	// Refused by the handler, which sees the stored owner: a plain status,
	// no grpcauth reason.
	if _, err := c.DeleteItem(bob, &itemsv1.DeleteItemRequest{Id: id}); status.Code(err) != codes.PermissionDenied || reason(err) != "" {
		t.Fatalf("bob deletes alice's item: %v, want the handler's PermissionDenied", err)
	}
	if _, err := c.DeleteItem(alice, &itemsv1.DeleteItemRequest{Id: id}); err != nil {
		t.Fatalf("alice deletes her item: %v", err)
	}
	// An admin deletes a seeded item, owned by "server".
	if _, err := c.DeleteItem(admin, &itemsv1.DeleteItemRequest{Id: "item-1"}); err != nil {
		t.Fatalf("admin deletes item-1: %v", err)
	}
}

// The handler's refusal is logged as grpcauth's are: the README promises
// a log line for every refused call, with the caller, and a denial by the
// ownership check matters as much to an audit as a missing scope.
func TestPolicy_DeleteRefusedByTheOwnershipCheckIsLoggedWithTheCaller(t *testing.T) {
	var logs lockedLog
	iss, c := policyEnvLog(t, slog.New(slog.NewTextHandler(&logs, nil)))
	tok, err := iss.Mint(map[string]any{"sub": "mallory", "cid": "mallory-app"}, grpcauthtest.WithScopes("items:write"))
	if err != nil {
		t.Fatal(err)
	}
	mallory := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
	if _, err := c.DeleteItem(mallory, &itemsv1.DeleteItemRequest{Id: "item-1"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("mallory deletes the server's item: %v, want PermissionDenied", err)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "DeleteItem") {
			line = l
		}
	}
	for _, want := range []string{"level=INFO", "code=PermissionDenied", "id=item-1", "subject=mallory", "client_id=mallory-app"} {
		if !strings.Contains(line, want) {
			t.Errorf("the refusal's log line %q lacks %s; log:\n%s", line, want, logs.String())
		}
	}
}

// lockedLog is a log buffer the server's goroutines write while the test
// reads it.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPolicy_PurgeItemsNeedsRecentMFA(t *testing.T) {
	iss, c := policyEnv(t)
	scopes := []string{"items:admin"}
	fresh := grpcauthtest.WithAuthTime(time.Now().Add(-time.Minute))
	tests := []struct {
		name string
		ctx  context.Context
		code codes.Code
	}{
		{"no acr", as(t, iss, "root", scopes, fresh), codes.Unauthenticated},
		{"password only", as(t, iss, "root", scopes, grpcauthtest.WithACR("urn:grpcauth:example:pwd"), fresh), codes.Unauthenticated},
		{"mfa, an hour ago", as(t, iss, "root", scopes, grpcauthtest.WithACR("urn:grpcauth:example:mfa"), grpcauthtest.WithAuthTime(time.Now().Add(-time.Hour))), codes.Unauthenticated},
		{"mfa, a minute ago", as(t, iss, "root", scopes, grpcauthtest.WithACR("urn:grpcauth:example:mfa"), fresh), codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PurgeItems(tt.ctx, &itemsv1.PurgeItemsRequest{})
			if status.Code(err) != tt.code {
				t.Fatalf("PurgeItems = %v, want %v", err, tt.code)
			}
			if tt.code != codes.OK && reason(err) != grpcauth.ReasonInsufficientUserAuthentication {
				t.Errorf("reason %q, want %s", reason(err), grpcauth.ReasonInsufficientUserAuthentication)
			}
		})
	}
	list, err := c.ListItems(as(t, iss, "root", []string{"items:read"}), &itemsv1.ListItemsRequest{})
	if err != nil || len(list.GetItems()) != 0 {
		t.Errorf("after the purge: %d items, %v; want none", len(list.GetItems()), err)
	}
}

// A token with neither sub nor a client id names no caller: were it let
// through, every such token (of any application the issuer serves for this
// audience) would be the owner "", and could delete the items of every
// other.
func TestPolicy_TokenNamingNoCallerIsRefusedByTheHandlers(t *testing.T) {
	iss, c := policyEnv(t)
	tok, err := iss.Mint(map[string]any{"sub": nil, "cid": nil}, grpcauthtest.WithScopes("items:read", "items:write"))
	if err != nil {
		t.Fatal(err)
	}
	nobody := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
	if _, err := c.ListItems(nobody, &itemsv1.ListItemsRequest{}); err != nil {
		t.Fatalf("ListItems, which records no caller: %v", err)
	}
	if _, err := c.CreateItem(nobody, &itemsv1.CreateItemRequest{Name: "nobody's"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateItem = %v, want PermissionDenied", err)
	}
	stream, err := c.ImportItems(nobody)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.CloseAndRecv(); status.Code(err) != codes.PermissionDenied {
		t.Errorf("ImportItems = %v, want PermissionDenied", err)
	}
	// An id no item has: refused for the caller before the store is
	// asked (NotFound otherwise), as item-1, owned by "server", would be
	// refused for its owner anyway.
	if _, err := c.DeleteItem(nobody, &itemsv1.DeleteItemRequest{Id: "item-none"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("DeleteItem = %v, want PermissionDenied", err)
	}
}
