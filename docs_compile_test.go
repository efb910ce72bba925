package grpcauth

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// snippetImports names the packages a ```go fence of the Markdown pages may
// use without importing them: a fence that is not a whole file is checked
// with an import of each of these names it uses as the X of an X.Sel and
// does not import itself. A name is one package for every page.
var snippetImports = map[string]string{
	"grpcauth":          "github.com/grpcauth/grpcauth",
	"celcond":           "github.com/grpcauth/grpcauth/celcond",
	"connectauth":       "github.com/grpcauth/grpcauth/connectauth",
	"dpop":              "github.com/grpcauth/grpcauth/dpop",
	"grpcauthtest":      "github.com/grpcauth/grpcauth/grpcauthtest",
	"introspect":        "github.com/grpcauth/grpcauth/introspect",
	"itemsv1":           "github.com/grpcauth/grpcauth/examples/items/proto/items/v1",
	"otelmetrics":       "github.com/grpcauth/grpcauth/otelmetrics",
	"tokencreds":        "github.com/grpcauth/grpcauth/tokencreds",
	"verifier":          "github.com/grpcauth/grpcauth/verifier",
	"connect":           "connectrpc.com/connect",
	"vanguard":          "connectrpc.com/vanguard",
	"vanguardgrpc":      "connectrpc.com/vanguard/vanguardgrpc",
	"interceptors":      "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors",
	"logging":           "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging",
	"recovery":          "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery",
	"selector":          "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector",
	"sdkmetric":         "go.opentelemetry.io/otel/sdk/metric",
	"oauth2":            "golang.org/x/oauth2",
	"clientcredentials": "golang.org/x/oauth2/clientcredentials",
	"errdetails":        "google.golang.org/genproto/googleapis/rpc/errdetails",
	"grpc":              "google.golang.org/grpc",
	"bufconn":           "google.golang.org/grpc/test/bufconn",
	"codes":             "google.golang.org/grpc/codes",
	"credentials":       "google.golang.org/grpc/credentials",
	"insecure":          "google.golang.org/grpc/credentials/insecure",
	"health":            "google.golang.org/grpc/health",
	"healthpb":          "google.golang.org/grpc/health/grpc_health_v1",
	"metadata":          "google.golang.org/grpc/metadata",
	"status":            "google.golang.org/grpc/status",
	"context":           "context",
	"ecdsa":             "crypto/ecdsa",
	"elliptic":          "crypto/elliptic",
	"rand":              "crypto/rand",
	"rsa":               "crypto/rsa",
	"tls":               "crypto/tls",
	"x509":              "crypto/x509",
	"errors":            "errors",
	"fmt":               "fmt",
	"log":               "log",
	"slog":              "log/slog",
	"net":               "net",
	"http":              "net/http",
	"os":                "os",
	"path":              "path",
	"testing":           "testing",
	"time":              "time",
}

// Directives of the HTML comments directly above a ```go fence.
const (
	snippetDeclsDirective = "snippet:"      // Go declarations the fence is checked with
	snippetSkipDirective  = "snippet-skip:" // the reason the fence is not checked
)

// docSnippet is a ```go fence made into a Go file to type-check.
type docSnippet struct {
	where string    // page:line of the fence
	file  *ast.File // nil when skipped
	skip  string    // why the fence is not checked
}

// TestDocs_GoSnippetsTypeCheck type-checks every ```go fence of the
// Markdown pages against this module's packages (and connectauth's, for a
// fence that imports it), so that the documentation cannot drift from the
// API. docs/development.md ("Go snippets in the docs") describes how a
// fence is made into a file:
//
//   - a fence with a package clause is a whole file, checked as is;
//   - a fence of declarations is checked as a file of them, and a fence of
//     statements (after an optional import declaration) as the body of a
//     func _() error ending in return nil, where a statement that is only
//     a composite literal (a Config shown as a value) is checked as the
//     value of _ = …;
//   - a fence that is not a whole file gets an import of each name of
//     snippetImports it uses;
//   - an HTML comment <!-- snippet: DECLS --> directly above the fence adds
//     Go declarations to the file: the variables and types the fence uses
//     but does not declare;
//   - <!-- snippet-skip: REASON --> leaves the fence unchecked, for the
//     stated reason (the few that need a module this one does not
//     require); each skip is logged.
//
// Variables a fence declares and does not use are not an error: a fence
// shows a step of a program that goes on.
func TestDocs_GoSnippetsTypeCheck(t *testing.T) {
	fset := token.NewFileSet()
	var snippets []docSnippet
	for page, f := range pagesGoFences(t) {
		s, err := snippetFile(fset, page, f)
		if err != nil {
			t.Errorf("%s:%d: the ```go fence: %v", page, f.line, err)
			continue
		}
		snippets = append(snippets, s)
	}
	if len(snippets) < 30 {
		t.Fatalf("found %d ```go fences, want every fence of the pages", len(snippets))
	}

	// One importer per module, fed the export data go list reports for
	// the packages the fences of that module import.
	module := modulePath(t)
	moduleDir := func(f *ast.File) string {
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == module+"/connectauth" || strings.HasPrefix(p, module+"/connectauth/") {
				return "connectauth" // its own module
			}
		}
		return "."
	}
	byModule := map[string][]docSnippet{}
	skipped := 0
	for _, s := range snippets {
		if s.file == nil {
			t.Logf("%s: not type-checked: %s", s.where, s.skip)
			skipped++
			continue
		}
		dir := moduleDir(s.file)
		byModule[dir] = append(byModule[dir], s)
	}
	if skipped > 3 {
		t.Errorf("%d ```go fences are skipped: keep skips few (check a fence in the module that has its imports)", skipped)
	}
	for _, dir := range slices.Sorted(maps.Keys(byModule)) {
		imports := map[string]bool{}
		for _, s := range byModule[dir] {
			for _, imp := range s.file.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				imports[p] = true
			}
		}
		exports, err := goListExports(dir, slices.Sorted(maps.Keys(imports)))
		if err != nil {
			t.Fatalf("module %s: %v", dir, err)
		}
		imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
			file, ok := exports[path]
			if !ok {
				return nil, fmt.Errorf("go list reported no export data for %s", path)
			}
			return os.Open(file)
		})
		for _, s := range byModule[dir] {
			if errs := typeCheckSnippet(fset, imp, s.file); len(errs) > 0 {
				t.Errorf("%s: the ```go fence does not type-check:\n\t%s", s.where, strings.Join(errs, "\n\t"))
			}
		}
	}
}

