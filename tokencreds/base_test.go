package tokencreds_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// roundTripOrPanic is rt.RoundTrip(req), with a panic reported as an error
// (errorOrPanic).
func roundTripOrPanic(rt http.RoundTripper, req *http.Request) (resp *http.Response, err error) {
	err = errorOrPanic(func() error {
		resp, err = rt.RoundTrip(req)
		return err
	})
	return resp, err
}

// errorOrPanic is f's error, with a panic reported as an error that says
// so, so that a test sees it as a failure rather than end the test binary.
func errorOrPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panicked: %v", r)
		}
	}()
	return f()
}

// closeAnswer closes resp's Body, if there are both.
func closeAnswer(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
}

// newTokenRequest is a token request to u, whose body net/http can send
// again (GetBody), as x/oauth2's are.
func newTokenRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// A base RoundTripper may answer a response without a Body (test doubles
// and instrumentation do, as net/http's Client tolerates: golang.org/issue/38095).
// The transport takes it as net/http's Client does, for an empty body,
// also where it reads the body itself: a 400 carrying a DPoP-Nonce, whose
// body it reads for use_dpop_nonce, is passed on as it is (no error code,
// no retry), and a response it returns always has a Body.
func TestDPoPTransport_BaseAnswerWithoutABodyIsAnEmptyBody(t *testing.T) {
	var requests atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/nonce":
			w.Header().Set("DPoP-Nonce", "n-1")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"use_dpop_nonce"}`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(endpoint.Close)
	// dropBody sends the request to the endpoint, and answers its response
	// without the body: Body nil, and a ContentLength of contentLength.
	dropBody := func(contentLength int64) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(r)
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
			resp.Body, resp.ContentLength = nil, contentLength
			return resp, nil
		})
	}
	for _, tc := range []struct {
		name, method, path string
		contentLength      int64
		status             int
	}{
		{"a 400 with a DPoP-Nonce", http.MethodPost, "/nonce", 0, http.StatusBadRequest},
		{"a 400 with a DPoP-Nonce, length unknown", http.MethodPost, "/nonce", -1, http.StatusBadRequest},
		{"a 204", http.MethodPost, "/token", 0, http.StatusNoContent},
		{"an answer to HEAD with a ContentLength", http.MethodHead, "/token", 26, http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requests.Store(0)
			tr := tokencreds.NewDPoPTransport(newSigner(t), dropBody(tc.contentLength))
			resp, err := roundTripOrPanic(tr, newTokenRequest(t, tc.method, endpoint.URL+tc.path))
			if err != nil {
				t.Fatalf("RoundTrip: %v, want the base's answer", err)
			}
			if resp.Body == nil {
				t.Fatalf("the answer has no Body, want an empty one")
			}
			defer resp.Body.Close()
			if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 0 {
				t.Errorf("Body reads %q, %v; want an empty body", b, err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("endpoint got %d requests, want 1 (no retry without a use_dpop_nonce error)", n)
			}
		})
	}
}

// A response without a Body whose ContentLength says it has one (to a
// request other than HEAD) fails the request, as net/http's Client fails
// it, naming the base's type.
func TestDPoPTransport_BaseAnswerWithAContentLengthButNoBodyFailsTheRequest(t *testing.T) {
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, ContentLength: 7, Request: r}, nil
	})
	tr := tokencreds.NewDPoPTransport(newSigner(t), base)
	resp, err := roundTripOrPanic(tr, newTokenRequest(t, http.MethodPost, "https://idp.example/token"))
	if err == nil {
		closeAnswer(resp)
		t.Fatal("RoundTrip succeeded, want an error")
	}
	if resp != nil {
		t.Errorf("RoundTrip returned a response with its error %v", err)
	}
	want := "tokencreds: the base RoundTripper (tokencreds_test.roundTripFunc) returned a response with content length 7 but no body"
	if err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

// A base answering neither a response nor an error fails the request, as
// net/http's Client fails it, naming the base's type: on the first request
// and on the retry with the endpoint's nonce.
func TestDPoPTransport_BaseAnsweringNeitherResponseNorErrorFailsTheRequest(t *testing.T) {
	for _, answered := range []int{0, 1} { // the answers before the (nil, nil)
		t.Run(fmt.Sprintf("after %d answers", answered), func(t *testing.T) {
			var sent atomic.Int64
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if int(sent.Add(1)) > answered {
					return nil, nil
				}
				h := http.Header{"Content-Type": {"application/json"}, "Dpop-Nonce": {"n-1"}}
				return &http.Response{StatusCode: http.StatusBadRequest, Header: h, Body: io.NopCloser(strings.NewReader(`{"error":"use_dpop_nonce"}`)), Request: r}, nil
			})
			tr := tokencreds.NewDPoPTransport(newSigner(t), base)
			resp, err := roundTripOrPanic(tr, newTokenRequest(t, http.MethodPost, "https://idp.example/token"))
			if err == nil {
				closeAnswer(resp)
				t.Fatal("RoundTrip succeeded, want an error")
			}
			want := "tokencreds: the base RoundTripper (tokencreds_test.roundTripFunc) returned neither a response nor an error"
			if err.Error() != want {
				t.Errorf("err = %q, want %q", err, want)
			}
			if n := sent.Load(); n != int64(answered)+1 {
				t.Errorf("base got %d requests, want %d", n, answered+1)
			}
		})
	}
}

// Through Credentials, a token request that a DPoPTransport's base
// answered with neither a response nor an error is a failure net/http
// reports without a network error: Unauthenticated, the HTTP client's
// refusal, not a panic of the token source.
func TestDPoP_CallWhoseTransportsBaseAnswersNothingIsUnauthenticated(t *testing.T) {
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: "https://idp.example/token", AuthStyle: oauth2.AuthStyleInHeader}
	var logs bytes.Buffer
	ts := cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tokencreds.NewDPoPTransport(newSigner(t), base)}))
	creds := tokencreds.NewDPoP(ts, newSigner(t))
	tokencreds.SetLogger(creds, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, uri := dpopCallCtx()
	_, err := creds.GetRequestMetadata(ctx, uri)
	if st, _ := status.FromError(err); st.Code() != codes.Unauthenticated || st.Message() != "tokencreds: the HTTP client refused the token request" {
		t.Errorf("err = %v, want Unauthenticated: tokencreds: the HTTP client refused the token request", err)
	}
	if !strings.Contains(fmt.Sprint(errors.Unwrap(err)), "returned neither a response nor an error") {
		t.Errorf("cause = %v, want the base's failure", errors.Unwrap(err))
	}
	if logs.Len() != 0 {
		t.Errorf("logged %q, want nothing (no panic)", logs.String())
	}
}

// closeRecorder is a response body that counts its Close calls.
type closeRecorder struct {
	io.Reader
	closed atomic.Int64
}

func (b *closeRecorder) Close() error {
	b.closed.Add(1)
	return nil
}

// A base answering both a response and an error (outside RoundTripper's
// contract, but instrumentation does) fails the request with its error
// alone, on the first request and on the retry with the endpoint's nonce:
// the response's Body is closed, where net/http's Client would leave it
// (and the connection under it) open, ignoring it.
func TestDPoPTransport_BaseAnswerWithAnErrorIsTheErrorWithItsBodyClosed(t *testing.T) {
	errBase := errors.New("base: instrumented failure")
	for _, answered := range []int{0, 1} { // the answers before the response with an error
		t.Run(fmt.Sprintf("after %d answers", answered), func(t *testing.T) {
			var sent atomic.Int64
			body := &closeRecorder{Reader: strings.NewReader(`{"access_token":"at","token_type":"DPoP"}`)}
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				h := http.Header{"Content-Type": {"application/json"}}
				if int(sent.Add(1)) > answered {
					return &http.Response{StatusCode: http.StatusOK, Header: h, Body: body, Request: r}, errBase
				}
				h.Set("DPoP-Nonce", "n-1")
				return &http.Response{StatusCode: http.StatusBadRequest, Header: h, Body: io.NopCloser(strings.NewReader(`{"error":"use_dpop_nonce"}`)), Request: r}, nil
			})
			tr := tokencreds.NewDPoPTransport(newSigner(t), base)
			resp, err := roundTripOrPanic(tr, newTokenRequest(t, http.MethodPost, "https://idp.example/token"))
			if !errors.Is(err, errBase) {
				closeAnswer(resp)
				t.Fatalf("RoundTrip: %v, want the base's error", err)
			}
			if resp != nil {
				t.Errorf("RoundTrip returned a response with its error")
			}
			if n := body.closed.Load(); n != 1 {
				t.Errorf("the base's response body was closed %d times, want 1", n)
			}
			if n := sent.Load(); n != int64(answered)+1 {
				t.Errorf("base got %d requests, want %d", n, answered+1)
			}
		})
	}
}
