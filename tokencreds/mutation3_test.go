package tokencreds_test

// Tests for checks of the user-info cleaning of a custom source's error
// (withoutUserInfo, errorTree, userInfoTexts, scrubbedError) that a third
// hand-run mutation test found no test held: each fails with the mutant
// named in its comment.

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// fixedError is a custom source's wrapper whose text names nothing of
// what it wraps.
type fixedError struct{ err error }

func (e *fixedError) Error() string { return "source: the token request failed" }
func (e *fixedError) Unwrap() error { return e.err }

// A wrapper whose own text names no user info, around an error that does,
// is replaced all the same: kept as it is, it would lead errors.As and a
// walk of the tree back to the *url.Error with the password. (Mutants: a
// wrapper not marked replaced when what it wraps is; a scrubbed error not
// marked replaced; an error kept when only its text is clean.)
func TestCredentials_CustomSourceWrapperWithCleanTextLeadsToNoUserInfo(t *testing.T) {
	const tokenURL = "https://svc:s3cret@auth.example/token"
	src := &fixedError{fmt.Errorf("attempt 2: %w", &url.Error{Op: "Post", URL: tokenURL, Err: syscall.ECONNREFUSED})}
	_, err := tokencreds.New(errorSource{src}).GetRequestMetadata(localCtx())
	noSecret(t, err, "s3cret")
	var ue *url.Error
	if !errors.As(err, &ue) || ue.URL != "https://…@auth.example/token" {
		t.Errorf("errors.As(err, *url.Error) gives %v, want the request's without user info", ue)
	}
	if !errors.Is(err, src) {
		t.Error("errors.Is(err, the source's error) = false, want true")
	}
}

// A *url.Error without user info of its own (a proxy's URL) that wraps
// one with user info is replaced by a copy wrapping the cleaned one.
// (Mutant: a *url.Error replaced only when its own URL or reason changes.)
func TestCredentials_CustomSourceURLErrorWrappingOneWithUserInfoNamesNone(t *testing.T) {
	src := &url.Error{Op: "Post", URL: "https://proxy.example/token",
		Err: &url.Error{Op: "Post", URL: "https://svc:s3cret@auth.example/token", Err: syscall.ECONNREFUSED}}
	_, err := tokencreds.New(errorSource{src}).GetRequestMetadata(localCtx())
	noSecret(t, err, "s3cret")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Error("errors.Is(err, ECONNREFUSED) = false, want true")
	}
}

// An error naming the user info decoded ("pa ss" for "pa%20ss") has it cut
// out whole, the user name with the password, not the password alone.
// (Mutants: the secrets not sorted longest first; the decoded user info
// not among them.)
func TestCredentials_CustomSourceErrorNamingTheUserInfoDecodedCutsItWhole(t *testing.T) {
	first := &url.Error{Op: "Post", URL: "https://svc-user:pa%20ss@auth.example/token", Err: syscall.ECONNREFUSED}
	login := errors.New("login svc-user:pa ss refused")
	_, err := tokencreds.New(errorSource{errors.Join(first, login)}).GetRequestMetadata(localCtx())
	noSecret(t, err, "svc-user", "pa ss", "pa%20ss")
	if got := errors.Unwrap(err).Error(); !strings.Contains(got, "login … refused") {
		t.Errorf("cause %q, want the login error with the user info cut whole", got)
	}
}

// An error naming the password alone, beside the *url.Error, has it cut
// out. (Mutant: the password not among the secrets.)
func TestCredentials_CustomSourceErrorNamingThePasswordAloneNamesNoPassword(t *testing.T) {
	first := &url.Error{Op: "Post", URL: "https://svc:s3cret@auth.example/token", Err: syscall.ECONNREFUSED}
	_, err := tokencreds.New(errorSource{errors.Join(first, errors.New("password s3cret rejected"))}).GetRequestMetadata(localCtx())
	noSecret(t, err, "s3cret")
}

