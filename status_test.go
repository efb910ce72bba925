package grpcauth

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
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
	fset, files := packageFiles(t)
	consts := map[string]bool{}
	for _, f := range files {
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

// packageFiles parses the package's .go files but its tests, with their
// comments.
func packageFiles(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// callsBuilder reports whether n calls a rejection builder.
func callsBuilder(n ast.Node) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			if fn, ok := call.Fun.(*ast.Ident); ok && rejectionBuilders[fn.Name] {
				found = true
			}
		}
		return !found
	})
	return found
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

// mustStepUp compiles the step-up requirement of r, which must have one.
func mustStepUp(t *testing.T, r *grpcauthv1.Rule) *stepUp {
	t.Helper()
	s, err := compileStepUp(r)
	if err != nil || s == nil {
		t.Fatalf("compileStepUp: %v, %v", s, err)
	}
	return s
}

// Every rejection status.go declares answers with the code the project's
// rules give its situation (credentials missing or refused:
// Unauthenticated; a valid token that lacks a scope or meets no rule or
// condition: PermissionDenied; the verifier's or the replay cache's
// dependencies down: Unavailable; one DPoP key over its share:
// ResourceExhausted), with the ErrorInfo reason of its situation (the
// table's, not the rejection's own field: a rejection built with another
// Reason of the same code must fail), and with the code that Reason's
// godoc names. The table must list every rejection the package builds,
// in whichever file: each package-level variable named rej… or built by a
// rejection builder, and each function other than the builders that
// builds one (the two built per rule: scope, step-up).
func TestStatus_EveryRejectionHasItsDocumentedCode(t *testing.T) {
	rejections := map[string]struct {
		rej    *rejection
		code   codes.Code
		reason string
	}{
		"rejMissing":            {rejMissing, codes.Unauthenticated, ReasonCredentialsMissing},
		"rejMalformed":          {rejMalformed, codes.Unauthenticated, ReasonTokenInvalid},
		"rejInvalid":            {rejInvalid, codes.Unauthenticated, ReasonTokenInvalid},
		"rejExpired":            {rejExpired, codes.Unauthenticated, ReasonTokenExpired},
		"rejScheme":             {rejScheme, codes.Unauthenticated, ReasonTokenTypeUnsupported},
		"rejTokenType":          {rejTokenType, codes.Unauthenticated, ReasonTokenTypeUnsupported},
		"rejNotConfigured":      {rejNotConfigured, codes.PermissionDenied, ReasonMethodNotConfigured},
		"rejUnavailable":        {rejUnavailable, codes.Unavailable, ReasonKeysUnavailable},
		"rejRulesUnavailable":   {rejRulesUnavailable, codes.Unavailable, ReasonRulesUnavailable},
		"rejCanceled":           {rejCanceled, codes.Canceled, ReasonCanceled},
		"rejDeadline":           {rejDeadline, codes.DeadlineExceeded, ReasonDeadlineExceeded},
		"rejStreamExpired":      {rejStreamExpired, codes.Unauthenticated, ReasonTokenExpired},
		"rejStreamRevoked":      {rejStreamRevoked, codes.Unauthenticated, ReasonTokenRevoked},
		"rejInternal":           {rejInternal, codes.Internal, ReasonInternalError},
		"rejTransport":          {rejTransport, codes.Unauthenticated, ReasonTransportInsecure},
		"rejBindingMismatch":    {rejBindingMismatch, codes.Unauthenticated, ReasonBindingMismatch},
		"rejNoClientCert":       {rejNoClientCert, codes.Unauthenticated, ReasonBindingMismatch},
		"rejBindingRequired":    {rejBindingRequired, codes.Unauthenticated, ReasonBindingRequired},
		"rejBindingUnsupported": {rejBindingUnsupported, codes.Unauthenticated, ReasonTokenTypeUnsupported},
		"rejDPoPNoProof":        {rejDPoPNoProof, codes.Unauthenticated, ReasonDPoPProofInvalid},
		"rejDPoPProofInvalid":   {rejDPoPProofInvalid, codes.Unauthenticated, ReasonDPoPProofInvalid},
		"rejDPoPReplayed":       {rejDPoPReplayed, codes.Unauthenticated, ReasonDPoPReplayed},
		"rejDPoPKeyMismatch":    {rejDPoPKeyMismatch, codes.Unauthenticated, ReasonDPoPBindingMismatch},
		"rejDPoPBoundAsBearer":  {rejDPoPBoundAsBearer, codes.Unauthenticated, ReasonDPoPBindingMismatch},
		"rejDPoPUnbound":        {rejDPoPUnbound, codes.Unauthenticated, ReasonDPoPBindingMismatch},
		"rejDPoPRequired":       {rejDPoPRequired, codes.Unauthenticated, ReasonDPoPRequired},
		"rejDPoPRuleRequired":   {rejDPoPRuleRequired, codes.Unauthenticated, ReasonDPoPRequired},
		"rejUseDPoPNonce":       {rejUseDPoPNonce, codes.Unauthenticated, ReasonUseDPoPNonce},
		"rejDPoPReplayCheck":    {rejDPoPReplayCheck, codes.Unavailable, ReasonDPoPReplayCheckUnavailable},
		"rejDPoPRateLimit":      {rejDPoPRateLimit, codes.ResourceExhausted, ReasonDPoPRateLimitExceeded},
		"rejConditionFailed":    {rejConditionFailed, codes.PermissionDenied, ReasonConditionFailed},
		"rejConditionError":     {rejConditionError, codes.PermissionDenied, ReasonConditionError},
		// Built per rule, not variables of status.go.
		"scopeRejection": {scopeRejection([][]string{{"test:read"}}), codes.PermissionDenied, ReasonScopeInsufficient},
		"stepUp.rej":     {mustStepUp(t, &grpcauthv1.Rule{AcrValues: []string{"mfa"}, MaxAgeSeconds: 300}).rej, codes.Unauthenticated, ReasonInsufficientUserAuthentication},
	}
	// The functions that build a rejection per rule, and their table rows.
	perRule := map[string]string{"scopeRejection": "scopeRejection", "compileStepUp": "stepUp.rej"}
	fset, files := packageFiles(t)
	godoc := map[string]string{} // Reason value: its constant's comment
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || rejectionBuilders[fd.Name.Name] || !callsBuilder(fd.Body) {
				continue
			}
			if _, ok := rejections[perRule[fd.Name.Name]]; !ok {
				t.Errorf("%s: %s builds a rejection, which the table does not cover", fset.Position(fd.Pos()), fd.Name.Name)
			}
		}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range g.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok {
					continue
				}
				for _, name := range vs.Names {
					switch {
					case g.Tok == token.VAR && (strings.HasPrefix(name.Name, "rej") || callsBuilder(vs)):
						if _, ok := rejections[name.Name]; !ok {
							t.Errorf("%s: declares %s, which the table does not list", fset.Position(name.Pos()), name.Name)
						}
					case g.Tok == token.CONST && strings.HasPrefix(name.Name, "Reason") && vs.Doc != nil && len(vs.Values) == 1:
						if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
							v, _ := strconv.Unquote(lit.Value)
							godoc[v] = strings.Join(strings.Fields(vs.Doc.Text()), " ")
						}
					}
				}
			}
		}
	}
	for name, tt := range rejections {
		if tt.rej.code != tt.code || status.Code(tt.rej.err) != tt.code {
			t.Errorf("%s: code %v (status %v), want %v", name, tt.rej.code, status.Code(tt.rej.err), tt.code)
		}
		if tt.rej.reason != tt.reason {
			t.Errorf("%s: reason %s, want %s", name, tt.rej.reason, tt.reason)
		}
		if info := errorInfo(tt.rej.err); info == nil || info.GetReason() != tt.reason {
			t.Errorf("%s: ErrorInfo %v, want the reason %s", name, info, tt.reason)
		}
		doc, ok := godoc[tt.reason]
		if !ok {
			t.Errorf("%s: reason %s has no documented Reason constant", name, tt.reason)
			continue
		}
		if want := "codes." + tt.code.String(); !strings.Contains(doc, want) { // String is the constant's name
			t.Errorf("%s: the godoc of reason %s does not name %s", name, tt.reason, want)
		}
	}
}
