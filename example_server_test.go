package grpcauth_test

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// Example_server is the complete minimal server of the README: the body of
// its main function, with runServer and itemServer below as the rest of its
// main.go. TestREADME_MinimalServerIsExampleServer keeps the two identical.
// It has no Output comment, so go test compiles it but does not run it.
func Example_server() {
	if err := runServer(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func runServer(ctx context.Context) error {
	// One verifier per issuer. It fetches the issuer's keys in the
	// background: New fails only on an invalid Config, never because the
	// issuer is unreachable.
	v, err := verifier.New(ctx, verifier.Config{
		Issuer:    "https://dev-123.okta.com/oauth2/default",
		Audiences: []string{"api://default"},
	})
	if err != nil {
		return err
	}
	defer v.Close()

	// Take traffic once the keys are loaded. If they are not within 10 s,
	// serve anyway: calls get UNAVAILABLE until they are.
	readyCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := v.Ready(readyCtx); err != nil {
		log.Printf("serving before the issuer's keys are loaded: %v", err)
	}

	// CreateItem's rule has a CEL condition; celcond compiles it.
	conds, err := celcond.New(celcond.Config{})
	if err != nil {
		return err
	}
	auth, err := grpcauth.New(grpcauth.Config{
		Verifier:   v,
		Conditions: conds,
		Public:     []string{"grpc.health.v1.Health"}, // no token needed
	})
	if err != nil {
		return err
	}

	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	)
	itemsv1.RegisterItemServiceServer(srv, itemServer{})
	healthpb.RegisterHealthServer(srv, health.NewServer())

	// Refuse to start if a registered method has no rule (it would deny
	// every call) or a Config name matches no registered method or service.
	if err := auth.Check(srv); err != nil {
		return err
	}

	// Plaintext on loopback only. Serve TLS (grpc.Creds) to other hosts:
	// grpcauth refuses tokens sent in plaintext from another host.
	lis, err := net.Listen("tcp", "127.0.0.1:50051")
	if err != nil {
		return err
	}
	return srv.Serve(lis)
}

// itemServer implements ListItems; the other methods answer Unimplemented.
type itemServer struct {
	itemsv1.UnimplementedItemServiceServer
}

func (itemServer) ListItems(ctx context.Context, _ *itemsv1.ListItemsRequest) (*itemsv1.ListItemsResponse, error) {
	claims, _ := grpcauth.ClaimsFromContext(ctx) // always set: ListItems is not public
	log.Printf("ListItems for client %s, scopes %v", claims.ClientID(), claims.Scopes())
	return &itemsv1.ListItemsResponse{}, nil
}

// readmeMarker precedes the README's ```go fence that holds the minimal
// server's main.go.
const readmeMarker = "<!-- example-server -->"

// TestREADME_MinimalServerIsExampleServer fails when the README's minimal
// server and Example_server differ: main's body must equal the Example's
// body, every other declaration of the README's main.go must appear here
// unchanged, and every import must be imported here under the same name.
func TestREADME_MinimalServerIsExampleServer(t *testing.T) {
	snippet := readmeFence(t, readmeMarker)
	if formatted, err := format.Source([]byte(snippet)); err != nil {
		t.Fatalf("README minimal server does not parse: %v", err)
	} else if !bytes.Equal(formatted, []byte(snippet)) {
		t.Errorf("README minimal server is not gofmt-formatted; gofmt gives:\n%s", formatted)
	}
	ownSrc, err := os.ReadFile("example_server_test.go")
	if err != nil {
		t.Fatal(err)
	}

	fset := token.NewFileSet()
	doc, err := parser.ParseFile(fset, "README.md", snippet, parser.ParseComments)
	if err != nil {
		t.Fatalf("README minimal server: %v", err)
	}
	own, err := parser.ParseFile(fset, "example_server_test.go", ownSrc, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Name.Name != "main" {
		t.Errorf("README minimal server is package %s, want main", doc.Name.Name)
	}

	ownImports := importNames(own)
	for spec, name := range importNames(doc) {
		if got, ok := ownImports[spec]; !ok || got != name {
			t.Errorf("README imports %s as %q; example_server_test.go does not", spec, name)
		}
	}

	ownDecls := declTexts(fset, own, ownSrc)
	docDecls := declTexts(fset, doc, []byte(snippet))
	mainBody, ok := docDecls["main body"]
	if !ok {
		t.Fatal("README minimal server has no func main")
	}
	if want := ownDecls["Example_server body"]; mainBody != want {
		t.Errorf("README main body differs from Example_server's.\nREADME:\n%s\nExample_server:\n%s", mainBody, want)
	}
	for name, text := range docDecls {
		if name == "main body" {
			continue
		}
		if want, ok := ownDecls[name]; !ok {
			t.Errorf("README declares %s; example_server_test.go does not", name)
		} else if text != want {
			t.Errorf("README's %s differs.\nREADME:\n%s\nexample_server_test.go:\n%s", name, text, want)
		}
	}
}

// readmeFence returns the contents of the first ```go fence after marker in
// README.md.
func readmeFence(t *testing.T, marker string) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	snippet, err := fencedAfter(string(readme), marker)
	if err != nil {
		t.Fatal(err)
	}
	return snippet
}

// fencedAfter returns the contents of the first ``` fence after marker.
func fencedAfter(md, marker string) (string, error) {
	_, rest, ok := strings.Cut(md, marker)
	if !ok {
		return "", errors.New("no " + marker + " in README.md")
	}
	_, rest, ok = strings.Cut(rest, "```go\n")
	if !ok {
		return "", errors.New("no ```go fence after " + marker)
	}
	code, _, ok := strings.Cut(rest, "```")
	if !ok {
		return "", errors.New("unterminated fence after " + marker)
	}
	return code, nil
}

// importNames maps each import path of f to the name it is used under.
func importNames(f *ast.File) map[string]string {
	names := make(map[string]string)
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		name := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		names[path] = name
	}
	return names
}

