package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/examples/items/internal/display"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
)

// callTimeout bounds each call, streams included.
const callTimeout = 10 * time.Second

// importCount is how many items ImportItems sends.
const importCount = 2

// errUnexpected reports that at least one call failed for a reason other
// than the authorization decisions the example demonstrates.
var errUnexpected = errors.New("client: some calls failed unexpectedly (is the server running at that address?)")

// report prints one line per call: method, argument, status code, detail.
// The argument and detail may carry the server's text (an item id, the
// issuer it names), so they are printed as printable makes them.
type report struct {
	tw         *tabwriter.Writer
	unexpected bool
}

func (r *report) line(method, arg string, err error, detail string) {
	code := status.Code(err)
	text := printable(detail)
	if err != nil {
		// describe's text is printable's already: made printable again it
		// would be cut, quoted, a second time.
		text = describe(err)
	}
	switch code {
	case codes.OK, codes.Unauthenticated, codes.PermissionDenied:
	default:
		r.unexpected = true
	}
	verdict := "allowed"
	if code != codes.OK {
		verdict = "refused"
	}
	fmt.Fprintf(r.tw, "%s\t%s\t%s\t%s\t%s\n", method, printable(arg), verdict, code, text)
}

// describe says why a call was refused: the status message, or, when a
// scope was missing, the scopes that would have sufficed; followed by the
// machine-readable reason grpcauth attaches as a google.rpc.ErrorInfo
// detail.
func describe(err error) string { return printable(why(err)) }

// maxField bounds how much of one string a server supplies (a status
// message, an issuer, an item's name) the report prints: a server may
// send up to gRPC's receive limit, 4 MiB, in each, which would flood the
// terminal. It is the web page's bound for its call log too.
const maxField = display.MaxShown

// maxPrinted bounds how much of any one text printable prints (a report
// cell, which may join several of the server's strings, or an error):
// what a server's lists add up to is cut there too.
const maxPrinted = 2 << 10

// clip returns s when it is at most n bytes long, and otherwise its first
// n bytes or fewer followed by a note saying how long s was. The cut
// splits no UTF-8 sequence, nor a backslash escape as strconv.Quote (and
// %q) writes them: an error's text may quote what a server sent, and a
// cut "\x1" would read as text the server never sent.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	cut = escapeStart(s, cut)
	return fmt.Sprintf("%s ... (%d bytes in all)", s[:cut], len(s))
}

// maxEscape is the length of the longest escape strconv.Quote writes,
// \UXXXXXXXX.
const maxEscape = 10

// escapeStart returns where the backslash escape that s[:cut] ends inside
// begins (\n, \\, \xXX, \uXXXX or \UXXXXXXXX, read as strconv.Quote
// writes them), or cut when s[:cut] ends inside none. It is the nearest
// backslash before cut, if any is within maxEscape-1 bytes: escapes hold
// none past their first byte. The escapes of a run of backslashes pair
// them from the run's start (\\): its last backslash begins an escape
// when the run up to it is odd in length, and ends a \\ otherwise.
// cut < len(s).
func escapeStart(s string, cut int) int {
	j := strings.LastIndexByte(s[max(0, cut-(maxEscape-1)):cut], '\\')
	if j < 0 {
		return cut
	}
	j += max(0, cut-(maxEscape-1))
	k := j
	for k > 0 && s[k-1] == '\\' {
		k--
	}
	if (j-k)%2 == 1 {
		return cut // the second byte of \\
	}
	n := 2
	switch s[j+1] {
	case 'x':
		n = 4
	case 'u':
		n = 6
	case 'U':
		n = 10
	}
	if j+n > cut {
		return j
	}
	return cut
}

// printable returns s, cut to maxPrinted bytes (clip), as it is when it
// is UTF-8 and every rune of it is plainly visible (visible), and quoted
// (quote) otherwise, so that a server's status message cannot move the
// cursor, clear the screen or rewrite earlier lines of the terminal, nor
// fill it, nor make the report read other than what it holds: hide text
// (a zero-width space), reorder it (bidi controls) or draw on a
// neighbouring character (a combining mark). A byte that is not UTF-8
// ranges as U+FFFD, which prints, so it is checked for apart: gRPC passes
// a status message's bytes on unchecked, and 0x9b is CSI to a terminal
// reading 8-bit controls.
func printable(s string) string {
	s = clip(s, maxPrinted)
	if !utf8.ValidString(s) {
		return quote(s)
	}
	for _, r := range s {
		if !visible(r) {
			return quote(s)
		}
	}
	return s
}

