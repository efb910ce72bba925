package introspect_test

// Tests for checks of a 401's or 403's body (refused, readRefused) that a
// hand-run mutation test found no test held: each fails with the mutant
// named in its comment.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/introspect"
)

// answerTransport answers each request with status and a body read from
// the reader body makes for it, without a server; it counts the requests,
// and sends on closed, when not nil, as a body is closed.
type answerTransport struct {
	status   int
	body     func(req *http.Request) io.Reader
	requests atomic.Int64
	closed   chan struct{}
}

// signalCloser is a body that sends on closed, when not nil, as it is
// closed.
type signalCloser struct {
	io.Reader
	closed chan struct{}
}

func (s signalCloser) Close() error {
	if s.closed != nil {
		s.closed <- struct{}{}
	}
	return nil
}

func (a *answerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	a.requests.Add(1)
	return &http.Response{
		StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: signalCloser{a.body(req), a.closed}, Request: req, ContentLength: -1,
	}, nil
}

// endingReader reads r, then, at its end, runs atEnd before reporting
// io.EOF.
type endingReader struct {
	r     io.Reader
	atEnd func()
}

func (e *endingReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF && e.atEnd != nil {
		e.atEnd()
		e.atEnd = nil
	}
	return n, err
}

func refusedVerifier(t *testing.T, rt http.RoundTripper, logged *syncBuffer) *introspect.Verifier {
	t.Helper()
	return newVerifier(t, introspect.Config{
		Endpoint: "https://introspect.example/introspect", Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, Logger: slog.New(slog.NewTextHandler(logged, nil)), Timeout: time.Minute,
		HTTPClient: &http.Client{Transport: rt},
	})
}

// TestVerify_A401InvalidClientReadWholeAsItsCallersLeftStillPauses: a
// 401 invalid_client whose body was read whole, though its callers left as
// it ended, is the server's word all the same: requests pause, and the
// next token's is not sent. Only a body cut short by their leaving goes
// unjudged. (Mutant: the body not judged whenever the context ended.)
func TestVerify_A401InvalidClientReadWholeAsItsCallersLeftStillPauses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var first atomic.Bool
	first.Store(true)
	rt := &answerTransport{status: http.StatusUnauthorized, closed: make(chan struct{}, 2), body: func(req *http.Request) io.Reader {
		if !first.Swap(false) {
			return strings.NewReader(`{"error":"invalid_client"}`)
		}
		return &endingReader{r: strings.NewReader(`{"error":"invalid_client"}`), atEnd: func() {
			cancel()
			<-req.Context().Done() // the request's context ended too: the body came whole before
		}}
	}}
	var logged syncBuffer
	v := refusedVerifier(t, rt, &logged)
	if _, err := v.VerifyAccessToken(ctx, "Zmlyc3Q"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that left: %v, want context.Canceled", err)
	}
	<-rt.closed // post closes the body once refused has judged it: its pause and log are in
	if _, err := v.VerifyAccessToken(context.Background(), "c2Vjb25k"); !errors.Is(err, introspect.ErrUnavailable) || rt.requests.Load() != 1 {
		t.Fatalf("the next token: %v after %d requests, want ErrUnavailable without a request (paused)", err, rt.requests.Load())
	}
	if out := logged.String(); !strings.Contains(out, "invalid_client") || !strings.Contains(out, "level=ERROR") {
		t.Fatalf("logged %q, want an error naming invalid_client", out)
	}
}

// TestVerify_A401WithoutInvalidClientIsLoggedAtErrorLevel: a 401 that
// does not say invalid_client is logged at error level, as one that does:
// it may still be the credentials, which an operator must fix. (Mutant:
// logged at warn.)
func TestVerify_A401WithoutInvalidClientIsLoggedAtErrorLevel(t *testing.T) {
	rt := &answerTransport{status: http.StatusUnauthorized, body: func(*http.Request) io.Reader { return strings.NewReader(`{"error":"access_denied"}`) }}
	var logged syncBuffer
	v := refusedVerifier(t, rt, &logged)
	if _, err := v.VerifyAccessToken(context.Background(), "Zmlyc3Q"); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("a 401: %v, want ErrUnavailable", err)
	}
	if out := logged.String(); !strings.Contains(out, "without invalid_client") || !strings.Contains(out, "level=ERROR") {
		t.Fatalf("logged %q, want an error saying the 401 came without invalid_client", out)
	}
}

// TestVerify_A401WhoseBodyFailsWithALongErrorIsClipped: the failure of a
// 401's body, whose text net/http may make long with what the server
// sent, is clipped in the error and the log. (Mutant: the error's text
// whole.)
func TestVerify_A401WhoseBodyFailsWithALongErrorIsClipped(t *testing.T) {
	long := strings.Repeat("x", 10_000)
	rt := &answerTransport{status: http.StatusUnauthorized, body: func(*http.Request) io.Reader { return failingReader{errors.New(long)} }}
	var logged syncBuffer
	v := refusedVerifier(t, rt, &logged)
	_, err := v.VerifyAccessToken(context.Background(), "Zmlyc3Q")
	if !errors.Is(err, introspect.ErrUnavailable) || !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("a 401 whose body failed: %v, want ErrUnavailable saying it could not be read", err)
	}
	if strings.Contains(err.Error(), long[:2000]) || strings.Contains(logged.String(), long[:2000]) {
		t.Fatalf("error of %d bytes, log of %d: want the body's failure clipped", len(err.Error()), len(logged.String()))
	}
}

// TestVerify_RefusedClientCredentialsNameThePauseTheyMake: the error of
// a 401 invalid_client names the pause it makes, a minute at most, not an
// hour's NegativeTTL. (Mutant: credentialsPause not capped, its pause
// capped by pause alone.)
func TestVerify_RefusedClientCredentialsNameThePauseTheyMake(t *testing.T) {
	rt := &answerTransport{status: http.StatusUnauthorized, body: func(*http.Request) io.Reader { return strings.NewReader(`{"error":"invalid_client"}`) }}
	var logged syncBuffer
	v := newVerifier(t, introspect.Config{
		Endpoint: "https://introspect.example/introspect", Issuer: "https://issuer.example", ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{"api://x"}, Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		HTTPClient: &http.Client{Transport: rt}, Cache: introspect.CacheConfig{NegativeTTL: time.Hour},
	})
	_, err := v.VerifyAccessToken(context.Background(), "Zmlyc3Q")
	if !errors.Is(err, introspect.ErrUnavailable) || !strings.Contains(err.Error(), "no request for 1m0s") {
		t.Fatalf("a 401 invalid_client: %v, want ErrUnavailable naming a pause of a minute", err)
	}
}

// TestVerify_A401WhoseErrorOnlyStartsWithInvalidClientPausesNothing: the
// "error" must be invalid_client exactly; another code that begins so
// (invalid_clients, invalid_client_metadata) is a refusal of this one
// request, and the next token's request is sent. (Mutant: a prefix
// match.)
func TestVerify_A401WhoseErrorOnlyStartsWithInvalidClientPausesNothing(t *testing.T) {
	rt := &answerTransport{status: http.StatusUnauthorized, body: func(*http.Request) io.Reader {
		return strings.NewReader(`{"error":"invalid_client_metadata"}`)
	}}
	var logged syncBuffer
	v := refusedVerifier(t, rt, &logged)
	for _, tok := range []string{"Zmlyc3Q", "c2Vjb25k"} {
		if _, err := v.VerifyAccessToken(context.Background(), tok); !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("a 401: %v, want ErrUnavailable", err)
		}
	}
	if n := rt.requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (no pause)", n)
	}
}
