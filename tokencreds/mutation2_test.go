package tokencreds_test

// Tests for checks a second hand-run mutation test (askSource, logPanic,
// the backoff, Retry-After, error codes) found no test held: each fails
// with the mutant named in its comment.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// TestCredentials_TokenSourcePanicValueIsInTheCauseNotTheMessage: a
// panicking TokenSource fails the call with a fixed status message, and
// the panic's value is kept in the error's cause for a local log. (Mutant:
// the cause without the panic's value.)
func TestCredentials_TokenSourcePanicValueIsInTheCauseNotTheMessage(t *testing.T) {
	_, err := quiet(tokencreds.New(panickingSource{})).GetRequestMetadata(localCtx())
	st := status.Convert(err)
	if st.Code() != codes.Unauthenticated || strings.Contains(st.Message(), "token source bug") {
		t.Fatalf("status %v %q, want Unauthenticated without the panic's value", st.Code(), st.Message())
	}
	if cause := errors.Unwrap(err); cause == nil || !strings.Contains(cause.Error(), "token source bug") {
		t.Fatalf("cause %v, want one naming the panic's value", cause)
	}
}

// TestCredentials_TokenSourcePanicIsLoggedToTheDefaultLogger: credentials
// without a logger of their own log a panic of the TokenSource to
// slog.Default(). Not parallel: it sets the default logger. (Mutant: a
// nil logger logs nothing.)
func TestCredentials_TokenSourcePanicIsLoggedToTheDefaultLogger(t *testing.T) {
	var logged bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logged, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	if _, err := tokencreds.New(panickingSource{}).GetRequestMetadata(localCtx()); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("err %v, want Unauthenticated", err)
	}
	if !strings.Contains(logged.String(), `"panic":"token source bug"`) {
		t.Fatalf("default logger got %q, want the panic logged", logged.String())
	}
}

// TestCredentials_TokenSourceEndingItsGoroutineIsNamedInTheCause: a
// TokenSource that ends its goroutine fails the call with that as the
// cause, not as a source that returned no token. (Mutant: the fetch's
// error nil until the source returns, which answer turns into
// ErrNoToken.)
func TestCredentials_TokenSourceEndingItsGoroutineIsNamedInTheCause(t *testing.T) {
	ctx, cancel := context.WithTimeout(localCtx(), 10*time.Second)
	defer cancel()
	_, err := tokencreds.New(exitingSource{}).GetRequestMetadata(ctx)
	if !errors.Is(err, tokencreds.ErrSourceExited) || errors.Is(err, tokencreds.ErrNoToken) {
		t.Fatalf("err %v, want the cause %v", err, tokencreds.ErrSourceExited)
	}
}

// TestCredentials_RetryAfterCapEndsAtExactlyTwoMinutes: an hour's
// Retry-After holds the source back until 120 s have passed, and at that
// instant the source is asked again. (Mutants: a cap of 121 s;
// !now.After(retryAt) in place of now.Before(retryAt).)
func TestCredentials_RetryAfterCapEndsAtExactlyTwoMinutes(t *testing.T) {
	clk := newClock()
	resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3600"}}}
	src := &countingSource{next: errorSource{&oauth2.RetrieveError{Response: resp}}}
	c := tokencreds.NewWithClock(src, clk.Now)
	call := func(want int64) {
		t.Helper()
		if _, err := c.GetRequestMetadata(localCtx()); status.Code(err) != codes.Unavailable {
			t.Fatalf("err %v, want Unavailable", err)
		}
		if got := src.n.Load(); got != want {
			t.Fatalf("source asked %d times, want %d", got, want)
		}
	}
	call(1)
	clk.Advance(120*time.Second - time.Nanosecond)
	call(1)
	clk.Advance(time.Nanosecond)
	call(2)
}

// TestCredentials_OAuthErrorCodeOfDigitsCapitalsDotsAndDashesIsNamed: an
// error code may hold every letter, digit, '_', '-' and '.', and is then
// named in the status message. (Mutants: '9', 'Z', '-' or '.' refused.)
func TestCredentials_OAuthErrorCodeOfDigitsCapitalsDotsAndDashesIsNamed(t *testing.T) {
	const code = "AZaz09_x-y.z"
	re := &oauth2.RetrieveError{Response: &http.Response{StatusCode: http.StatusBadRequest}, ErrorCode: code}
	_, err := tokencreds.New(errorSource{re}).GetRequestMetadata(localCtx())
	if want := "tokencreds: the token endpoint refused the token request: " + code + " (HTTP 400)"; status.Convert(err).Message() != want {
		t.Fatalf("message %q, want %q", status.Convert(err).Message(), want)
	}
}

