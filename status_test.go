package grpcauth

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// rejectionBuilders are the functions that build every status a caller
// gets from the interceptors; their third argument is the status message.
var rejectionBuilders = map[string]bool{"newRejection": true, "bearerRejection": true, "dpopRejection": true}

// TestStatus_ClientMessagesAreFixed keeps the promise that clients get
// fixed short messages (docs/security.md, "status messages"): every
// status the package sends is built by newRejection, and each message
// handed to it, directly or through bearerRejection or dpopRejection, is a
// string constant. A message built from a verifier error, a claim or the
// token fails here, whichever path would send it.
func TestStatus_ClientMessagesAreFixed(t *testing.T) {
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	consts := map[string]bool{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		for _, d := range f.Decls {
			if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.CONST {
				for _, s := range gd.Specs {
					for _, n := range s.(*ast.ValueSpec).Names {
						consts[n.Name] = true
					}
				}
			}
		}
	}
	var constant func(e ast.Expr) bool
	constant = func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.BasicLit:
			return e.Kind == token.STRING
		case *ast.Ident:
			return consts[e.Name]
		case *ast.ParenExpr:
			return constant(e.X)
		case *ast.BinaryExpr:
			return e.Op == token.ADD && constant(e.X) && constant(e.Y)
		}
		return false
	}
	builds := 0
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				if !rejectionBuilders[fn.Name] || len(call.Args) < 3 || rejectionBuilders[enclosingFunc(f, call.Pos())] {
					return true // a builder forwards its own message, checked where it is called
				}
				builds++
				if !constant(call.Args[2]) {
					t.Errorf("%s: %s's message is not a string constant", fset.Position(call.Pos()), fn.Name)
				}
			case *ast.SelectorExpr:
				if pkg, ok := fn.X.(*ast.Ident); ok && pkg.Name == "status" {
					if fd := enclosingFunc(f, call.Pos()); fd != "newRejection" {
						t.Errorf("%s: status.%s in %s: build the status with newRejection, whose message is fixed", fset.Position(call.Pos()), fn.Sel.Name, fd)
					}
				}
			}
			return true
		})
	}
	if builds == 0 {
		t.Fatal("found no call of a rejection builder: the check has nothing to check")
	}
}

// enclosingFunc returns the name of f's top-level function that holds pos.
func enclosingFunc(f *ast.File, pos token.Pos) string {
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Pos() <= pos && pos < fd.End() {
			return fd.Name.Name
		}
	}
	return ""
}
