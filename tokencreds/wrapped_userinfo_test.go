package tokencreds_test

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

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
// itself, through both forms of Unwrap.
func causeTexts(err error) []string {
	var texts []string
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
				texts = append(texts, n.Error())
				walk(n)
			}
		}
	}
	walk(err)
	return texts
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