// typeCheckSnippet returns the type errors of file, but for variables
// declared and not used.
func typeCheckSnippet(fset *token.FileSet, imp types.Importer, file *ast.File) []string {
	var errs []string
	conf := types.Config{
		Importer: imp,
		Error: func(err error) {
			if te, ok := err.(types.Error); ok && te.Soft && strings.Contains(te.Msg, "declared and not used") {
				return
			}
			errs = append(errs, err.Error())
		},
	}
	_, _ = conf.Check("docsnippet", fset, []*ast.File{file}, nil) // the errors went to conf.Error
	return errs
}

// snippetFile makes the ```go fence f of page into the Go file to
// type-check, as TestDocs_GoSnippetsTypeCheck describes. Line directives
// give the file the page's line numbers.
func snippetFile(fset *token.FileSet, page string, f mdFence) (docSnippet, error) {
	s := docSnippet{where: fmt.Sprintf("%s:%d", page, f.line)}
	var decls strings.Builder // from <!-- snippet: -->
	for _, c := range f.comments {
		text := strings.TrimSpace(c.text)
		if reason, ok := strings.CutPrefix(text, snippetSkipDirective); ok {
			if s.skip = strings.TrimSpace(reason); s.skip == "" {
				return s, fmt.Errorf("<!-- %s --> gives no reason", snippetSkipDirective)
			}
			return s, nil
		}
		d, ok := strings.CutPrefix(strings.TrimLeft(c.text, " "), snippetDeclsDirective)
		if ok {
			fmt.Fprintf(&decls, "\n//line %s:%d\n%s\n", page, c.line, d)
		} else if strings.HasPrefix(text, "snippet") {
			return s, fmt.Errorf("the comment <!-- %s --> is neither <!-- %s DECLS --> nor <!-- %s REASON -->", text, snippetDeclsDirective, snippetSkipDirective)
		}
	}
	at := func(line int) string { return fmt.Sprintf("\n//line %s:%d\n", page, line) }
	first := f.line + 1 // the fence's first line

	// A whole file, checked as is.
	if _, err := parser.ParseFile(token.NewFileSet(), "", f.code, parser.PackageClauseOnly); err == nil {
		file, err := parser.ParseFile(fset, "docsnippet.go", at(first)+f.code+decls.String(), parser.SkipObjectResolution)
		s.file = file
		return s, err
	}

	// Declarations, or statements after an optional import declaration.
	var body string
	if _, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+f.code, parser.SkipObjectResolution); err == nil {
		body = at(first) + f.code
	} else {
		importDecl, stmts, ok := cutImportDecl(f.code)
		if !ok {
			stmts = f.code
		}
		body = at(first) + importDecl + "func _() error {" + at(first+strings.Count(importDecl, "\n")) + stmts + "return nil\n}\n"
	}
	body += decls.String()
	file, err := parser.ParseFile(token.NewFileSet(), "docsnippet.go", "package p\n"+body, parser.SkipObjectResolution)
	if err != nil {
		return s, err
	}
	var auto bytes.Buffer
	for _, name := range undeclaredImports(file) {
		fmt.Fprintf(&auto, "import %s %q\n", name, snippetImports[name])
	}
	file, err = parser.ParseFile(fset, "docsnippet.go", "package p\n"+auto.String()+body, parser.SkipObjectResolution)
	if err != nil {
		return s, err
	}
	valuesAsAssignments(file)
	s.file = file
	return s, nil
}

// undeclaredImports returns the names of snippetImports that file uses as
// the X of an X.Sel and does not import.
func undeclaredImports(file *ast.File) []string {
	imported := map[string]bool{}
	for _, imp := range file.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		name := path.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		imported[name] = true
	}
	used := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && snippetImports[x.Name] != "" && !imported[x.Name] {
				used[x.Name] = true
			}
		}
		return true
	})
	return slices.Sorted(maps.Keys(used))
}

