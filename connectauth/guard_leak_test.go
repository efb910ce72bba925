package connectauth_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/internal/judged"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// grpcMessage is a gRPC length-prefixed message carrying payload.
func grpcMessage(payload string) []byte {
	b := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

// rawAnswer is what a client read of a response: its informational
// responses' headers, its headers, body and trailers.
type rawAnswer struct {
	informational []textproto.MIMEHeader
	header        http.Header
	body          string
	trailer       http.Header
}

// contains reports whether s appears anywhere in the answer.
func (a rawAnswer) contains(s string) bool {
	all := fmt.Sprint(a.informational, a.header, a.body, a.trailer)
	return strings.Contains(all, s)
}

// grpcStatus is the answer's grpc-status, from its headers or trailers.
func (a rawAnswer) grpcStatus() string {
	return a.header.Get("Grpc-Status") + a.trailer.Get("Grpc-Status")
}

// rawGRPCCall posts an empty gRPC message to srv's path and reads the
// whole answer, 1xx responses included.
func rawGRPCCall(t *testing.T, srv *httptest.Server, path string) rawAnswer {
	t.Helper()
	return rawGRPCCallWith(t, srv, path, nil)
}

// rawGRPCCallWith is rawGRPCCall with the request headers header too.
func rawGRPCCallWith(t *testing.T, srv *httptest.Server, path string, header http.Header) rawAnswer {
	t.Helper()
	var a rawAnswer
	var mu sync.Mutex
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(_ int, h textproto.MIMEHeader) error {
			mu.Lock()
			defer mu.Unlock()
			a.informational = append(a.informational, h)
			return nil
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(string(grpcMessage(""))))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	a.header, a.body, a.trailer = res.Header, string(body), res.Trailer
	return a
}

// answerOnTheConnection takes the connection over (Hijack) and answers
// the gRPC call on it with the message payload, grpc-status 0 and an
// X-Leak header of payload, as HTTP/1.1.
func answerOnTheConnection(w http.ResponseWriter, payload string) error {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return err
	}
	defer conn.Close()
	msg := grpcMessage(payload)
	_, err = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nX-Leak: %s\r\nGrpc-Status: 0\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", payload, len(msg), msg)
	return err
}

