package tokencreds_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// errSourceSentinel is a custom source's own sentinel error.
var errSourceSentinel = errors.New("source: token request failed")

// sourceError is a custom source's own wrapper type, with an Is method.
type sourceError struct{ err error }

func (e *sourceError) Error() string        { return "source: " + e.err.Error() }
func (e *sourceError) Unwrap() error        { return e.err }
func (e *sourceError) Is(target error) bool { return target == errSourceSentinel }

// causeTexts returns the text of every error in err's tree below err
// itself, through both forms of Unwrap (causes).
func causeTexts(err error) []string {
	var texts []string
	for _, e := range causes(err) {
		texts = append(texts, e.Error())
	}
	return texts
}

// causes returns every error in err's tree below err itself, through both
// forms of Unwrap, each before those it wraps.
func causes(err error) []error {
	var errs []error
	var walk func(error)
	walk = func(e error) {
		var next []error
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			next = []error{u.Unwrap()}
		case interface{ Unwrap() []error }:
			next = u.Unwrap()
		}
		for _, n := range next {
			if n != nil {
				errs = append(errs, n)
				walk(n)
			}
		}
	}
	walk(err)
	return errs
}

// A custom TokenSource that wraps a failed token request's *url.Error in
// errors of its own (fmt.Errorf's %w, errors.Join, a type of its own)
// gets a cause without the user info of the URL, anywhere in the tree,
// the wrappers' texts included; errors.Is still finds the source's error,
// the sentinels on both sides of the *url.Error (and through the
// wrapper's own Is), and errors.As
// the errors beneath it and the *url.Error without user info.
func TestCredentials_CustomSourceWrappedURLErrorNamesNoUserInfo(t *testing.T) {
	const user, password = "svc-user", "url-pass%40word"
	tokenURL := "https://" + user + ":" + password + "@auth.example/token"
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	request := func() *url.Error { return &url.Error{Op: "Post", URL: tokenURL, Err: refused} }
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"fmt.Errorf", fmt.Errorf("%w: fetching from %s: %w", errSourceSentinel, tokenURL, request())},
		{"errors.Join", errors.Join(errSourceSentinel, fmt.Errorf("retry 2: %w", request()))},
		{"own type", &sourceError{fmt.Errorf("attempt: %w", request())}},
		{"twice", fmt.Errorf("%w; %w", errSourceSentinel, &url.Error{Op: "Post", URL: tokenURL, Err: fmt.Errorf("proxy: %w", request())})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tokencreds.New(errorSource{tc.err}).GetRequestMetadata(localCtx())
			if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "tokencreds: the token endpoint is unreachable" {
				t.Errorf("status %v %q, want Unavailable, unreachable", st.Code(), st.Message())
			}
			for _, text := range causeTexts(err) {
				for _, secret := range []string{user, password, "pass@word"} {
					if strings.Contains(text, secret) {
						t.Errorf("cause %q names %q", text, secret)
					}
				}
			}
			if !errors.Is(err, errSourceSentinel) || !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("errors.Is(err, source's sentinel) = %v, errors.Is(err, ECONNREFUSED) = %v, want both true",
					errors.Is(err, errSourceSentinel), errors.Is(err, syscall.ECONNREFUSED))
			}
			if !errors.Is(err, tc.err) {
				t.Error("errors.Is(err, the source's error) = false, want true")
			}
			var op *net.OpError
			if !errors.As(err, &op) || op != refused {
				t.Errorf("errors.As(err, *net.OpError) = %v, want the dial error", op)
			}
			var ue *url.Error
			if !errors.As(err, &ue) || ue.URL != "https://…@auth.example/token" {
				t.Errorf("errors.As(err, *url.Error) gives %v, want the request's without user info", ue)
			}
		})
	}
}

// A custom source's wrapped *url.Error of a token URL with user info that
// does not parse has url.Parse's reason, which may quote a piece of the
// password, withheld, in the wrapper's text too.
func TestCredentials_CustomSourceWrappedUnparsableURLWithholdsTheReason(t *testing.T) {
	const raw = "https://alice:hunter2/x@auth.example/token"
	_, perr := url.Parse(raw)
	if perr == nil {
		t.Fatal("url.Parse accepted the URL")
	}
	_, err := tokencreds.New(errorSource{fmt.Errorf("config: %w", perr)}).GetRequestMetadata(localCtx())
	if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != "tokencreds: the token URL does not parse" {
		t.Errorf("status %v %q, want Unauthenticated, does not parse", st.Code(), st.Message())
	}
	for _, text := range causeTexts(err) {
		for _, secret := range []string{"alice", "hunter2"} {
			if strings.Contains(text, secret) {
				t.Errorf("cause %q names %q", text, secret)
			}
		}
	}
}

// A custom source's error whose *url.Error has no user info is the cause
// as it is: errors.As finds the source's own wrapper type.
func TestCredentials_CustomSourceErrorWithoutUserInfoIsTheCauseAsItIs(t *testing.T) {
	orig := &sourceError{&url.Error{Op: "Post", URL: "https://auth.example/token", Err: syscall.ECONNREFUSED}}
	_, err := tokencreds.New(errorSource{orig}).GetRequestMetadata(localCtx())
	var se *sourceError
	if !errors.As(err, &se) || se != orig {
		t.Errorf("errors.As(err, *sourceError) gives %v, want the source's error", se)
	}
}

// noSecret fails t if the text of err or of an error of its tree names
// one of secrets.
func noSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, text := range append(causeTexts(err), err.Error()) {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("cause %.200q names %q", text, secret)
			}
		}
	}
}