// An error naming a user name without a password as net/url prints it
// ("svc%21acct" for "svc!acct") has it cut out. (Mutant: a user name
// without a password not encoded again.)
func TestCredentials_CustomSourceErrorNamingTheUserEncodedAgainNamesNoUserInfo(t *testing.T) {
	const tokenURL = "https://svc!acct@auth.example/token"
	u, err := url.Parse(tokenURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.String(), "svc%21acct") {
		t.Fatalf("net/url prints %q, want the user name encoded again", u)
	}
	src := fmt.Errorf("token from %s: %w", u, &url.Error{Op: "Post", URL: tokenURL, Err: syscall.ECONNREFUSED})
	_, err = tokencreds.New(errorSource{src}).GetRequestMetadata(localCtx())
	noSecret(t, err, "svc%21acct", "svc!acct")
}

// A token URL whose user info has an empty password ("svc:") loses the
// user info and nothing else: the empty password is no secret to cut
// between every two characters. (Mutant: empty texts kept among the
// secrets.)
func TestCredentials_EmptyPasswordCutsOnlyTheUserInfo(t *testing.T) {
	src := &url.Error{Op: "Post", URL: "https://svc:@auth.example/token", Err: syscall.ECONNREFUSED}
	_, err := tokencreds.New(errorSource{src}).GetRequestMetadata(localCtx())
	want := `Post "https://…@auth.example/token": ` + syscall.ECONNREFUSED.Error()
	if got := errors.Unwrap(err).Error(); got != want {
		t.Errorf("cause %q, want %q", got, want)
	}
}

// url.Parse's error of a URL with neither user info nor "//" is the cause
// as it is, its reason included. (Mutant: userInfoTexts giving url.Parse's
// reason as a secret though the URL has no user info.)
func TestCredentials_UnparsableURLWithoutUserInfoKeepsTheReason(t *testing.T) {
	_, perr := url.Parse(":no-scheme")
	if perr == nil {
		t.Fatal("url.Parse accepted the URL")
	}
	_, err := tokencreds.New(errorSource{perr}).GetRequestMetadata(localCtx())
	if got := errors.Unwrap(err).Error(); got != perr.Error() {
		t.Errorf("cause %q, want url.Parse's error %q", got, perr)
	}
}

// A custom source's error tree of exactly 100 errors is examined and
// cleaned; one of 101 is withheld whole. (Mutants: the bound one more or
// one less, in errorTree or in maxTreeErrors.)
func TestCredentials_CustomSourceErrorTreeOfOneHundredIsCleanedOfOneHundredOneWithheld(t *testing.T) {
	const tokenURL = "https://svc:s3cret@auth.example/token"
	tree := func(n int) error {
		// errors.Join, the *url.Error and its Errno are 3; the rest, n-3.
		errs := []error{&url.Error{Op: "Post", URL: tokenURL, Err: syscall.ECONNREFUSED}}
		for i := range n - 3 {
			errs = append(errs, fmt.Errorf("attempt %d refused", i))
		}
		return errors.Join(errs...)
	}
	_, err := tokencreds.New(errorSource{tree(100)}).GetRequestMetadata(localCtx())
	noSecret(t, err, "s3cret")
	var ue *url.Error
	if !errors.As(err, &ue) || ue.URL != "https://…@auth.example/token" {
		t.Errorf("a tree of 100: errors.As(err, *url.Error) gives %v, want the request's without user info", ue)
	}
	_, err = tokencreds.New(errorSource{tree(101)}).GetRequestMetadata(localCtx())
	noSecret(t, err, "s3cret")
	if got := errors.Unwrap(err).Error(); !strings.Contains(got, "withheld") {
		t.Errorf("a tree of 101: cause %q, want it withheld", got)
	}
}

// errors.Is with a target of a type that is not comparable, the type of a
// replaced error, reports false and does not panic comparing them.
// (Mutant: scrubbedError.Is comparing without asking whether the target's
// type is comparable.)
func TestCredentials_ScrubbedErrorIsWithAnIncomparableTargetDoesNotPanic(t *testing.T) {
	src := errors.Join(
		&url.Error{Op: "Post", URL: "https://svc:s3cret@auth.example/token", Err: syscall.ECONNREFUSED},
		listError{"POST https://svc:s3cret@auth.example/token", "HTTP 500"},
	)
	_, err := tokencreds.New(errorSource{src}).GetRequestMetadata(localCtx())
	noSecret(t, err, "s3cret")
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("errors.Is panicked: %v", r)
		}
	}()
	if errors.Is(err, listError{"other"}) {
		t.Error("errors.Is(err, another listError) = true, want false")
	}
}