// A handler without the interceptor that tries every way around the
// ResponseWriter it is given, over HTTP/2 and HTTP/1.1, gets none of its
// answer (message, headers, trailers) to the caller: a Flush before it
// writes, http.ResponseController's Flush, SetReadDeadline,
// SetWriteDeadline and EnableFullDuplex (which the guard passes to the
// server's writer, and which write nothing), a ResponseController Flush
// after the refusal (which reports it), Hijack (refused: the handler
// would write on the connection itself), Unwrap (the guard offers none:
// the server's writer would take the message), io.Copy from a file (the
// writer offers no io.ReaderFrom to bypass Write), trailers set after
// the refusal by http.TrailerPrefix or declared in a Trailer header, and
// a 103 Early Hints sent before the message, which would carry the
// headers it had set. The caller gets grpc-status 13 each time.
func TestWrapHandler_WithholdsAnUnjudgedAnswerWhateverWayItIsWritten(t *testing.T) {
	captureDefaultLog(t)
	file := filepath.Join(t.TempDir(), "message")
	if err := os.WriteFile(file, grpcMessage("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	var readerFrom sync.Map // handler name -> the writer is an io.ReaderFrom
	handlers := map[string]func(w http.ResponseWriter, r *http.Request) error{
		"flush first": func(w http.ResponseWriter, _ *http.Request) error {
			w.(http.Flusher).Flush()
			_, err := w.Write(grpcMessage("secret"))
			return err
		},
		"ResponseController": func(w http.ResponseWriter, r *http.Request) error {
			rc := http.NewResponseController(w)
			if err := rc.EnableFullDuplex(); err != nil && r.ProtoMajor == 1 { // not supported over HTTP/2
				return err
			}
			if err := rc.SetReadDeadline(time.Time{}); err != nil {
				return err
			}
			if err := rc.SetWriteDeadline(time.Time{}); err != nil {
				return err
			}
			if err := rc.Flush(); err != nil {
				return err
			}
			_, err := w.Write(grpcMessage("secret"))
			_ = rc.Flush()
			return err
		},
		"Flush after the refusal": func(w http.ResponseWriter, _ *http.Request) error {
			_, _ = w.Write(grpcMessage("secret"))
			return http.NewResponseController(w).Flush()
		},
		"Hijack": func(w http.ResponseWriter, _ *http.Request) error {
			err := answerOnTheConnection(w, "secret")
			if err != nil {
				if !strings.HasPrefix(err.Error(), "connectauth: WrapHandler refused") {
					t.Errorf("Hijack: %v, want the guard's refusal", err)
				}
				_, err = w.Write(grpcMessage("secret"))
			}
			return err
		},
		"Unwrap": func(w http.ResponseWriter, _ *http.Request) error {
			if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
				w = u.Unwrap()
			}
			_, err := w.Write(grpcMessage("secret"))
			return err
		},
		"io.Copy from a file": func(w http.ResponseWriter, _ *http.Request) error {
			_, ok := w.(io.ReaderFrom)
			readerFrom.Store("io.Copy from a file", ok)
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		},
		"trailers after the refusal": func(w http.ResponseWriter, _ *http.Request) error {
			w.Header().Set("Trailer", "X-Declared")
			_, err := w.Write(grpcMessage("secret"))
			w.Header().Set("X-Declared", "secret")
			w.Header().Set(http.TrailerPrefix+"X-Prefixed", "secret")
			w.Header().Set("Grpc-Status", "0")
			return err
		},
		"103 Early Hints": func(w http.ResponseWriter, _ *http.Request) error {
			w.Header().Set("Link", "</secret>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, err := w.Write(grpcMessage("secret"))
			return err
		},
	}
	mux := http.NewServeMux()
	for name, write := range handlers {
		mux.HandleFunc("/"+strings.ReplaceAll(name, " ", "-")+"/s.S/M", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("X-Leak", "secret")
			if err := write(w, r); err == nil {
				t.Errorf("%s: the handler's writes succeeded", name)
			}
		})
	}
	h := connectauth.WrapHandler(mux)
	h1 := httptest.NewServer(h)
	t.Cleanup(h1.Close)
	for _, srv := range []*httptest.Server{serveTLS(t, h), h1} {
		for name := range handlers {
			t.Run(fmt.Sprintf("%s/HTTP/%d", name, map[bool]int{false: 1, true: 2}[srv.TLS != nil]), func(t *testing.T) {
				a := rawGRPCCall(t, srv, "/"+strings.ReplaceAll(name, " ", "-")+"/s.S/M")
				if a.contains("secret") {
					t.Errorf("the caller got the handler's answer: %+v", a)
				}
				if got := a.grpcStatus(); got != fmt.Sprint(int(codes.Internal)) {
					t.Errorf("grpc-status %q, want %d: %+v", got, codes.Internal, a)
				}
			})
		}
	}
	if ok, _ := readerFrom.Load("io.Copy from a file"); ok != false {
		t.Errorf("the handler's writer is an io.ReaderFrom (%v)", ok)
	}
}

// Only a call that grpcauth judged may take its HTTP/1.1 connection over
// (Hijack) and answer on it. A handler that no interceptor judged gets an
// error from Hijack, and the caller the refusal (grpc-status 13), none of
// the answer it meant to write on the connection, and the path is logged.
func TestWrapHandler_HijackIsForJudgedCallsOnly(t *testing.T) {
	logged := captureDefaultLog(t)
	hijacked := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/judged/s.S/M", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		judged.Mark(r.Context()) // as the interceptor's decision does
		if err := answerOnTheConnection(w, "judged"); err != nil {
			t.Errorf("judged call: %v", err)
		}
	})
	mux.HandleFunc("/unjudged/s.S/M", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		hijacked <- answerOnTheConnection(w, "secret")
	})
	srv := httptest.NewServer(connectauth.WrapHandler(mux))
	t.Cleanup(srv.Close)

	if a := rawGRPCCall(t, srv, "/judged/s.S/M"); a.grpcStatus() != "0" || !a.contains("judged") {
		t.Fatalf("judged call: %+v, want its answer", a)
	}
	a := rawGRPCCall(t, srv, "/unjudged/s.S/M")
	if err := <-hijacked; err == nil {
		t.Error("the unjudged handler took the connection over")
	}
	if a.contains("secret") || a.grpcStatus() != fmt.Sprint(int(codes.Internal)) {
		t.Fatalf("unjudged call: %+v, want the refusal and none of the answer", a)
	}
	if !strings.Contains(logged.String(), withheldLog) || !strings.Contains(logged.String(), "path=/unjudged/s.S/M") {
		t.Fatalf("no error record names the path; log:\n%s", logged)
	}
}

// A client cannot win an unjudged handler its connection by asking for an
// upgrade to h2c: whatever the request asks for (Upgrade: h2c, with
// HTTP2-Settings as h2c.NewHandler wants it, or beside websocket), Hijack
// fails for a call that no interceptor judged, and the caller gets the
// refusal, none of the answer the handler meant to write on the
// connection.
func TestWrapHandler_UpgradeToH2CWinsAnUnjudgedCallNoConnection(t *testing.T) {
	captureDefaultLog(t)
	hijacked := make(chan error, 1)
	srv := httptest.NewServer(connectauth.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		hijacked <- answerOnTheConnection(w, "secret")
	})))
	t.Cleanup(srv.Close)
	for _, header := range []http.Header{
		{"Upgrade": {"h2c"}},
		{"Upgrade": {"h2c"}, "Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {""}},
		{"Upgrade": {"websocket", "h2c"}, "Connection": {"Upgrade"}},
	} {
		a := rawGRPCCallWith(t, srv, "/s.S/M", header)
		if err := <-hijacked; err == nil {
			t.Errorf("%v: the unjudged handler took the connection over", header)
		}
		if a.contains("secret") || a.grpcStatus() != fmt.Sprint(int(codes.Internal)) {
			t.Errorf("%v: %+v, want the refusal and none of the answer", header, a)
		}
	}
}

