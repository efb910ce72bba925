package connectauth_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// gzipWriter compresses a response, as an HTTP compression middleware
// does, flushing the compressor on Flush.
type gzipWriter struct {
	http.ResponseWriter
	gz *gzip.Writer
}

func (w *gzipWriter) WriteHeader(code int) {
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(code)
}

func (w *gzipWriter) Write(p []byte) (int, error) { return w.gz.Write(p) }

func (w *gzipWriter) Flush() {
	_ = w.gz.Flush()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// gzipMiddleware compresses every response whose client accepts gzip.
func gzipMiddleware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		h.ServeHTTP(&gzipWriter{w, gz}, r)
	})
}

// A compression middleware inside WrapHandler (gzip here, as a
// middleware wrapping the whole mux does for a client that accepts it,
// which Go's and browsers' clients do) hides the envelope from the guard:
// the first byte it sees is the compressed stream's, whose bits say
// nothing of a message. The answer of a Connect streaming or gRPC-Web
// call that no interceptor judged is withheld all the same, over HTTP/2
// and HTTP/1.1.
func TestWrapHandler_WithholdsACompressedUnjudgedStream(t *testing.T) {
	logged, u := captureDefaultLog(t), new(unguarded)
	h := connectauth.WrapHandler(gzipMiddleware(guardedMux(newFixture(t), u)))
	h1 := httptest.NewServer(h)
	t.Cleanup(h1.Close)
	msg, err := proto.Marshal(&authtestv1.ServerStreamRequest{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*httptest.Server{serveTLS(t, h), h1} {
		for _, contentType := range []string{"application/connect+proto", "application/grpc-web+proto"} {
			t.Run(fmt.Sprintf("%s/HTTP/%d", contentType, map[bool]int{false: 1, true: 2}[srv.TLS != nil]), func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/second/authtest.v1.TestService/ServerStream", strings.NewReader(string(grpcMessage(string(msg)))))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", contentType)
				req.Header.Set("Accept-Encoding", "gzip")
				res, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				body := io.Reader(res.Body)
				if res.Header.Get("Content-Encoding") == "gzip" {
					if body, err = gzip.NewReader(res.Body); err != nil {
						t.Fatal(err)
					}
				}
				b, _ := io.ReadAll(body)
				if all := fmt.Sprint(res.Header, string(b), res.Trailer); strings.Contains(all, "secret") {
					t.Fatalf("the caller got the handler's answer: %s", all)
				}
				// A gRPC-Web refusal is all in its headers (grpc-status 13).
				if !strings.Contains(string(b), "connectauth: internal error") && res.Header.Get("Grpc-Status") != "13" {
					t.Fatalf("%d %v %q, want the refusal", res.StatusCode, res.Header, b)
				}
			})
		}
	}
	if !strings.Contains(logged.String(), "path=/second/authtest.v1.TestService/ServerStream") {
		t.Fatalf("no error record names the path; log:\n%s", logged)
	}
}
