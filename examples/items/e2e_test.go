// Package items_test runs the items example end to end: the real server
// binary, configured only by environment variables, against an in-process
// grpcauthtest issuer, called with real tokens from the issuer's token
// endpoint.
package items_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/examples/items/internal/dev"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// binDirEnv, set, names the binaries' directory for a test binary that a
// test runs as a helper: its parent built them and holds their lock.
const binDirEnv = "ITEMS_TEST_BINDIR"

func TestMain(m *testing.M) {
	if binDir = os.Getenv(binDirEnv); binDir != "" {
		os.Exit(m.Run())
	}
	dir, release, err := binaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	release()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// newIssuer starts an Okta-shaped test issuer with the example's three
// clients.
func newIssuer(t *testing.T) *grpcauthtest.Issuer {
	t.Helper()
	var clients []grpcauthtest.Client
	for _, c := range dev.Clients() {
		clients = append(clients, grpcauthtest.Client{ID: c.ID, Secret: c.Secret, Scopes: c.Scopes})
	}
	return grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: clients})
}

// startStack starts a test issuer and the server binary configured for
// it, and returns them with a client of the server.
func startStack(t *testing.T) (*grpcauthtest.Issuer, *serverProc, itemsv1.ItemServiceClient) {
	t.Helper()
	iss := newIssuer(t)
	srv := startServer(t, "ISSUER="+iss.URL(), "AUDIENCE="+dev.Audience, "ADDR=127.0.0.1:0")
	return iss, srv, itemsv1.NewItemServiceClient(dial(t, srv.addr))
}

// fetchToken gets an access token for c from the token endpoint, as a real
// client would (client credentials, no scope parameter: every scope the
// client may have).
func fetchToken(t *testing.T, tokenURL string, c dev.Client) string {
	t.Helper()
	// No keep-alive: no idle connection outlives the test (goleak).
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), oauth2.HTTPClient, hc), callTimeout)
	defer cancel()
	cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: tokenURL}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("token for %s: %v", c.ID, err)
	}
	return tok.AccessToken
}