// A plain HTTP handler of the mux that a client reaches with an RPC's
// headers (a Connect-Protocol-Version header, a connect query parameter,
// a gRPC Content-Type) answers as it always does, and nothing is logged:
// its answer carries no RPC's Content-Type (an application/ type), so a
// client cannot make the guard refuse a health check or a page, nor fill
// its log of paths with ones of its choosing.
func TestWrapHandler_PlainHandlerReachedWithRPCHeadersAnswersUntouched(t *testing.T) {
	f := newFixture(t)
	logged := captureDefaultLog(t)
	mux := guardedMux(f, &unguarded{})
	mux.HandleFunc("POST /page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok")
	})
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	for _, c := range []struct{ method, target, contentType, version string }{
		{"GET", "/healthz", "", "1"},
		{"GET", "/healthz?connect=v1", "", ""},
		{"POST", "/page", "application/grpc", ""},
		{"POST", "/page", "application/connect+proto", ""},
		{"POST", "/page", "application/proto", "1"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), c.method, srv.URL+c.target, strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		if c.version != "" {
			req.Header.Set("Connect-Protocol-Version", c.version)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || string(body) != "ok" {
			t.Errorf("%+v: %d %q, want 200 ok", c, res.StatusCode, body)
		}
	}
	if strings.Contains(logged.String(), "connectauth:") {
		t.Fatalf("logged:\n%s", logged)
	}
}

// A middleware between WrapHandler and the handlers that serves the
// request with a context of its own, not derived from the request's
// (context.Background()), hides the request's mark from the interceptor:
// the guard cannot tell the call was judged, and withholds its answer.
// It fails closed, with the error record naming the path and that cause.
func TestWrapHandler_MiddlewareThatDropsTheRequestContextFailsClosed(t *testing.T) {
	f := newFixture(t)
	logged := captureDefaultLog(t)
	inner := connectHandlers(f)
	srv := serveTLS(t, connectauth.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(context.Background()))
	})))
	req := connect.NewRequest(&authtestv1.PublicRequest{})
	_, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/Public", protocols["grpc"]...).CallUnary(t.Context(), req)
	isWithheld(t, err)
	if !strings.Contains(logged.String(), "path=/authtest.v1.TestService/Public") || !strings.Contains(logged.String(), "a context that derives from the request's") {
		t.Fatalf("no error record names the path and the context as a cause; log:\n%s", logged)
	}
}

// A judged call is answered through a WrapHandler nested in another,
// behind a middleware that strips a path prefix: the inner one serves the
// outer's request, whose mark the interceptor sets. Unary calls and
// streams, in each protocol.
func TestWrapHandler_JudgedCallThroughANestedWrapHandlerIsAnswered(t *testing.T) {
	f := newFixture(t)
	logged := captureDefaultLog(t)
	srv := serveTLS(t, connectauth.WrapHandler(http.StripPrefix("/api", connectauth.WrapHandler(connectHandlers(f)))))
	for pname, opts := range protocols {
		req := connect.NewRequest(&authtestv1.AllOfRequest{})
		req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:write"))
		if _, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/api/authtest.v1.TestService/AllOf", opts...).CallUnary(t.Context(), req); err != nil {
			t.Errorf("%s unary: %v", pname, err)
		}
		sreq := connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 2})
		sreq.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
		stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+"/api/authtest.v1.TestService/ServerStream", opts...).CallServerStream(t.Context(), sreq)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for stream.Receive() {
			n++
		}
		if n != 2 || stream.Err() != nil {
			t.Errorf("%s stream: %d messages, then %v; want 2 and the stream's end", pname, n, stream.Err())
		}
		stream.Close()
	}
	if strings.Contains(logged.String(), "connectauth:") {
		t.Fatalf("logged:\n%s", logged)
	}
}

// A handler that takes its connection over (a WebSocket upgrade) and that
// a client reaches with an RPC's headers (Connect-Protocol-Version, the
// connect query parameter) gets no connection, as no unjudged call does,
// but its own answer to that error goes out and nothing is logged: it has
// set no RPC's Content-Type, so a client cannot fill the guard's log of
// paths with ones of its choosing (/ws/{room}).
func TestWrapHandler_HijackRefusedToAPlainHandlerIsNotLogged(t *testing.T) {
	logged := captureDefaultLog(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws/{room}", func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, "websocket: cannot upgrade", http.StatusInternalServerError)
			return
		}
		_ = conn.Close()
	})
	srv := httptest.NewServer(connectauth.WrapHandler(mux))
	t.Cleanup(srv.Close)
	for i, target := range []string{"/ws/a", "/ws/b?connect=v1"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			req.Header.Set("Connect-Protocol-Version", "1")
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "websocket: cannot upgrade") {
			t.Errorf("%s: %d %q, want the handler's own 500", target, res.StatusCode, body)
		}
	}
	if strings.Contains(logged.String(), "connectauth:") {
		t.Fatalf("logged:\n%s", logged)
	}
}