// visible reports whether r shows as a character of its own: one that
// strconv.IsPrint passes (letters, marks, numbers, punctuation, symbols
// and the ASCII space: no controls, no format characters such as U+200B
// zero-width space, the bidi embeddings and overrides U+202A-U+202E and
// isolates U+2066-U+2069, no other spaces), less those that show nothing
// or change the character before them: combining marks (Mn, Me: "admin"
// with U+0338 reads as a struck-out n; variation selectors and U+034F
// show nothing), the letters Unicode names default-ignorable, which show
// nothing (the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0, Khmer's
// U+17B4 and U+17B5), and the symbols drawn blank (blank).
func visible(r rune) bool {
	return strconv.IsPrint(r) && !blank(r) &&
		!unicode.In(r, unicode.Mn, unicode.Me, unicode.Other_Default_Ignorable_Code_Point)
}

// blank reports whether r is one of the symbols (So) that Unicode draws
// as empty space, to fill or hold a place: the blank braille pattern
// U+2800 and the musical null notehead U+1D159. Neither is a format
// character or a default-ignorable one, so neither category check of
// visible catches them.
func blank(r rune) bool { return r == '\u2800' || r == '\U0001D159' }

// quote is strconv.Quote that also escapes the runes strconv.IsPrint
// passes but visible does not: every rune of its answer is visible. Its
// escapes are strconv.Quote's (\xXX, \uXXXX, \UXXXXXXXX), which clip
// keeps whole and strconv.Unquote reads.
func quote(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		q := strconv.Quote // a byte that is not UTF-8 decodes as U+FFFD, visible: Quote writes it \xXX
		if !visible(r) {
			q = strconv.QuoteToASCII // escapes what Quote would not
		}
		e := q(s[i : i+n])
		b = append(b, e[1:len(e)-1]...)
		i += n
	}
	return string(append(b, '"'))
}

// why is describe's text before printable: each string of the server's
// in it cut to maxField bytes.
func why(err error) string {
	st := status.Convert(err)
	msg := clip(st.Message(), maxField)
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != "grpcauth" {
			continue
		}
		reason := clip(info.GetReason(), maxField)
		if info.GetReason() == "INSUFFICIENT_USER_AUTHENTICATION" {
			return stepUpText(info.GetMetadata()) + " [" + reason + "]"
		}
		var alts [][]string
		if json.Unmarshal([]byte(info.GetMetadata()["required_scopes"]), &alts) != nil || len(alts) == 0 {
			return fmt.Sprintf("%s [%s]", msg, reason)
		}
		sets := make([]string, len(alts))
		for i, set := range alts {
			sets[i] = clip(strings.Join(set, " + "), maxField)
		}
		return fmt.Sprintf("needs %s [%s]", strings.Join(sets, " or "), reason)
	}
	return msg
}

// acrValuesSyntax and maxAgeSyntax are the well-formed acr_values (a
// space-separated list of OAuth NQCHAR strings without space, '"' or '\',
// at most maxACRValues bytes in all) and max_age (seconds) of a step-up
// refusal's ErrorInfo metadata, as the web page (web/app.js,
// stepUpChallenge) takes them.
var (
	acrValuesSyntax = regexp.MustCompile(`^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$`)
	maxAgeSyntax    = regexp.MustCompile(`^[0-9]{1,12}$`)
)

// maxACRValues bounds the acr_values stepUpText takes: 2048 bytes, the
// most grpcauth lets a rule's acr_values take, joined by spaces (a longer
// rule is invalid), so that no rule grpcauth accepts is read as naming
// nothing.
const maxACRValues = 2048

// stepUpText says what a step-up refusal (RFC 9470: reason
// INSUFFICIENT_USER_AUTHENTICATION) with ErrorInfo metadata md asks a
// sign-in for, in the web page's words: its acr_values and max_age, each
// when well-formed. One that names neither (grpcauth always names one; a
// broken or hostile server might not) is said to name nothing, as the
// page says it without offering a sign-in: one without them would get a
// token like the refused one.
func stepUpText(md map[string]string) string {
	var wants []string
	if acr := md["acr_values"]; len(acr) <= maxACRValues && acrValuesSyntax.MatchString(acr) {
		wants = append(wants, "acr "+strings.ReplaceAll(acr, " ", " or "))
	}
	if age := md["max_age"]; maxAgeSyntax.MatchString(age) {
		wants = append(wants, "signed in at most "+age+" s ago")
	}
	if len(wants) == 0 {
		return "needs a stronger or more recent sign-in, but names no acr_values or max_age a sign-in could ask for: signing in again would not change the answer"
	}
	return "needs a stronger or more recent sign-in: " + strings.Join(wants, ", ")
}