// valuesAsAssignments makes each statement of file's func _ that is only
// a composite literal, which Go does not allow, into _ = that literal.
func valuesAsAssignments(file *ast.File) {
	for _, d := range file.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "_" || fn.Body == nil {
			continue
		}
		for i, st := range fn.Body.List {
			if es, ok := st.(*ast.ExprStmt); ok {
				if lit, ok := es.X.(*ast.CompositeLit); ok {
					blank := &ast.Ident{NamePos: lit.Pos(), Name: "_"}
					fn.Body.List[i] = &ast.AssignStmt{Lhs: []ast.Expr{blank}, TokPos: lit.Pos(), Tok: token.ASSIGN, Rhs: []ast.Expr{lit}}
				}
			}
		}
	}
}

// goListExports returns the export data files of the packages paths and
// their dependencies, as `go list -export -deps` run in the module dir
// reports them. It builds what the build cache lacks, with -race when this
// test binary has it, so that it reuses the packages built for the tests.
func goListExports(dir string, paths []string) (map[string]string, error) {
	args := []string{"list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				args = append(args, "-race")
			}
		}
	}
	cmd := exec.Command("go", append(args, paths...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	exports := map[string]string{}
	for line := range strings.Lines(string(out)) {
		p, file, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if file != "" {
			exports[p] = filepath.FromSlash(file)
		}
	}
	return exports, nil
}

func TestDocs_SnippetFileWrapsAFence(t *testing.T) {
	const page = "page.md"
	fence := func(code string, comments ...string) mdFence {
		f := mdFence{code: code, line: 10}
		for _, c := range comments {
			f.comments = append(f.comments, mdComment{text: c, line: 9})
		}
		return f
	}
	imp := importer.Default() // the standard library is all these fences use
	for _, tc := range []struct {
		name    string
		fence   mdFence
		wantErr string // a type error's text; "" for none
	}{
		{"statements with an import and a declaration", fence("import \"time\"\n\nd := time.Second\nfmt.Println(d + x)\n", " snippet: var x time.Duration "), ""},
		{"a composite literal as a value", fence("// a value\ntime.Timer{}\n"), ""},
		{"declarations", fence("type T interface {\n\tF(context.Context) error\n}\n"), ""},
		{"a whole file", fence("package main\n\nfunc main() {}\n"), ""},
		{"an undefined name", fence("fmt.Println(x)\n"), "page.md:11: undefined: x"},
		{"a wrong type", fence("var d time.Duration = \"1s\"\n_ = d\n"), "page.md:11: cannot use \"1s\""},
		{"a declaration's line", fence("_ = x\n", " snippet: var x = y "), "page.md:9: undefined: y"},
		{"a whole file is not given imports", fence("package main\n\nfunc main() { fmt.Println() }\n"), "page.md:13: undefined: fmt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fset := token.NewFileSet()
			s, err := snippetFile(fset, page, tc.fence)
			if err != nil || s.file == nil {
				t.Fatalf("snippetFile: %+v, %v", s, err)
			}
			errs := typeCheckSnippet(fset, imp, s.file)
			if tc.wantErr == "" && len(errs) > 0 {
				t.Errorf("type errors %q, want none", errs)
			}
			if tc.wantErr != "" && (len(errs) == 0 || !strings.HasPrefix(errs[0], tc.wantErr)) {
				t.Errorf("type errors %q, want one beginning %q", errs, tc.wantErr)
			}
		})
	}

	if s, err := snippetFile(token.NewFileSet(), page, fence("x := 1\n", " snippet-skip: shows a module not required ")); err != nil || s.file != nil || s.skip != "shows a module not required" {
		t.Errorf("a skipped fence: %+v, %v; want no file, the reason", s, err)
	}
	for _, c := range []string{" snippet-skip: ", " snippet-vars: ctx context.Context "} {
		if s, err := snippetFile(token.NewFileSet(), page, fence("x := 1\n", c)); err == nil {
			t.Errorf("a fence under <!--%s-->: %+v, want an error", c, s)
		}
	}
}

func TestDocs_GoFencesTakeTheCommentsDirectlyAbove(t *testing.T) {
	md := "<!-- far -->\n\n<!-- a -->\n<!-- snippet:\nvar x int\n-->\n```go\nx = 1\n```\n\ntext\n<!-- b -->\n```go\ny := 2\n```\n"
	path := filepath.Join(t.TempDir(), "page.md")
	if err := os.WriteFile(path, []byte(md), 0o600); err != nil {
		t.Fatal(err)
	}
	fences, err := goFences(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []mdFence{
		{code: "x = 1\n", line: 7, comments: []mdComment{{" a ", 3}, {" snippet:\nvar x int\n", 4}}},
		{code: "y := 2\n", line: 13, comments: []mdComment{{" b ", 12}}},
	}
	if fmt.Sprint(fences) != fmt.Sprint(want) {
		t.Errorf("goFences = %+v, want %+v", fences, want)
	}
}