// TestBackoffDelay_IsJitteredSoClientsDoNotRetryInStep: the delay after a
// given number of failures varies from one draw to the next, so that
// clients failing together do not all ask again at the same instant.
// (Mutant: no jitter.)
func TestBackoffDelay_IsJitteredSoClientsDoNotRetryInStep(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[tokencreds.BackoffDelay(3)] = true
	}
	if len(seen) < 2 {
		t.Fatalf("20 delays after 3 failures were all %v, want them jittered", seen)
	}
}

// TestCredentials_TokenRequestFailuresAreNamedByTheirCause: each failure
// of the HTTP client's token request, in the *url.Error it returns, gets
// the code and fixed message of its cause: a certificate that does not
// verify (each of crypto/tls's and crypto/x509's errors for it), a failed
// handshake (a bad record, a local alert), or an unreachable endpoint (a
// DNS failure, a closed connection, an HTTP/2 error, a proxy's 408, 429
// or 504 status text). (Mutants: each of those checks dropped.)
func TestCredentials_TokenRequestFailuresAreNamedByTheirCause(t *testing.T) {
	const (
		cert        = "tokencreds: the token endpoint's TLS certificate did not verify"
		handshake   = "tokencreds: the TLS handshake with the token endpoint failed"
		unreachable = "tokencreds: the token endpoint is unreachable"
	)
	for _, tt := range []struct {
		cause error
		code  codes.Code
		msg   string
	}{
		{&tls.CertificateVerificationError{Err: errors.New("bad")}, codes.Unauthenticated, cert},
		{x509.UnknownAuthorityError{}, codes.Unauthenticated, cert},
		{x509.HostnameError{Certificate: &x509.Certificate{}, Host: "x"}, codes.Unauthenticated, cert},
		{x509.CertificateInvalidError{Cert: &x509.Certificate{}}, codes.Unauthenticated, cert},
		{x509.SystemRootsError{}, codes.Unauthenticated, cert},
		{tls.RecordHeaderError{Msg: "bad record"}, codes.Unauthenticated, handshake},
		{&net.OpError{Op: "local error", Err: errors.New("tls: alert")}, codes.Unauthenticated, handshake},
		{&net.DNSError{Err: "no such host", Name: "auth.example"}, codes.Unavailable, unreachable},
		{net.ErrClosed, codes.Unavailable, unreachable},
		{errors.New("http2: client connection lost"), codes.Unavailable, unreachable},
		{errors.New(http.StatusText(http.StatusRequestTimeout)), codes.Unavailable, unreachable},
		{errors.New(http.StatusText(http.StatusTooManyRequests)), codes.Unavailable, unreachable},
		{errors.New(http.StatusText(http.StatusGatewayTimeout)), codes.Unavailable, unreachable},
	} {
		ue := &url.Error{Op: "Post", URL: "https://auth.example/token", Err: tt.cause}
		_, err := tokencreds.New(errorSource{ue}).GetRequestMetadata(localCtx())
		if st := status.Convert(err); st.Code() != tt.code || st.Message() != tt.msg {
			t.Errorf("%T %v: status %v %q, want %v %q", tt.cause, tt.cause, st.Code(), st.Message(), tt.code, tt.msg)
		}
	}
}

// TestCredentials_UnparsableTokenURLWithoutVisibleUserInfoWithholdsTheReason:
// a token URL that does not parse has its reason withheld, and keeps only
// its scheme, even when no user info shows in it: a "/" or "#" in a
// password hides the "@" from url.Parse, and its reason then quotes a
// piece of the password ("A://:/%" of "A://:/%#@host", found by
// FuzzUserInfoLeavesNoErrorText).
func TestCredentials_UnparsableTokenURLWithoutVisibleUserInfoWithholdsTheReason(t *testing.T) {
	for _, raw := range []string{"https://auth.example/%zz", "A://:/%", "https://svc:s3cre:"} {
		ue := &url.Error{Op: "parse", URL: raw, Err: errors.New(`invalid URL escape "%zz"`)}
		_, err := tokencreds.New(errorSource{ue}).GetRequestMetadata(localCtx())
		cause := errors.Unwrap(err).Error()
		_, rest, _ := strings.Cut(raw, "//")
		if status.Code(err) != codes.Unauthenticated || strings.Contains(cause, "invalid URL escape") || strings.Contains(cause, rest) {
			t.Fatalf("%q: err %v (cause %v), want Unauthenticated with neither url.Parse's reason nor the URL after its // in the cause", raw, err, cause)
		}
	}
}