// declTexts returns the source text of f's declarations other than imports,
// doc comments included, keyed by name ("type T", "func F", "func (R) M"),
// and the bodies of main and Example_server as "main body" and
// "Example_server body".
func declTexts(fset *token.FileSet, f *ast.File, src []byte) map[string]string {
	text := func(from, to token.Pos) string {
		return string(src[fset.Position(from).Offset:fset.Position(to).Offset])
	}
	out := make(map[string]string)
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			name := "func " + d.Name.Name
			if d.Recv != nil && len(d.Recv.List) == 1 {
				name = "func (" + text(d.Recv.List[0].Type.Pos(), d.Recv.List[0].Type.End()) + ") " + d.Name.Name
			}
			if d.Name.Name == "main" || d.Name.Name == "Example_server" {
				out[d.Name.Name+" body"] = text(d.Body.Lbrace, d.Body.Rbrace+1)
				continue
			}
			start := d.Pos()
			if d.Doc != nil {
				start = d.Doc.Pos()
			}
			out[name] = text(start, d.End())
		case *ast.GenDecl:
			if d.Tok == token.IMPORT {
				continue
			}
			start := d.Pos()
			if d.Doc != nil {
				start = d.Doc.Pos()
			}
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					out["type "+s.Name.Name] = text(start, d.End())
				case *ast.ValueSpec:
					for _, n := range s.Names {
						out[d.Tok.String()+" "+n.Name] = text(start, d.End())
					}
				}
			}
		}
	}
	return out
}

// stubVerifier refuses every token; Check never verifies one.
type stubVerifier struct{}

func (stubVerifier) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return verifier.Claims{}, verifier.ErrMalformed
}

// TestREADME_MinimalServerPassesCheck builds the README's Authenticator and
// server (the same Config, services and Check) with a stub verifier, so that
// a rule the example's .proto gains without the README following (a
// condition without Config.Conditions, say) fails here rather than at a
// reader's start-up.
func TestREADME_MinimalServerPassesCheck(t *testing.T) {
	conds, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := grpcauth.New(grpcauth.Config{
		Verifier:   stubVerifier{},
		Conditions: conds,
		Public:     []string{"grpc.health.v1.Health"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	itemsv1.RegisterItemServiceServer(srv, itemServer{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	if err := auth.Check(srv); err != nil {
		t.Fatalf("the README's server would not start: %v", err)
	}
}

// TestDeleteItem_ReaderIsDenied is the README's handler test, with
// itemServer above as the server under test.
func TestDeleteItem_ReaderIsDenied(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{}) // closed by t.Cleanup
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	auth, err := grpcauth.New(grpcauth.Config{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	)
	itemsv1.RegisterItemServiceServer(srv, itemServer{})
	lis, err := net.Listen("tcp", "127.0.0.1:0") // loopback: plaintext is accepted
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	tok, err := iss.Token("reader", "items:read") // exactly these scopes
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
	_, err = itemsv1.NewItemServiceClient(conn).DeleteItem(ctx, &itemsv1.DeleteItemRequest{Id: "item-1"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("DeleteItem with items:read: %v, want PermissionDenied", err)
	}
}

// readmeTestMarker precedes the README's ```go fence that holds the test of
// its "Testing your handlers" section.
const readmeTestMarker = "<!-- example-test -->"

// TestREADME_HandlerTestIsCompiled fails when the README's handler test
// differs from TestDeleteItem_ReaderIsDenied above, which is compiled and
// run with this package's tests, so the README's test cannot rot.
func TestREADME_HandlerTestIsCompiled(t *testing.T) {
	snippet := readmeFence(t, readmeTestMarker)
	ownSrc, err := os.ReadFile("example_server_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	own, err := parser.ParseFile(fset, "example_server_test.go", ownSrc, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, d := range own.Decls {
		if f, ok := d.(*ast.FuncDecl); ok && f.Name.Name == "TestDeleteItem_ReaderIsDenied" {
			want = string(ownSrc[fset.Position(f.Pos()).Offset:fset.Position(f.End()).Offset]) + "\n"
		}
	}
	if want == "" {
		t.Fatal("example_server_test.go has no TestDeleteItem_ReaderIsDenied")
	}
	if snippet != want {
		t.Errorf("README's handler test differs from example_server_test.go's.\nREADME:\n%s\nexample_server_test.go:\n%s", snippet, want)
	}
}
