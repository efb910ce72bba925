package grpcauth

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestDocs_RelativeLinksResolve checks every relative link in the
// repository's Markdown pages: the file it names exists and, for a
// "#anchor" into a Markdown file (or within the page), the anchor is one of
// that file's headings as GitHub renders it. Links inside code fences and
// absolute URLs are not checked.
func TestDocs_RelativeLinksResolve(t *testing.T) {
	pages := markdownPages(t)

	anchors := map[string]map[string]bool{} // Markdown file -> its heading anchors
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		_, headings, err := readMarkdown(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		anchors[path] = headings
		return headings
	}

	checked := 0
	for _, page := range pages {
		links, _, err := readMarkdown(page)
		if err != nil {
			t.Errorf("%s: %v", page, err)
			continue
		}
		for _, l := range links {
			target, anchor, _ := strings.Cut(l.target, "#")
			if isAbsoluteLink(target) {
				continue
			}
			checked++
			file := page
			if target != "" {
				file = filepath.Join(filepath.Dir(page), filepath.FromSlash(target))
				if strings.HasPrefix(target, "/") { // GitHub: from the repository root
					file = filepath.FromSlash(target[1:])
				}
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s:%d: link %q: %s does not exist", page, l.line, l.target, file)
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(file, ".md") {
				continue
			}
			if !anchorsOf(file)[anchor] {
				t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s", page, l.line, l.target, file, anchor)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative links found: the link pattern is broken")
	}
}

// markdownPages returns the repository's Markdown pages that the docs
// tests check: the top-level ones, the READMEs of examples/items, bench and
// proto, and every docs/*.md page.
func markdownPages(t *testing.T) []string {
	t.Helper()
	pages := []string{"README.md", "SECURITY.md", "CHANGELOG.md", "examples/items/README.md", "bench/README.md", "proto/README.md"}
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no docs/*.md pages found")
	}
	return append(pages, docs...)
}

// TestDocs_GoSnippetsAreGofmted keeps every ```go fence of the Markdown
// pages Go as gofmt prints it: the fence parses (as a file, as
// declarations, or as statements, after an optional import declaration)
// and go/format.Source leaves it unchanged, so a reader who pastes it gets
// formatted code. TestDocs_GoSnippetsTypeCheck type-checks them.
func TestDocs_GoSnippetsAreGofmted(t *testing.T) {
	checked := 0
	for page, f := range pagesGoFences(t) {
		checked++
		got, err := gofmtSnippet(f.code)
		if err != nil {
			t.Errorf("%s:%d: the ```go fence is not Go: %v", page, f.line, err)
			continue
		}
		if got != f.code {
			t.Errorf("%s:%d: the ```go fence is not gofmt-formatted; gofmt prints it as\n%s", page, f.line, got)
		}
	}
	if checked == 0 {
		t.Fatal("no ```go fences found: the fence pattern is broken")
	}
}

func TestDocs_GofmtSnippet(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"package p\n\nfunc f() { return }\n", "package p\n\nfunc f() { return }\n"},
		{"func f() {\nreturn\n}\n", "func f() {\n\treturn\n}\n"},
		{"x := 1 // a\nyy := 2 // b\n", "x := 1  // a\nyy := 2 // b\n"},
		{"import (\n\t\"os\"\n\t\"fmt\"\n)\n\nif err != nil { os.Exit(1) }\n",
			"import (\n\t\"fmt\"\n\t\"os\"\n)\n\nif err != nil {\n\tos.Exit(1)\n}\n"},
		{"import \"os\"\n\nos.Exit(1)\n", "import \"os\"\n\nos.Exit(1)\n"},
	} {
		if got, err := gofmtSnippet(tc.src); err != nil || got != tc.want {
			t.Errorf("gofmtSnippet(%q) = %q, %v; want %q", tc.src, got, err, tc.want)
		}
	}
	for _, src := range []string{"f(),\ng(),\n", "import (\n\t\"os\"\n)\n\nf(),\n", "import (\n\t\"os\"\n"} {
		if got, err := gofmtSnippet(src); err == nil {
			t.Errorf("gofmtSnippet(%q) = %q, want an error", src, got)
		}
	}
}

// gofmtSnippet returns src as go/format.Source prints it. A snippet that
// is neither a file, nor declarations, nor statements may be an import
// declaration followed by statements: each part is formatted on its own.
func gofmtSnippet(src string) (string, error) {
	out, err := format.Source([]byte(src))
	if err == nil {
		return string(out), nil
	}
	importDecl, stmts, ok := cutImportDecl(src)
	if !ok {
		return "", err
	}
	// As a file, so that the imports are sorted as gofmt sorts them.
	const pkg = "package p\n\n"
	imports, ierr := format.Source([]byte(pkg + importDecl))
	if ierr != nil {
		return "", ierr
	}
	imports, _ = bytes.CutPrefix(imports, []byte(pkg))
	rest, rerr := format.Source([]byte(stmts))
	if rerr != nil {
		return "", rerr
	}
	return string(imports) + string(rest), nil
}

// cutImportDecl splits a snippet that begins with an import declaration
// into that declaration and the rest. The declaration ends at its first
// line, or at the first line ")" of an "import (" block; ok is false when
// src does not begin with one.
func cutImportDecl(src string) (importDecl, rest string, ok bool) {
	if !strings.HasPrefix(src, "import ") {
		return "", "", false
	}
	end := strings.Index(src, "\n") + 1
	if strings.HasPrefix(src, "import (") {
		i := strings.Index(src, "\n)\n")
		if i < 0 {
			return "", "", false
		}
		end = i + len("\n)\n")
	}
	if end == 0 {
		return "", "", false
	}
	return src[:end], src[end:], true
}

// pagesGoFences yields the ```go fences of markdownPages, each with its
// page; a page it cannot read is an error of t.
func pagesGoFences(t *testing.T) iter.Seq2[string, mdFence] {
	t.Helper()
	pages := markdownPages(t)
	return func(yield func(string, mdFence) bool) {
		for _, page := range pages {
			fences, err := goFences(page)
			if err != nil {
				t.Errorf("%s: %v", page, err)
				continue
			}
			for _, f := range fences {
				if !yield(page, f) {
					return
				}
			}
		}
	}
}

// mdFence is the text of a fenced code block, the line of its opening
// fence, and the HTML comments directly above that fence (no other line
// between them and it).
type mdFence struct {
	code     string
	line     int
	comments []mdComment
}

// mdComment is the text between "<!--" and "-->" of an HTML comment of a
// Markdown page, and the line it starts on.
type mdComment struct {
	text string
	line int
}

// goFences returns the ```go fences of a Markdown file, each with the
// indentation of its opening fence removed from its lines, as Markdown
// renders them.
func goFences(path string) ([]mdFence, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var (
		fences   []mdFence
		open     *mdFence // the ```go fence being read
		marker   string   // the marker of the open fence, go or not
		indent   string
		comments []mdComment // the comments directly above the current line
		comment  *mdComment  // a comment not yet closed
	)
	for n, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if comment != nil {
			text, closed := strings.CutSuffix(strings.TrimRight(line, " "), "-->")
			comment.text += "\n" + text
			if closed {
				comments = append(comments, *comment)
				comment = nil
			}
			continue
		}
		if marker == "" && strings.HasPrefix(trimmed, "<!--") {
			text := strings.TrimPrefix(strings.TrimRight(trimmed, " "), "<!--")
			if text, closed := strings.CutSuffix(text, "-->"); closed {
				comments = append(comments, mdComment{text: text, line: n + 1})
			} else {
				comment = &mdComment{text: text, line: n + 1}
			}
			continue
		}
		above := comments
		comments = nil
		if marker != "" {
			if strings.HasPrefix(trimmed, marker) && strings.TrimSpace(strings.TrimLeft(trimmed, marker[:1])) == "" {
				if open != nil {
					fences = append(fences, *open)
				}
				open, marker = nil, ""
			} else if open != nil {
				open.code += strings.TrimPrefix(line, indent) + "\n"
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			marker = trimmed[:3]
			indent = line[:len(line)-len(trimmed)]
			if info := strings.TrimSpace(strings.TrimLeft(trimmed, marker[:1])); info == "go" {
				open = &mdFence{line: n + 1, comments: above}
			}
		}
	}
	if marker != "" {
		return nil, fmt.Errorf("a fence opened is never closed")
	}
	if comment != nil {
		return nil, fmt.Errorf("the HTML comment of line %d is never closed", comment.line)
	}
	return fences, nil
}

// TestDocs_PackagesHaveDocGoWithSnippet keeps the house style of package
// documentation: every non-main package of this module and of connectauth
// (generated code aside) has its package comment in doc.go, and nowhere
// else, and the comment shows a usage snippet (a code block, tab-indented).
func TestDocs_PackagesHaveDocGoWithSnippet(t *testing.T) {
	checked := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." && path != "connectauth" {
			return filepath.SkipDir // another module: bench, tools, the browser test
		}
		if undocumentedPackageExempt(path) {
			return nil
		}
		problems, isPackage := checkDocGo(t, path)
		if !isPackage {
			return nil
		}
		checked++
		for _, p := range problems {
			t.Error(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked %d packages, want every package of the module", checked)
	}
}

// undocumentedPackageExempt reports whether the package in dir is exempt
// from TestDocs_PackagesHaveDocGoWithSnippet: code generated from a
// .proto, documented by its .proto.
func undocumentedPackageExempt(dir string) bool {
	dir = filepath.ToSlash(dir)
	return strings.HasPrefix(dir, "internal/testproto/") || strings.HasPrefix(dir, "examples/items/proto/")
}

// checkDocGo returns what keeps the package in dir from the house style,
// and whether dir holds a package to check: one with non-test Go files,
// other than a main package, whose comment describes a command, not an
// API.
func checkDocGo(t *testing.T, dir string) (problems []string, isPackage bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !hasGoFiles(files) {
		return nil, false
	}
	fset := token.NewFileSet()
	var docGo *ast.File
	var elsewhere []string // other files with a package comment
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if f.Name.Name == "main" {
			return nil, false
		}
		if filepath.Base(name) == "doc.go" {
			docGo = f
		} else if f.Doc != nil {
			elsewhere = append(elsewhere, name)
		}
	}
	switch {
	case docGo == nil:
		problems = append(problems, fmt.Sprintf("%s: no doc.go (the package comment goes there)", dir))
	case docGo.Doc == nil:
		problems = append(problems, fmt.Sprintf("%s/doc.go: no package comment", dir))
	case !strings.Contains(docGo.Doc.Text(), "\n\t"):
		problems = append(problems, fmt.Sprintf("%s/doc.go: the package comment shows no usage snippet (a tab-indented code block)", dir))
	}
	for _, name := range elsewhere {
		problems = append(problems, fmt.Sprintf("%s: a package comment outside doc.go", name))
	}
	return problems, true
}

// hasGoFiles reports whether files names a Go file that is not a test.
func hasGoFiles(files []string) bool {
	for _, name := range files {
		if !strings.HasSuffix(name, "_test.go") {
			return true
		}
	}
	return false
}

func TestDocs_HeadingAnchor(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"Status codes and reasons", "status-codes-and-reasons"},
		{"With Okta", "with-okta"},
		{"`Config.Rules` and `(grpcauth.v1.method)`", "configrules-and-grpcauthv1method"},
		{"What is checked, in order", "what-is-checked-in-order"},
		{"DPoP & mTLS — bindings", "dpop--mtls--bindings"},
		{"Step-up (RFC 9470)", "step-up-rfc-9470"},
		{"[Linked](x.md) heading", "linked-heading"},
	} {
		if got := headingAnchor(tc.heading); got != tc.want {
			t.Errorf("headingAnchor(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
}

type mdLink struct {
	target string
	line   int
}

var (
	// inlineLink matches [text](target) and ![alt](target), with an
	// optional "title"; reference definitions are matched by refLink.
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	mdLinkText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
)

// readMarkdown returns the links of a Markdown file outside code fences and
// code spans, and the anchors of its headings (GitHub's: duplicates get
// -1, -2, ...).
func readMarkdown(path string) ([]mdLink, map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var links []mdLink
	headings := map[string]bool{}
	seen := map[string]int{}
	fence := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		if h, ok := strings.CutPrefix(trimmed, "#"); ok {
			h = strings.TrimLeft(h, "#")
			if strings.HasPrefix(h, " ") {
				a := headingAnchor(strings.TrimSpace(h))
				if k := seen[a]; k > 0 {
					headings[a+"-"+strconv.Itoa(k)] = true
				} else {
					headings[a] = true
				}
				seen[a]++
			}
		}
		// Explicit HTML anchors (<a id="x"> or name="x") count as headings.
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			headings[m[1]] = true
		}
		plain := codeSpan.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(plain, -1) {
			links = append(links, mdLink{target: m[1], line: n})
		}
		if m := refLink.FindStringSubmatch(plain); m != nil {
			links = append(links, mdLink{target: m[1], line: n})
		}
	}
	return links, headings, sc.Err()
}

// headingAnchor returns the anchor GitHub gives a heading: the text of links
// kept, lower case, punctuation other than '-' and '_' dropped, spaces
// turned into '-'.
func headingAnchor(h string) string {
	h = mdLinkText.ReplaceAllString(h, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isAbsoluteLink reports whether a link target names a scheme (https:,
// mailto:, ...) or a host (//host/...), which the test does not follow.
func isAbsoluteLink(target string) bool {
	if i := strings.Index(target, ":"); i > 0 && !strings.ContainsAny(target[:i], "/.#") {
		return true
	}
	return strings.HasPrefix(target, "//")
}

// TestDocs_IndexListsEveryPage keeps docs/README.md an index of every page
// in docs/, and the README's links pointing at each of them too.
func TestDocs_IndexListsEveryPage(t *testing.T) {
	pages, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, index := range []struct{ file, prefix string }{
		{"docs/README.md", ""},
		{"README.md", "docs/"},
	} {
		links, _, err := readMarkdown(index.file)
		if err != nil {
			t.Fatal(err)
		}
		linked := map[string]bool{}
		for _, l := range links {
			linked[strings.Split(l.target, "#")[0]] = true
		}
		for _, p := range pages {
			name := filepath.Base(p)
			if name != "README.md" && !linked[index.prefix+name] {
				t.Errorf("%s does not link %s%s", index.file, index.prefix, name)
			}
		}
	}
}

// TestDocs_StatusTablesListEveryReason keeps the status-code tables of the
// README and docs/interceptors.md complete: each names every Reason
// constant of status.go.
func TestDocs_StatusTablesListEveryReason(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "status.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for n, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Reason") || n >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[n].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					reasons = append(reasons, v)
				}
			}
		}
	}
	if len(reasons) < 10 {
		t.Fatalf("found %d Reason constants in status.go, want them all", len(reasons))
	}
	for _, page := range []string{"README.md", "docs/interceptors.md"} {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reasons {
			if !strings.Contains(string(b), "`"+r+"`") {
				t.Errorf("%s does not list the reason %s", page, r)
			}
		}
	}
	// docs/observability.md counts the values of the reason attribute.
	obs, err := os.ReadFile("docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("the %d `Reason…` constants", len(reasons)); !strings.Contains(strings.Join(strings.Fields(string(obs)), " "), want) {
		t.Errorf("docs/observability.md does not say %q", want)
	}
}

// TestDocs_ObservabilityListsEveryInstrument keeps the instrument lists
// of docs/observability.md (its table) and of otelmetrics' package
// documentation complete: each names every instrument otelmetrics creates.
func TestDocs_ObservabilityListsEveryInstrument(t *testing.T) {
	files, err := filepath.Glob("otelmetrics/*.go")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`"(grpcauth\.[a-z_.]+)"`)
	seen := map[string]bool{}
	var instruments []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllSubmatch(b, -1) {
			if n := string(m[1]); !seen[n] {
				seen[n] = true
				instruments = append(instruments, n)
			}
		}
	}
	if len(instruments) < 20 {
		t.Fatalf("found %d instrument names in otelmetrics, want them all", len(instruments))
	}
	obs, err := os.ReadFile("docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("otelmetrics/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range instruments {
		if !strings.Contains(string(obs), "| `"+n+"` |") {
			t.Errorf("docs/observability.md's instrument table has no row for %s", n)
		}
		if !regexp.MustCompile(`(?m)^//\t` + regexp.QuoteMeta(n) + ` `).Match(doc) {
			t.Errorf("otelmetrics/doc.go does not list %s", n)
		}
	}
}

// TestDocs_DevelopmentTestCommandIsREADMEs keeps docs/development.md's "run
// the tests" command equal to the README's test command (the line after
// <!-- test-command -->'s fence), which .ci/run runs.
func TestDocs_DevelopmentTestCommandIsREADMEs(t *testing.T) {
	want := readmeTestCommand(t)

	dev, err := os.ReadFile("docs/development.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| run the tests .*\\| `(.*)` \\|$").FindStringSubmatch(string(dev))
	if row == nil {
		t.Fatal("docs/development.md has no \"run the tests\" row ending in a command")
	}
	if got := strings.ReplaceAll(row[1], `\|`, "|"); got != want {
		t.Errorf("docs/development.md's test command\n%s\ndiffers from the README's\n%s", got, want)
	}
}

// readmeTestCommand returns the README's test command: the line after
// <!-- test-command -->'s fence, which .ci/run runs.
func readmeTestCommand(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- test-command -->\n```sh\n")
	if !ok {
		t.Fatal("README.md has no ```sh fence after <!-- test-command -->")
	}
	command, _, _ := strings.Cut(after, "\n")
	return command
}

// TestDocs_TestCommandRunsEveryRaceSkippedTest keeps the README's test
// command complete: a test that reads raceEnabled (to skip itself under
// the race detector, or to leave out part of its checks, such as an
// allocation bound after its other assertions) does that part only in the
// command's second part, without -race, so its package must be listed
// there and its name must match that part's -run pattern. Otherwise that
// part runs nowhere, CI included.
func TestDocs_TestCommandRunsEveryRaceSkippedTest(t *testing.T) {
	command := readmeTestCommand(t)
	m := regexp.MustCompile(`go test -count=1 -run '([^']+)'((?: \./[^ ]+)+)`).FindStringSubmatch(command)
	if m == nil {
		t.Fatalf("README's test command has no `go test -count=1 -run '...' ./pkg/...` without -race:\n%s", command)
	}
	run, err := regexp.Compile(m[1])
	if err != nil {
		t.Fatalf("the test command's -run %q: %v", m[1], err)
	}
	listed := map[string]bool{}
	for _, p := range strings.Fields(m[2]) {
		listed[filepath.Clean(p)] = true
	}

	found := 0
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); path != "." && err == nil {
				return filepath.SkipDir // another module, not run by this command
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Body == nil || len(fn.Body.List) == 0 ||
				!strings.HasPrefix(fn.Name.Name, "Test") && !strings.HasPrefix(fn.Name.Name, "Fuzz") {
				continue
			}
			if !readsRaceEnabled(fn.Body) {
				continue
			}
			found++
			if dir := filepath.Dir(path); !listed[dir] {
				t.Errorf("%s: %s reads raceEnabled, but the test command's run without -race does not list ./%s/", path, fn.Name.Name, dir)
			}
			if !run.MatchString(fn.Name.Name) {
				t.Errorf("%s: %s reads raceEnabled, but the test command's -run %q does not select it, so what it leaves out under -race runs nowhere", path, fn.Name.Name, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("found no test that reads raceEnabled: the check has nothing to check")
	}
}

// readsRaceEnabled reports whether body names raceEnabled.
func readsRaceEnabled(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Name == "raceEnabled" {
			found = true
		}
		return !found
	})
	return found
}

// TestDocs_SecurityNamesTestsThatExist keeps docs/security.md's "tested
// by" columns and its fuzz table honest: every test or fuzz target the
// page names (a name ending in "…" or "*" stands for the tests it begins)
// is a function of a _test.go file that the README's test command runs
// (this module's or connectauth's, not another module's such as bench),
// and the fuzz table has a row for every fuzz target.
func TestDocs_SecurityNamesTestsThatExist(t *testing.T) {
	page, err := os.ReadFile("docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string]bool{}
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." && path != "connectauth" {
				return filepath.SkipDir // a module the test command does not run
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil {
				funcs[fn.Name.Name] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]*)(…|\\*)?`").FindAllStringSubmatch(string(page), -1)
	if len(named) == 0 {
		t.Fatal("docs/security.md names no test: the check has nothing to check")
	}
	for _, m := range named {
		found := funcs[m[1]]
		if m[2] != "" {
			for name := range funcs {
				found = found || strings.HasPrefix(name, m[1])
			}
		}
		if !found {
			t.Errorf("docs/security.md names %s%s, which no _test.go file the README's test command runs declares", m[1], m[2])
		}
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(Fuzz[A-Za-z0-9_]*)` \\|").FindAllStringSubmatch(string(page), -1) {
		rows[m[1]] = true
	}
	for name := range funcs {
		if strings.HasPrefix(name, "Fuzz") && !rows[name] {
			t.Errorf("fuzz target %s has no row in docs/security.md's fuzz table", name)
		}
	}
}

// TestDocs_ProtoOptionsInstallsThePinnedGenerators keeps the go install
// lines of docs/proto-options.md at the versions this repository generates
// its code with (tools/go.mod, tools/buf/go.mod), so that a user following
// them gets the generators CI tests the recipes with.
func TestDocs_ProtoOptionsInstallsThePinnedGenerators(t *testing.T) {
	page, err := os.ReadFile("docs/proto-options.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ install, module, gomod string }{
		{"google.golang.org/grpc/cmd/protoc-gen-go-grpc", "google.golang.org/grpc/cmd/protoc-gen-go-grpc", "tools/go.mod"},
		{"github.com/bufbuild/buf/cmd/buf", "github.com/bufbuild/buf", "tools/buf/go.mod"},
	} {
		gomod, err := os.ReadFile(c.gomod)
		if err != nil {
			t.Fatal(err)
		}
		pinned := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(c.module) + ` (v\S+)`).FindSubmatch(gomod)
		if pinned == nil {
			t.Fatalf("%s does not require %s", c.gomod, c.module)
		}
		want := "go install " + c.install + "@" + string(pinned[1]) + "\n"
		if !strings.Contains(string(page), want) {
			t.Errorf("docs/proto-options.md has no line %q (the version %s pins)", strings.TrimSpace(want), c.gomod)
		}
	}
}

// modulePath returns the module path of go.mod.
func modulePath(t *testing.T) string {
	t.Helper()
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no module line")
	}
	return string(m[1])
}

// TestDocs_InstallWorksBeforeTheFirstRelease keeps the README's install
// commands usable: while CHANGELOG.md's newest version is "not yet
// tagged", the module proxy has no version, so `go get …@latest` fails and
// the install block must clone the repository (at the module path's
// https URL) into the directory its replace directive names; once a
// version is tagged, the block must `go get` it.
func TestDocs_InstallWorksBeforeTheFirstRelease(t *testing.T) {
	module := modulePath(t)

	changelog, err := os.ReadFile("CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	newest := regexp.MustCompile(`(?m)^## \[\d+\.\d+\.\d+\][^\n]*`).Find(changelog)
	if newest == nil {
		t.Fatal("CHANGELOG.md has no version heading")
	}
	unpublished := strings.Contains(string(newest), "not yet tagged")

	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Install\n")
	if !ok {
		t.Fatal("README.md has no ## Install section")
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !closed {
		t.Fatal("README.md's ## Install section has no ```sh block")
	}
	var commands []string // the block's lines that are not comments
	for line := range strings.Lines(block) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			commands = append(commands, line)
		}
	}
	has := func(re string) []string {
		for _, c := range commands {
			if m := regexp.MustCompile(re).FindStringSubmatch(c); m != nil {
				return m
			}
		}
		return nil
	}
	q := regexp.QuoteMeta(module)

	if !unpublished {
		if has(`^go get `+q+`@v?\w`) == nil {
			t.Errorf("CHANGELOG.md's newest version %q is tagged, but README.md's install block does not `go get %s@…`", newest, module)
		}
		return
	}
	if m := has(`^go get ` + q + `@latest\b`); m != nil {
		t.Errorf("README.md's install block runs %q, but CHANGELOG.md's newest version is not yet tagged: it fails", m[0])
	}
	clone := has(`^git clone https://` + q + `(?:\.git)? (\S+)$`)
	if clone == nil {
		t.Fatalf("README.md's install block does not `git clone https://%s DIR`, and no version is published (%q)", module, newest)
	}
	replace := has(`go mod edit -replace ` + q + `=(\S+) && go get ` + q + `@v0\.0\.0$`)
	if replace == nil {
		t.Fatalf("README.md's install block has no `go mod edit -replace %s=DIR && go get %s@v0.0.0`", module, module)
	}
	if clone[1] != replace[1] {
		t.Errorf("README.md's install block clones into %s but replaces the module with %s", clone[1], replace[1])
	}
}

// TestDocs_READMEProtoIncludePathHoldsAuthProto keeps the README's protoc
// include path right: it must be this module's directory plus a
// subdirectory under which the import path the README tells users to
// write, grpcauth/v1/auth.proto, is the file.
func TestDocs_READMEProtoIncludePathHoldsAuthProto(t *testing.T) {
	module := modulePath(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const importPath = "grpcauth/v1/auth.proto"
	if !strings.Contains(string(readme), `import "`+importPath+`";`) {
		t.Fatalf("README.md does not show `import %q;`", importPath)
	}
	m := regexp.MustCompile("`-I \"\\$\\(go list -m -f '\\{\\{\\.Dir\\}\\}' (\\S+)\\)/([^\"]+)\"`").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md gives no protoc include path `-I \"$(go list -m -f '{{.Dir}}' MODULE)/DIR\"`")
	}
	if string(m[1]) != module {
		t.Errorf("README.md's include path lists module %s, want %s", m[1], module)
	}
	if _, err := os.Stat(filepath.Join(filepath.FromSlash(string(m[2])), filepath.FromSlash(importPath))); err != nil {
		t.Errorf("README.md's include path %s/ does not hold %s: %v", m[2], importPath, err)
	}
}