// A custom source's error that names the token URL in an error beside
// the *url.Error (a retry's own, errors.Join) rather than above it has
// the user info cut out of that error's text too.
func TestCredentials_CustomSourceErrorNamingTheURLBesideItsURLErrorNamesNoUserInfo(t *testing.T) {
	const tokenURL = "https://svc:s3cret@auth.example/token"
	first := &url.Error{Op: "Post", URL: tokenURL, Err: syscall.ECONNREFUSED}
	retry := fmt.Errorf("retry: POST %s: HTTP 500", tokenURL)
	_, err := tokencreds.New(errorSource{errors.Join(first, retry)}).GetRequestMetadata(localCtx())
	noSecret(t, err, "s3cret")
	if !errors.Is(err, retry) {
		t.Error("errors.Is(err, the retry's error) = false, want true")
	}
}

// A custom source's error that names the token URL as net/url prints it
// (its user info encoded again: %2f becomes %2F) has it cut out too.
func TestCredentials_CustomSourceErrorNamingTheURLEncodedAgainNamesNoUserInfo(t *testing.T) {
	const tokenURL = "https://svc:a%2fb@auth.example/token"
	u, err := url.Parse(tokenURL)
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Errorf("token from %s: %w", u, &url.Error{Op: "Post", URL: tokenURL, Err: syscall.ECONNREFUSED})
	_, err = tokencreds.New(errorSource{src}).GetRequestMetadata(localCtx())
	noSecret(t, err, "a%2fb", "a%2Fb", "a/b")
}

// A custom source's error tree of more than 100 errors is withheld whole:
// the part of it not examined could hold the *url.Error whose user info
// an error above it names. The code is still the one of its *url.Error.
func TestCredentials_CustomSourceErrorTreeTooLargeIsWithheld(t *testing.T) {
	const tokenURL = "https://svc:s3cret@auth.example/token"
	var errs []error
	for i := range 120 {
		errs = append(errs, fmt.Errorf("attempt %d refused", i))
	}
	errs = append(errs, &url.Error{Op: "Post", URL: tokenURL, Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}})
	src := fmt.Errorf("fetching from %s: %w", tokenURL, errors.Join(errs...))
	_, err := tokencreds.New(errorSource{src}).GetRequestMetadata(localCtx())
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "tokencreds: the token endpoint is unreachable" {
		t.Errorf("status %v %q, want Unavailable, unreachable", st.Code(), st.Message())
	}
	noSecret(t, err, "s3cret")
}

// A custom source's errors.Join of very many errors beside a *url.Error
// with user info gets a cause of a bounded number of errors, not one
// per branch (which cost time quadratic in the branches).
func TestCredentials_CustomSourceWideErrorTreeGivesABoundedCause(t *testing.T) {
	errs := []error{&url.Error{Op: "Post", URL: "https://svc:s3cret@auth.example/token", Err: syscall.ECONNREFUSED}}
	for i := range 2000 {
		errs = append(errs, fmt.Errorf("attempt %d refused", i))
	}
	_, err := tokencreds.New(errorSource{errors.Join(errs...)}).GetRequestMetadata(localCtx())
	if n := len(causeTexts(err)); n > 100 {
		t.Errorf("the cause's tree holds %d errors, want at most 100", n)
	}
	noSecret(t, err, "s3cret")
}

// listError is an error type that is not comparable (a slice).
type listError []string

func (e listError) Error() string { return strings.Join(e, "; ") }

// A custom source's *url.Error that wraps an error of a type that is not
// comparable, beside one with user info, is looked at without comparing
// that error (which would panic): errors.As still finds it.
func TestCredentials_URLErrorWrappingAnIncomparableErrorIsCleaned(t *testing.T) {
	inner := listError{"proxy refused", "no route"}
	src := errors.Join(
		&url.Error{Op: "Post", URL: "https://svc:s3cret@auth.example/token", Err: syscall.ECONNREFUSED},
		&url.Error{Op: "Post", URL: "https://backup.example/token", Err: inner},
	)
	_, err := tokencreds.New(errorSource{src}).GetRequestMetadata(localCtx())
	var got listError
	if !errors.As(err, &got) || len(got) != 2 {
		t.Errorf("errors.As(err, listError) gives %v, want the source's", got)
	}
	noSecret(t, err, "s3cret")
}

// A token URL whose password holds a "#" fails url.Parse, whose error
// names the URL cut at the "#", with no "@" left: the user name and the
// password's start read as a host and a port that does not parse. The
// cause names neither, and has url.Parse's reason, which quotes that
// port, withheld, as for any token URL with user info that does not
// parse; the status is still the one of a URL that does not parse.
func TestCredentials_TokenURLWithAHashInThePasswordNamesNoPieceOfIt(t *testing.T) {
	cfg := clientcredentials.Config{ClientID: "svc", ClientSecret: "secret", TokenURL: "https://alice:hunter2/x#y@auth.example/token"}
	_, err := tokencreds.New(cfg.TokenSource(context.Background())).GetRequestMetadata(localCtx())
	if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != "tokencreds: the token URL does not parse" {
		t.Errorf("status %v %q, want Unauthenticated, does not parse", st.Code(), st.Message())
	}
	noSecret(t, err, "alice", "hunter2", "/x")
	if !strings.Contains(errors.Unwrap(err).Error(), "reason withheld") {
		t.Errorf("cause %q, want url.Parse's reason withheld", errors.Unwrap(err))
	}
}
