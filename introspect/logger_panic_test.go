package introspect_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grpcauth/grpcauth/internal/safelog/safelogtest"
	"github.com/grpcauth/grpcauth/introspect"
)

// A Logger whose handler panics on the records of failures and
// recoveries, written on an introspection request's own goroutine, loses
// them, not the answers they report: a failed request still fails as the
// endpoint failed (not as a panic), and the active answer that follows,
// logged as "introspection recovered", is the caller's answer. Before, the flight's recovery took the handler's panic
// for a failure of the request and refused the active token with
// ErrUnavailable.
func TestVerify_PanickingLoggerLosesItsRecordsNotTheAnswer(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	panicked := make(chan string, 8)
	e := newEnv(t, func(c *introspect.Config) {
		base := c.HTTPClient.Transport
		c.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if failing.Load() {
				return &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{},
					Body: io.NopCloser(strings.NewReader("down")), Request: r}, nil
			}
			return base.RoundTrip(r)
		})}
		c.Logger = slog.New(safelogtest.Handler{Next: c.Logger.Handler(), On: "introspect: introspection ", Panicked: panicked})
	})
	tok, err := e.iss.MintOpaque("svc", "items:read")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.VerifyAccessToken(t.Context(), tok); !errors.Is(err, introspect.ErrUnavailable) || strings.Contains(err.Error(), "panic") {
		t.Fatalf("VerifyAccessToken while the endpoint answers 500 = %v, want ErrUnavailable for the 500", err)
	}
	wantPanicked(t, panicked, "introspect: introspection failed")
	failing.Store(false)
	c, err := e.v.VerifyAccessToken(t.Context(), tok)
	if err != nil || c.Subject() == "" {
		t.Fatalf("VerifyAccessToken of an active token = %v, %v; want its claims", c, err)
	}
	wantPanicked(t, panicked, "introspect: introspection recovered")
}

// wantPanicked wants msg among the messages of the records the Logger
// panicked on, all of them in panicked by the time the call returned
// (each is written before its answer is given), and takes them.
func wantPanicked(t *testing.T, panicked <-chan string, msg string) {
	t.Helper()
	var got []string
	for len(panicked) > 0 {
		got = append(got, <-panicked)
	}
	if !slices.Contains(got, msg) {
		t.Fatalf("the Logger panicked on %q, want %q among them", got, msg)
	}
}