// dial connects to the server without credentials; callers add a token per
// call with withToken.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// withToken returns a call context carrying token as a bearer token ("" for
// none).
func withToken(t *testing.T, token string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// outcomes is the status code of each call a caller makes.
type outcomes struct {
	List, Get, Create, Delete, Watch, Import codes.Code
}

// callEach makes one call of each scoped method with token and returns the
// status codes. The item it asks to delete is one it created, or the first
// seeded item when it may not create.
func callEach(t *testing.T, c itemsv1.ItemServiceClient, token, caller string) outcomes {
	t.Helper()
	var o outcomes
	_, err := c.ListItems(withToken(t, token), &itemsv1.ListItemsRequest{})
	o.List = status.Code(err)
	_, err = c.GetItem(withToken(t, token), &itemsv1.GetItemRequest{Id: "item-1"})
	o.Get = status.Code(err)
	created, err := c.CreateItem(withToken(t, token), &itemsv1.CreateItemRequest{Name: "from " + caller})
	o.Create = status.Code(err)
	delID := "item-1"
	if err == nil {
		delID = created.GetItem().GetId()
		if got := created.GetItem().GetCreatedBy(); got != caller {
			t.Errorf("created_by = %q, want the caller %q", got, caller)
		}
		if got := created.GetItem().GetCreatedByClient(); got != caller {
			t.Errorf("created_by_client = %q, want %q", got, caller)
		}
	}
	_, err = c.DeleteItem(withToken(t, token), &itemsv1.DeleteItemRequest{Id: delID})
	o.Delete = status.Code(err)
	_, err = watchUntilSynced(withToken(t, token), c)
	o.Watch = status.Code(err)
	imported, err := importNames(withToken(t, token), c, "a from "+caller, "b from "+caller)
	o.Import = status.Code(err)
	if err == nil {
		if len(imported) != 2 {
			t.Errorf("ImportItems created %d items, want 2", len(imported))
		}
		for _, it := range imported {
			if it.GetCreatedBy() != caller {
				t.Errorf("imported item created_by = %q, want %q", it.GetCreatedBy(), caller)
			}
		}
	}
	return o
}

// watchUntilSynced opens WatchItems and reads up to the SYNCED event,
// returning the stream (still open) and the ids of the existing items.
func watchUntilSynced(ctx context.Context, c itemsv1.ItemServiceClient) (grpc.ServerStreamingClient[itemsv1.WatchItemsResponse], error) {
	stream, err := c.WatchItems(ctx, &itemsv1.WatchItemsRequest{})
	if err != nil {
		return nil, err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if ev.GetKind() == itemsv1.WatchItemsResponse_KIND_SYNCED {
			return stream, nil
		}
	}
}

// importNames sends one ImportItems message per name.
func importNames(ctx context.Context, c itemsv1.ItemServiceClient, names ...string) ([]*itemsv1.Item, error) {
	stream, err := c.ImportItems(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if err := stream.Send(&itemsv1.ImportItemsRequest{Name: n}); errors.Is(err, io.EOF) {
			break // refused; CloseAndRecv has the status
		} else if err != nil {
			return nil, err
		}
	}
	resp, err := stream.CloseAndRecv()
	return resp.GetItems(), err
}

func TestE2E_EachClientGetsExactlyItsScopes(t *testing.T) {
	t.Parallel()
	iss, _, c := startStack(t)

	// An admin token, but from another issuer (other name, other key).
	other := newIssuer(t)
	foreign := fetchToken(t, other.TokenURL(), dev.Admin)

	ok, denied, unauth := codes.OK, codes.PermissionDenied, codes.Unauthenticated
	tests := []struct {
		name  string
		token string
		want  outcomes
	}{
		{"no token", "", outcomes{unauth, unauth, unauth, unauth, unauth, unauth}},
		{"not a JWT", "not-a-token", outcomes{unauth, unauth, unauth, unauth, unauth, unauth}},
		{"admin token of another issuer", foreign, outcomes{unauth, unauth, unauth, unauth, unauth, unauth}},
		{dev.Reader.ID, fetchToken(t, iss.TokenURL(), dev.Reader), outcomes{ok, ok, denied, denied, ok, denied}},
		// A writer may delete the item it created (it owns it).
		{dev.Writer.ID, fetchToken(t, iss.TokenURL(), dev.Writer), outcomes{ok, ok, ok, ok, ok, ok}},
		{dev.Admin.ID, fetchToken(t, iss.TokenURL(), dev.Admin), outcomes{ok, ok, ok, ok, ok, ok}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := callEach(t, c, tt.token, tt.name); got != tt.want {
				t.Errorf("codes:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestE2E_PublicMethodsNeedNoToken(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	srv := startServer(t, "ISSUER="+iss.URL(), "AUDIENCE="+dev.Audience, "ADDR=127.0.0.1:0")
	conn := dial(t, srv.addr)

	info, err := itemsv1.NewItemServiceClient(conn).GetServerInfo(withToken(t, ""), &itemsv1.GetServerInfoRequest{})
	if err != nil {
		t.Fatalf("GetServerInfo without a token: %v", err)
	}
	if info.GetIssuer() != iss.URL() || info.GetAudience() != iss.Audience() {
		t.Errorf("GetServerInfo issuer, audience = %q, %q; want %q, %q", info.GetIssuer(), info.GetAudience(), iss.URL(), iss.Audience())
	}
	wantRules := map[string]string{
		"GetServerInfo": "public",
		"ListItems":     "items:read",
		"GetItem":       "items:read",
		"CreateItem":    "items:write",
		"DeleteItem":    "items:write",
		"PurgeItems":    "items:admin",
		"WatchItems":    "items:read",
		"ImportItems":   "items:write",
	}
	gotRules := map[string]string{}
	for _, m := range info.GetMethods() {
		rule := strings.Join(m.GetScopes(), " ")
		if m.GetPublic() {
			rule = "public"
		}
		gotRules[strings.TrimPrefix(m.GetName(), "/items.v1.ItemService/")] = rule
	}
	if fmt.Sprint(gotRules) != fmt.Sprint(wantRules) {
		t.Errorf("GetServerInfo methods:\n got %v\nwant %v", gotRules, wantRules)
	}

	for _, svc := range []string{"", "items.v1.ItemService"} {
		resp, err := healthpb.NewHealthClient(conn).Check(withToken(t, ""), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("health Check(%q) without a token: %v", svc, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health Check(%q) = %v, want SERVING", svc, resp.GetStatus())
		}
	}

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(withToken(t, ""))
	if err != nil {
		t.Fatalf("reflection without a token: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatalf("reflection send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection ListServices without a token: %v", err)
	}
	var services []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	if !slices.Contains(services, "items.v1.ItemService") || !slices.Contains(services, "grpc.health.v1.Health") {
		t.Errorf("reflection ListServices = %v, want items.v1.ItemService and grpc.health.v1.Health among them", services)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
}

func TestE2E_WatchSeesAnotherClientsChange(t *testing.T) {
	t.Parallel()
	iss, _, c := startStack(t)

	watch, err := watchUntilSynced(withToken(t, fetchToken(t, iss.TokenURL(), dev.Reader)), c)
	if err != nil {
		t.Fatalf("WatchItems as reader: %v", err)
	}
	created, err := c.CreateItem(withToken(t, fetchToken(t, iss.TokenURL(), dev.Writer)), &itemsv1.CreateItemRequest{Name: "watched"})
	if err != nil {
		t.Fatalf("CreateItem as writer: %v", err)
	}
	ev, err := watch.Recv()
	if err != nil {
		t.Fatalf("WatchItems after a create: %v", err)
	}
	if ev.GetKind() != itemsv1.WatchItemsResponse_KIND_CREATED || ev.GetItem().GetId() != created.GetItem().GetId() {
		t.Errorf("event = %v %v, want CREATED %s", ev.GetKind(), ev.GetItem().GetId(), created.GetItem().GetId())
	}
}

func TestE2E_SIGTERMEndsOpenStreamsAndExitsCleanly(t *testing.T) {
	t.Parallel()
	iss, srv, c := startStack(t)
	watch, err := watchUntilSynced(withToken(t, fetchToken(t, iss.TokenURL(), dev.Reader)), c)
	if err != nil {
		t.Fatalf("WatchItems: %v", err)
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("server did not exit cleanly on SIGTERM: %v\nstderr:\n%s", err, srv.stderr)
	}
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("open watch after SIGTERM: %v, want Unavailable", err)
	}
}

// A second signal ends the server at once: a person pressing Ctrl-C again
// does not wait for the running calls (here an ImportItems stream its
// client keeps open, which would hold the graceful stop until its 10 s cut
// off).
func TestE2E_SecondSignalEndsTheServerWithoutWaitingForCalls(t *testing.T) {
	t.Parallel()
	iss, srv, c := startStack(t)
	tok := fetchToken(t, iss.TokenURL(), dev.Writer)
	watch, err := watchUntilSynced(withToken(t, tok), c)
	if err != nil {
		t.Fatalf("WatchItems: %v", err)
	}
	imp, err := c.ImportItems(withToken(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	if err := imp.Send(&itemsv1.ImportItemsRequest{Name: "kept open"}); err != nil {
		t.Fatal(err)
	}
	// The import's handler is running once its item is created.
	if ev, err := watch.Recv(); err != nil || ev.GetKind() != itemsv1.WatchItemsResponse_KIND_CREATED {
		t.Fatalf("watch: %v %v, want the imported item", ev, err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The watch ends once the graceful stop has begun.
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("watch after SIGTERM: %v, want Unavailable", err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-srv.exited
	var exit *exec.ExitError
	if !errors.As(srv.err, &exit) || !exit.Sys().(syscall.WaitStatus).Signaled() {
		t.Errorf("server after a second SIGTERM: %v, want ended by the signal\nstderr:\n%s", srv.err, srv.stderr)
	}
	if !strings.Contains(srv.stderr.String(), "second signal: ending at once") {
		t.Errorf("server after a second SIGTERM logged no line saying why it ended\nstderr:\n%s", srv.stderr)
	}
	srv.err = nil // the expected end, which the cleanup's stop would report
}

// clientLine matches one result line of the client's report.
var clientLine = regexp.MustCompile(`(?m)^(\w+)\s+(.*?)\s+(allowed|refused)\s+(\w+)\b`)

// clientResults parses the client's report into "Method ARGUMENT" -> code.
func clientResults(out string) map[string]string {
	got := map[string]string{}
	for _, m := range clientLine.FindAllStringSubmatch(out, -1) {
		key := m[1]
		if m[2] == "(no token)" {
			key += " " + m[2]
		}
		got[key] = m[4]
	}
	return got
}

func TestE2E_ClientReportsEachDecision(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	srv := startServer(t, "ISSUER="+iss.URL(), "AUDIENCE="+dev.Audience, "ADDR=127.0.0.1:0")

	// results is the report the client should print when the scoped
	// calls that need more than items:read get these codes.
	results := func(create, del, imp string) map[string]string {
		return map[string]string{
			"GetServerInfo (no token)": "OK", "ListItems (no token)": "Unauthenticated",
			"ListItems": "OK", "GetItem": "OK", "WatchItems": "OK",
			"CreateItem": create, "DeleteItem": del, "ImportItems": imp,
		}
	}
	deleteNeeds := "needs items:write [ACCESS_TOKEN_SCOPE_INSUFFICIENT]"
	tests := []struct {
		client   dev.Client
		want     map[string]string
		wantText string // in the output too, when set
	}{
		{dev.Reader, results("PermissionDenied", "PermissionDenied", "PermissionDenied"), deleteNeeds},
		{dev.Writer, results("OK", "OK", "OK"), ""},
		{dev.Admin, results("OK", "OK", "OK"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.client.ID, func(t *testing.T) {
			out := runClient(t, "ISSUER="+iss.URL(), "CLIENT_ID="+tt.client.ID,
				"CLIENT_SECRET="+tt.client.Secret, "ADDR="+srv.addr)
			if got := clientResults(out); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("client results:\n got %v\nwant %v\noutput:\n%s", got, tt.want, out)
			}
			if !strings.Contains(out, tt.wantText) {
				t.Errorf("client output lacks %q:\n%s", tt.wantText, out)
			}
			if strings.Contains(out, tt.client.Secret) {
				t.Errorf("client output contains the client secret:\n%s", out)
			}
			for _, rule := range rulesShown {
				if !rule.MatchString(out) {
					t.Errorf("client output lacks the rule %s:\n%s", rule, out)
				}
			}
		})
	}
}

// rulesShown match lines of the rules the client prints after its calls,
// as GetServerInfo lists them: a condition and step-up are said.
var rulesShown = []*regexp.Regexp{
	regexp.MustCompile(`(?m)^GetServerInfo +nothing: public$`),
	regexp.MustCompile(`(?m)^CreateItem +items:write; a condition on the request$`),
	regexp.MustCompile(`(?m)^PurgeItems +items:admin; step-up: acr urn:grpcauth:example:mfa; signed in at most 300 s ago$`),
}

// dpopTokenLine matches the client's first line for a DPoP-bound token:
// the token type and the thumbprint of its key (RFC 7638, base64url).
var dpopTokenLine = regexp.MustCompile(`(?m)^token:  DPoP \(key thumbprint [A-Za-z0-9_-]{43}\) for client items-reader from `)

// With TOKEN_TYPE=dpop the client gets a DPoP-bound token and the server
// takes it, with a proof on every call, exactly as it takes a bearer
// token: the same report. The server accepts "authorization: DPoP" only
// for a token whose cnf.jkt is the thumbprint of the proof's key (an
// unbound token is DPOP_BINDING_MISMATCH), so the allowed calls show that
// the token is bound to the client's key.
func TestE2E_ClientWithDPoPBoundTokenReportsTheSameDecisions(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	srv := startServer(t, "ISSUER="+iss.URL(), "AUDIENCE="+dev.Audience, "ADDR=127.0.0.1:0")
	out := runClient(t, "ISSUER="+iss.URL(), "CLIENT_ID="+dev.Reader.ID,
		"CLIENT_SECRET="+dev.Reader.Secret, "ADDR="+srv.addr, "TOKEN_TYPE=dpop")
	want := map[string]string{
		"GetServerInfo (no token)": "OK", "ListItems (no token)": "Unauthenticated",
		"ListItems": "OK", "GetItem": "OK", "WatchItems": "OK",
		"CreateItem": "PermissionDenied", "DeleteItem": "PermissionDenied", "ImportItems": "PermissionDenied",
	}
	if got := clientResults(out); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("client results:\n got %v\nwant %v\noutput:\n%s", got, want, out)
	}
	if !dpopTokenLine.MatchString(out) {
		t.Errorf("client output lacks the DPoP token line %s:\n%s", dpopTokenLine, out)
	}
	// The refusals are the scope's, not DPoP's.
	if log := srv.stderr.String(); strings.Contains(log, "DPOP_") {
		t.Errorf("server refused a call for its DPoP proof:\n%s", log)
	}
}

// devClientCommand matches the client command the server prints in
// development mode.
var devClientCommand = regexp.MustCompile(`ISSUER=(\S+) CLIENT_ID=(\S+) CLIENT_SECRET=(\S+) go run ./examples/items/client -addr (\S+)`)

func TestE2E_DevelopmentModePrintsWorkingCredentials(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"Okta-shaped tokens", nil},
		// The development issuer then mints RFC 9068 tokens (typ at+jwt).
		{"RFC 9068 profile required", []string{"REQUIRE_ACCESS_TOKEN_PROFILE=true"}},
		// The client gets a DPoP-bound token from the development issuer.
		{"DPoP-bound token", []string{"TOKEN_TYPE=dpop"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkDevelopmentMode(t, tt.env...)
		})
	}
}

// checkDevelopmentMode starts the server in development mode with env and
// runs the client with the credentials it prints.
func checkDevelopmentMode(t *testing.T, env ...string) {
	// Random ports instead of the fixed ones, so the test never collides
	// with a server a developer is running.
	srv := startServer(t, append([]string{"ADDR=127.0.0.1:0", "DEV_ISSUER_ADDR=127.0.0.1:0"}, env...)...)
	printed := srv.stdout.String()
	// -rpc-header, not -H: grpcurl sends -H to reflection too.
	for _, want := range []string{"FOR LOCAL DEVELOPMENT ONLY", "curl ", "grpcurl -plaintext -rpc-header \"authorization: Bearer $TOKEN\" " + srv.addr + " items.v1.ItemService/ListItems"} {
		if !strings.Contains(printed, want) {
			t.Errorf("development banner lacks %q:\n%s", want, printed)
		}
	}
	for _, c := range dev.Clients() {
		if !strings.Contains(printed, "CLIENT_ID="+c.ID) || !strings.Contains(printed, "CLIENT_SECRET="+c.Secret) {
			t.Errorf("development banner lacks client %s and its secret:\n%s", c.ID, printed)
		}
	}
	// The log says so too: a log pipeline may keep stderr and drop stdout.
	const warning = `level=WARN msg="development issuer running`
	if logged := srv.stderr.waitFor(warning, srv.exited); !strings.Contains(logged, warning) {
		t.Errorf("server log has no warning about the development issuer:\n%s", logged)
	}
	m := devClientCommand.FindStringSubmatch(printed)
	if m == nil {
		t.Fatalf("development banner has no client command:\n%s", printed)
	}
	if m[4] != srv.addr {
		t.Errorf("client command -addr %s, want %s", m[4], srv.addr)
	}
	out := runClient(t, append([]string{"ISSUER=" + m[1], "CLIENT_ID=" + m[2], "CLIENT_SECRET=" + m[3], "ADDR=" + m[4]}, env...)...)
	if got := clientResults(out); got["ListItems"] != "OK" || got["CreateItem"] != "PermissionDenied" {
		t.Errorf("client with the printed credentials: ListItems %s, CreateItem %s; want OK, PermissionDenied\n%s",
			got["ListItems"], got["CreateItem"], out)
	}
}

// With DEV_DPOP_NONCES the development issuer asks for a DPoP nonce, as
// Okta does, and the client, which retries with it, still gets its
// DPoP-bound token.
func TestE2E_DevDPoPNoncesMakeTheDevelopmentIssuerAskForANonce(t *testing.T) {
	t.Parallel()
	env := []string{"ADDR=127.0.0.1:0", "DEV_ISSUER_ADDR=127.0.0.1:0", "WEB_ADDR=off", "DEV_DPOP_NONCES=true"}
	srv := startServer(t, env...)
	m := devClientCommand.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("development banner has no client command:\n%s", srv.stdout)
	}
	tokenURL := m[1] + "/v1/token"
	key, err := grpcauthtest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := key.Proof(http.MethodPost, tokenURL, "")
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	req.SetBasicAuth(dev.Reader.ID, dev.Reader.Secret)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: callTimeout}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "use_dpop_nonce") || resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("a proof without a nonce: %s %s, DPoP-Nonce %q; want 400 use_dpop_nonce with a nonce", resp.Status, body, resp.Header.Get("DPoP-Nonce"))
	}
	out := runClient(t, "ISSUER="+m[1], "CLIENT_ID="+m[2], "CLIENT_SECRET="+m[3], "ADDR="+m[4], "TOKEN_TYPE=dpop")
	if got := clientResults(out); got["ListItems"] != "OK" || !dpopTokenLine.MatchString(out) {
		t.Errorf("client with a DPoP-bound token: ListItems %s; want OK with a DPoP token\n%s", got["ListItems"], out)
	}
}

func TestE2E_ServerSettingsReachTheVerifier(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	reader := fetchToken(t, iss.TokenURL(), dev.Reader)
	writer := fetchToken(t, iss.TokenURL(), dev.Writer)
	ok, denied, unauth := codes.OK, codes.PermissionDenied, codes.Unauthenticated
	tests := []struct {
		name                   string
		env                    []string
		readerWant, writerWant codes.Code // ListItems as each client
	}{
		{"client allow-list", []string{"CLIENT_IDS=items-writer"}, unauth, ok},
		{"required claim", []string{"REQUIRE_CLAIMS=cid=items-writer"}, unauth, ok},
		{"other audience", []string{"AUDIENCE=api://other"}, unauth, unauth},
		{"one of several audiences", []string{"AUDIENCE=api://other,api://default"}, ok, ok},
		{"audience skipped, client pinned", []string{"AUDIENCE=api://other", "SKIP_AUDIENCE_CHECK=true", "CLIENT_IDS=items-writer"}, unauth, ok},
		// Okta-shaped tokens carry their scopes in scp, not scope.
		{"scopes read from another claim", []string{"SCOPE_CLAIMS=scope"}, denied, denied},
		// Okta-shaped tokens have no typ, not at+jwt.
		{"RFC 9068 profile required", []string{"REQUIRE_ACCESS_TOKEN_PROFILE=true"}, unauth, unauth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, append([]string{"ISSUER=" + iss.URL(), "AUDIENCE=" + dev.Audience, "ADDR=127.0.0.1:0"}, tt.env...)...)
			c := itemsv1.NewItemServiceClient(dial(t, srv.addr))
			_, err := c.ListItems(withToken(t, reader), &itemsv1.ListItemsRequest{})
			if got := status.Code(err); got != tt.readerWant {
				t.Errorf("reader ListItems: %v, want %v", got, tt.readerWant)
			}
			_, err = c.ListItems(withToken(t, writer), &itemsv1.ListItemsRequest{})
			if got := status.Code(err); got != tt.writerWant {
				t.Errorf("writer ListItems: %v, want %v", got, tt.writerWant)
			}
		})
	}
}

// With ISSUER set (Okta mode) no development issuer starts, whatever else
// is set: had one tried to, on the port this test holds, the server would
// have failed to start.
func TestE2E_IssuerSetStartsNoDevelopmentIssuer(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	srv := startServer(t, "ISSUER="+iss.URL(), "AUDIENCE="+dev.Audience, "ADDR=127.0.0.1:0", "WEB_ADDR=off", "DEV_ISSUER_ADDR="+held.Addr().String())
	if err := srv.stop(); err != nil {
		t.Fatalf("server: %v\nstderr:\n%s", err, srv.stderr)
	}
	if out := srv.stdout.String() + srv.stderr.String(); strings.Contains(strings.ToLower(out), "development issuer") {
		t.Errorf("a server with ISSUER speaks of a development issuer:\n%s", out)
	}
	if !strings.Contains(srv.stderr.String(), "DEV_ISSUER_ADDR is ignored") {
		t.Errorf("a server with ISSUER and DEV_ISSUER_ADDR does not say the address is ignored:\nstderr:\n%s", srv.stderr)
	}
}

func TestE2E_ServerRefusesToStartWithoutAudienceOrClients(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(filepath.Join(binDir, "server"))
	cmd.Env = append(cleanEnv(), "ISSUER=https://idp.example.com", "SKIP_AUDIENCE_CHECK=true", "ADDR=127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "CLIENT_IDS") {
		t.Fatalf("server with SKIP_AUDIENCE_CHECK and no CLIENT_IDS: %v\n%s", err, out)
	}
}

// With a real ISSUER and no AUDIENCE the server does not start (exit
// status 2), and says which variable to set: RFC 9068 has the resource
// server check aud, and no default fits every issuer.
func TestE2E_ServerWithARealIssuerRefusesToStartWithoutAudience(t *testing.T) {
	t.Parallel()
	// Bounded: a server that starts instead serves until it is killed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "server"))
	cmd.Env = append(cleanEnv(), "ISSUER=https://idp.example.com", "ADDR=127.0.0.1:0", "WEB_ADDR=off")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "server: AUDIENCE is unset") {
		t.Fatalf("server with ISSUER and no AUDIENCE: %v\n%s", err, out)
	}
}