// callAll calls each method of ItemService once: the public one and one
// other without a token, then all of them with auth (the caller's token).
// It prints the outcome of each call to out, then the rule of each method
// as GetServerInfo listed it (printRules).
func callAll(ctx context.Context, conn *grpc.ClientConn, auth grpc.CallOption, clientID string, out io.Writer) error {
	c := itemsv1.NewItemServiceClient(conn)
	r := &report{tw: tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)}
	fmt.Fprintf(r.tw, "METHOD\tARGUMENT\tRESULT\tCODE\tDETAIL\n")

	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, callTimeout) }

	cctx, cancel := call()
	info, err := c.GetServerInfo(cctx, &itemsv1.GetServerInfoRequest{})
	cancel()
	r.line("GetServerInfo", "(no token)", err, fmt.Sprintf("issuer %s, audience %s", clip(info.GetIssuer(), maxField), clip(info.GetAudience(), maxField)))

	cctx, cancel = call()
	_, err = c.ListItems(cctx, &itemsv1.ListItemsRequest{})
	cancel()
	r.line("ListItems", "(no token)", err, "")

	cctx, cancel = call()
	list, err := c.ListItems(cctx, &itemsv1.ListItemsRequest{}, auth)
	cancel()
	r.line("ListItems", "", err, fmt.Sprintf("%d items", len(list.GetItems())))

	firstID := "item-1"
	if items := list.GetItems(); len(items) > 0 {
		firstID = items[0].GetId()
	}
	cctx, cancel = call()
	got, err := c.GetItem(cctx, &itemsv1.GetItemRequest{Id: firstID}, auth)
	cancel()
	r.line("GetItem", clip(firstID, maxField), err, fmt.Sprintf("%q created by %s", clip(got.GetItem().GetName(), maxField), clip(got.GetItem().GetCreatedBy(), maxField)))

	cctx, cancel = call()
	created, err := c.CreateItem(cctx, &itemsv1.CreateItemRequest{Name: "made by " + clientID}, auth)
	cancel()
	r.line("CreateItem", "made by "+clientID, err, fmt.Sprintf("%s created by %s", clip(created.GetItem().GetId(), maxField), clip(created.GetItem().GetCreatedBy(), maxField)))

	// Delete what this run created; without write access, ask to delete
	// an existing item, which the server refuses before looking at it.
	delID := firstID
	if created != nil {
		delID = created.GetItem().GetId()
	}
	cctx, cancel = call()
	_, err = c.DeleteItem(cctx, &itemsv1.DeleteItemRequest{Id: delID}, auth)
	cancel()
	r.line("DeleteItem", clip(delID, maxField), err, "deleted")

	cctx, cancel = call()
	n, err := watchUntilSynced(cctx, c, auth)
	cancel()
	r.line("WatchItems", "(stream)", err, fmt.Sprintf("%d existing items, then synced", n))

	cctx, cancel = call()
	imported, err := importItems(cctx, c, auth, clientID)
	cancel()
	r.line("ImportItems", fmt.Sprintf("(stream of %d)", importCount), err, fmt.Sprintf("%d items created", len(imported)))

	if err := r.tw.Flush(); err != nil {
		return err
	}
	if err := printRules(out, info.GetMethods()); err != nil {
		return err
	}
	if r.unexpected {
		return errUnexpected
	}
	return nil
}

// watchUntilSynced reads WatchItems up to its SYNCED event and returns how
// many existing items it announced.
func watchUntilSynced(ctx context.Context, c itemsv1.ItemServiceClient, opts ...grpc.CallOption) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream on the server too
	stream, err := c.WatchItems(ctx, &itemsv1.WatchItemsRequest{}, opts...)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		ev, err := stream.Recv()
		if err != nil {
			return n, err
		}
		switch ev.GetKind() {
		case itemsv1.WatchItemsResponse_KIND_EXISTING:
			n++
		case itemsv1.WatchItemsResponse_KIND_SYNCED:
			return n, nil
		}
	}
}

// importItems sends importCount items on an ImportItems stream and returns
// those the server created.
func importItems(ctx context.Context, c itemsv1.ItemServiceClient, auth grpc.CallOption, clientID string) ([]*itemsv1.Item, error) {
	stream, err := c.ImportItems(ctx, auth)
	if err != nil {
		return nil, err
	}
	for i := range importCount {
		err := stream.Send(&itemsv1.ImportItemsRequest{Name: fmt.Sprintf("imported %d by %s", i+1, clientID)})
		if errors.Is(err, io.EOF) {
			// The server ended the call (refused it, say); the status
			// comes from CloseAndRecv.
			break
		}
		if err != nil {
			return nil, err
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.GetItems(), nil
}
