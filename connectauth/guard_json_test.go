package connectauth_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
)

// handMadeConnectCall sends srv a Connect unary call as curl would, with
// no Connect-Protocol-Version header nor connect query parameter: a POST
// of contentType with body, or a GET of the query when contentType is
// empty. It returns the status, headers and body.
func handMadeConnectCall(t *testing.T, srv *httptest.Server, path, contentType, query string) (int, http.Header, string) {
	t.Helper()
	method, body := http.MethodPost, io.Reader(strings.NewReader("{}"))
	if contentType == "" {
		method, body, path = http.MethodGet, nil, path+"?"+query
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// A Connect unary call made by hand (curl), which sends neither the
// Connect-Protocol-Version header nor the connect query parameter, to a
// connect-go handler mounted without the interceptor gets the refusal and
// none of the handler's answer: a JSON POST (with a charset too) and a GET
// with the encoding and message parameters, over HTTP/2 and HTTP/1.1. The
// handler runs (the test reaches it), and the path is logged. The same
// call to the handler behind the interceptor (a public method) is
// answered.
func TestWrapHandler_WithholdsAHandMadeConnectUnaryCall(t *testing.T) {
	logged, u, h, h1 := unguardedApp(t)
	calls := []struct{ name, contentType, query string }{
		{"JSON POST", "application/json", ""},
		{"JSON POST with a charset", "application/json; charset=utf-8", ""},
		{"GET", "", "encoding=json&message=%7B%7D"},
	}
	for _, srv := range []*httptest.Server{serveTLS(t, h), h1} {
		for _, c := range calls {
			t.Run(fmt.Sprintf("%s/HTTP/%d", c.name, map[bool]int{false: 1, true: 2}[srv.TLS != nil]), func(t *testing.T) {
				before := u.unary.Load()
				status, header, body := handMadeConnectCall(t, srv, "/second/authtest.v1.TestService/Public", c.contentType, c.query)
				if u.unary.Load() != before+1 {
					t.Fatal("the handler did not run: the test does not reach it")
				}
				if strings.Contains(fmt.Sprint(header, body), "secret") {
					t.Fatalf("the caller got the handler's answer: %v %s", header, body)
				}
				var wire struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal([]byte(body), &wire); err != nil || status != http.StatusInternalServerError ||
					wire.Code != connect.CodeInternal.String() || wire.Message != "connectauth: internal error" {
					t.Fatalf("%d %s (%v), want 500 and the refusal", status, body, err)
				}
				if !strings.Contains(body, grpcauth.ReasonInternalError) {
					t.Errorf("the refusal %s lacks the reason %s", body, grpcauth.ReasonInternalError)
				}

				status, _, body = handMadeConnectCall(t, srv, "/authtest.v1.TestService/Public", c.contentType, c.query)
				if status != http.StatusOK || !strings.Contains(body, `"caller"`) {
					t.Fatalf("judged call: %d %s, want 200 and the answer", status, body)
				}
			})
		}
	}
	if !strings.Contains(logged.String(), withheldLog) || !strings.Contains(logged.String(), "path=/second/authtest.v1.TestService/Public") {
		t.Fatalf("no error record names the path; log:\n%s", logged)
	}
}

// A plain JSON route of the mux whose path merely looks like a
// procedure's (/hooks/example.com/receive, a webhook named for a domain;
// /v1/acme.billing/charge, a versioned REST API with a dotted resource)
// answers a hand-made JSON POST, and a GET with encoding and message
// query keys of its own, as it always does, with its application/json
// body; nothing is logged. No registered service is named by those paths
// (protoregistry.GlobalFiles), so they are no hand-made Connect calls.
func TestWrapHandler_PlainJSONRouteShapedLikeAProcedureAnswers(t *testing.T) {
	logged := captureDefaultLog(t)
	mux := http.NewServeMux()
	for _, path := range []string{"/hooks/example.com/receive", "/v1/acme.billing/charge", "/acme.billing.v1.Ledger/Post"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":"`+r.URL.Path+`"}`)
		})
	}
	h := connectauth.WrapHandler(mux)
	h1 := httptest.NewServer(h)
	t.Cleanup(h1.Close)
	for _, srv := range []*httptest.Server{serveTLS(t, h), h1} {
		for _, path := range []string{"/hooks/example.com/receive", "/v1/acme.billing/charge", "/acme.billing.v1.Ledger/Post"} {
			for _, c := range []struct{ contentType, query string }{{"application/json", ""}, {"", "encoding=json&message=%7B%7D"}} {
				status, _, body := handMadeConnectCall(t, srv, path, c.contentType, c.query)
				if want := `{"ok":"` + path + `"}`; status != http.StatusOK || body != want {
					t.Errorf("%s %q: %d %s, want 200 %s", path, c.contentType, status, body, want)
				}
			}
		}
	}
	if strings.Contains(logged.String(), "connectauth:") {
		t.Fatalf("logged:\n%s", logged)
	}
}
