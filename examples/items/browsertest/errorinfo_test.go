package browsertest

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
)

// A refusal whose JSON body is not shaped as a Connect error (null, details
// that are not a list, a null detail, a code that is not a string) is still
// logged, by HTTP status where the code is unusable, and call() returns null
// instead of throwing out of the click handler, which left the call unlogged
// and the step-up offer as it was (found in review).
func TestBrowser_MalformedRefusalIsLoggedWithoutThrowing(t *testing.T) {
	p := openPage(t)

	for _, tt := range []struct{ body, want string }{
		{`null`, "Http401"},
		{`"text"`, "Http401"},
		{`{"code": 16}`, "Http401"},
		{`{"code": "unauthenticated", "details": {}}`, "Unauthenticated"},
		{`{"code": "unauthenticated", "details": [null]}`, "Unauthenticated"},
		{`{"code": "unauthenticated", "details": [{"type": "google.rpc.ErrorInfo", "value": 5}]}`, "Unauthenticated"},
		{`{"code": "unauthenticated", "details": [{"type": "google.rpc.ErrorInfo", "debug": {"reason": "R", "metadata": "x"}}]}`, "Unauthenticated"},
	} {
		got := get(p, "call against "+tt.body, chromedp.Evaluate[string](`(async () => {
			const fetch0 = window.fetch;
			window.fetch = async () => new Response(`+strconv.Quote(tt.body)+`, { status: 401 });
			try {
				const r = await call('ListItems', {}, () => {});
				const li = document.querySelector('#log li:last-child');
				return String(r) + ' ' + li.dataset.method + ' ' + li.dataset.code;
			} catch (e) {
				return 'threw ' + e;
			} finally {
				window.fetch = fetch0;
			}
		})()`, chromedp.EvalAwaitPromise))
		if want := "null ListItems " + tt.want; got != want {
			t.Errorf("refusal %s: got %q, want %q", tt.body, got, want)
		}
	}
}

// The page's ErrorInfo decoder reads the protobuf as protobuf parsers do
// (the server's, other clients'): of a non-repeated field sent twice the
// last wins, for reason as for a map entry's key and value, and a message
// cut short inside a fixed-width field, or with an over-long varint or a
// length past its end, is malformed: no reason, no metadata, and no
// exception (found in review: the first reason won, and a cut fixed64
// passed).
func TestBrowser_ErrorInfoDecoderFollowsProtobufRules(t *testing.T) {
	p := openPage(t)

	field := protoField
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	reason := func(s string) []byte { return field(1, []byte(s)) }
	entry := func(kv ...[]byte) []byte { return field(3, cat(kv...)) }
	key, value := func(s string) []byte { return field(1, []byte(s)) }, func(s string) []byte { return field(2, []byte(s)) }
	for _, tt := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"well-formed", cat(reason("A"), entry(key("max_age"), value("60"))), "A max_age=60"},
		{"reason twice", cat(reason("A"), reason("B")), "B"},
		{"key and value twice in an entry", cat(reason("A"), entry(key("x"), key("max_age"), value("1"), value("60"))), "A max_age=60"},
		{"an entry twice", cat(reason("A"), entry(key("max_age"), value("1")), entry(key("max_age"), value("60"))), "A max_age=60"},
		{"fixed64 cut short", cat(reason("A"), []byte{5<<3 | 1, 1, 2}), ""},
		{"fixed32 cut short", cat(reason("A"), []byte{5<<3 | 5, 1}), ""},
		{"varint of 11 bytes", cat(reason("A"), []byte{5 << 3}, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0}), ""},
		{"length past the end", cat(reason("A"), []byte{3<<3 | 2, 0xff, 0xff, 0xff, 0xff, 0x0f}), ""},
		{"varint cut short", cat(reason("A"), []byte{5 << 3, 0x80}), ""},
		{"group", cat(reason("A"), []byte{5<<3 | 3}), ""},
		{"entry cut short inside", cat(reason("A"), field(3, []byte{1<<3 | 2, 9, 'x'})), ""},
	} {
		v := base64.RawURLEncoding.EncodeToString(tt.msg)
		got := get(p, "decode "+tt.name, chromedp.Evaluate[string](`(() => {
			try {
				const i = errorInfo([{ type: 'google.rpc.ErrorInfo', value: '`+v+`' }]);
				return [i.reason, ...[...i.metadata].map(([k, v]) => k + '=' + v)].join(' ');
			} catch (e) {
				return 'threw ' + e;
			}
		})()`))
		if got != tt.want {
			t.Errorf("%s: errorInfo = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// In the ErrorInfo's "debug" JSON, metadata is a map of strings: a value
// of another type (null, a number, an object) is malformed and left out,
// not turned into text, so a null acr_values is not asked for as the acr
// "null" (found in review).
func TestBrowser_DebugMetadataThatIsNotAStringIsLeftOut(t *testing.T) {
	p := openPage(t)
	got := get(p, "read a challenge", chromedp.Evaluate[string](`JSON.stringify(stepUpChallenge(errorInfo([{ type: 'google.rpc.ErrorInfo',
		debug: { reason: 'INSUFFICIENT_USER_AUTHENTICATION', metadata: { acr_values: null, max_age: 300, x: {} } } }])))`))
	if want := `{"acrValues":"","maxAge":""}`; got != want {
		t.Errorf("stepUpChallenge = %s, want %s", got, want)
	}
}

// newPage starts the example server and a browser of its own, for a
// test that does not look at the browser's requests.
func newPage(t *testing.T) *page {
	t.Helper()
	srv := startServer(t)
	tab, _ := newBrowser(t)
	return &page{t: t, tab: tab, url: srv.webURL}
}

// openPage opens the example page, signed out, in a browser of its own.
func openPage(t *testing.T) *page {
	t.Helper()
	p := newPage(t)
	p.do("open the page", chromedp.Navigate(p.url), chromedp.WaitVisible(chromedp.CSS(`body[data-ready]`)))
	return p
}

// protoField returns the protobuf encoding of a length-delimited field
// (wire type 2) of number num, shorter than 128 bytes.
func protoField(num byte, b []byte) []byte { return append([]byte{num<<3 | 2, byte(len(b))}, b...) }
