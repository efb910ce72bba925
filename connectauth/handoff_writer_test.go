package connectauth_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/connectauth"
)

// An HTTP/1.1 request that asks for an upgrade to h2c, which no handler
// takes (curl --http2 over plain http sends one), keeps what net/http's
// ResponseWriter offers a handler behind WrapHandler: http.Flusher, which
// connect-go and grpc-go assert, and through http.ResponseController full
// duplex, deadlines and a Flush that reports the connection's write error,
// by which a streaming handler learns its client is gone.
func TestWrapHandler_UnupgradedH2CRequestKeepsTheResponseWriter(t *testing.T) {
	errs := make(chan error, 1)
	srv := httptest.NewServer(connectauth.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_, flusher := w.(http.Flusher)
		err := errors.Join(rc.EnableFullDuplex(), rc.SetReadDeadline(time.Now().Add(time.Minute)), rc.Flush())
		if err == nil && !flusher {
			err = errors.New("the ResponseWriter is no http.Flusher")
		}
		if err == nil {
			// A write deadline in the past fails the next write to the
			// connection, which Flush must report.
			_ = rc.SetWriteDeadline(time.Now().Add(-time.Second))
			_, _ = w.Write(bytes.Repeat([]byte("x"), 64<<10))
			if rc.Flush() == nil {
				err = errors.New("Flush reported no error after a write past the deadline")
			}
		}
		errs <- err
	})))
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Upgrade", "h2c")
	if res, err := srv.Client().Do(req); err == nil {
		res.Body.Close()
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}
