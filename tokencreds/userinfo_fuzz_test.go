package tokencreds_test

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// FuzzUserInfoLeavesNoErrorText checks that the user info of a token URL
// (as UserInfo reads it: from after "scheme://" to the last "@") in a
// custom source's *url.Error is in no text of the call's error tree, as
// the URL holds it or as the *url.Error's text quotes it, whether the
// source wraps the *url.Error (fmt.Errorf's %w, errors.Join) or names the
// URL beside it; of a *url.Error, the URL is what is searched (textsOf).
func FuzzUserInfoLeavesNoErrorText(f *testing.F) {
	for _, u := range []string{
		"https://svc:s3cret@auth.example/token",
		"https://alice:hunter2/x@auth.example/token",
		`https://u:p"w\d@auth.example/token`,
		"https://svc:a%2fb@auth.example/token",
		"https://tok\x00en@auth.example",
		"https://alice:hunter2/x#y@auth.example/token",
		"https://svc:pa#ss@auth.example/token",
	} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, rawURL string) {
		i := strings.Index(rawURL, "://")
		at := strings.LastIndexByte(rawURL, '@')
		if i < 1 || at < i+3 || strings.Contains(rawURL, "…") || !isScheme(rawURL[:i]) {
			return
		}
		info := rawURL[i+3 : at]
		if len(info) < 4 { // a shorter one may be any text's
			return
		}
		if user, _, hasPassword := strings.Cut(info, ":"); strings.Contains(info, "#") &&
			(!hasPassword || strings.Trim(user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~") != "") {
			// Beyond reach: url.Parse's error names the URL cut at the
			// "#", with no "@"; only "user:password" with a plain
			// user name is known then (a port that does not parse).
			return
		}
		quoted := strconv.Quote(info)
		secrets := []string{info, quoted[1 : len(quoted)-1]}
		for _, s := range secrets {
			if rest := rawURL[:i] + strconv.Quote(rawURL[at:]); strings.Contains(rest, s) {
				return // the rest of the URL names it too
			}
		}
		ue := &url.Error{Op: "Post", URL: rawURL, Err: syscall.ECONNREFUSED}
		if _, perr := url.Parse(rawURL); perr != nil {
			ue = perr.(*url.Error)
		}
		src := errors.Join(fmt.Errorf("fetching from %s: %w", rawURL, ue), fmt.Errorf("retry %q: failed", rawURL))
		_, err := tokencreds.New(errorSource{src}).GetRequestMetadata(localCtx())
		for _, cause := range causes(err) {
			for _, text := range textsOf(cause) {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Fatalf("URL %q: cause %T names %q in %q", rawURL, cause, s, text)
					}
				}
			}
		}
	})
}

// textsOf returns the texts of e, one error of a cause's tree, in which
// FuzzUserInfoLeavesNoErrorText looks for user info: e's text, but for a
// *url.Error its URL as it is and as %q quotes it (without the quote
// marks), and for the reason tokencreds gives in place of url.Parse's
// none. A *url.Error's text is composed after the URL is cleaned: the Op,
// a quote mark and the scheme may spell a user info (`"A0000` of
// `parse "A0000://…@0"`), and its reason is a cause of its own; the reason
// given in place of url.Parse's is a fixed text, which spells "password".
func textsOf(e error) []string {
	if e == tokencreds.ErrUserInfoURL {
		return nil
	}
	if ue, ok := e.(*url.Error); ok {
		quoted := strconv.Quote(ue.URL)
		return []string{ue.URL, quoted[1 : len(quoted)-1]}
	}
	return []string{e.Error()}
}

// isScheme reports whether s is a URL scheme (RFC 3986 3.1).
func isScheme(s string) bool {
	for i, c := range s {
		if !('a' <= c|0x20 && c|0x20 <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}
