package connectauth_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// browserFetch is an http.RoundTripper that applies what a browser's
// fetch applies to a cross-origin request from a page of origin, so that
// a connect-go client can stand in for the page without a browser: it
// leaves out the request headers a page cannot set (the browser sets
// Accept-Encoding itself, and decodes a Content-Encoding it names, as
// Go's transport does when the request has none), sends a preflight for
// the request headers that are not CORS-safelisted and refuses the
// request when the preflight does not allow each of them, and hands the
// client only the response headers that are CORS-safelisted or listed in
// Access-Control-Expose-Headers, and no HTTP trailers.
type browserFetch struct {
	origin string
	next   http.RoundTripper
}

// forbiddenRequestHeaders are the request headers a page cannot set
// (Fetch, "forbidden request-header"; and User-Agent, which browsers
// keep too), beside the Proxy- and Sec- prefixes.
var forbiddenRequestHeaders = []string{
	"Accept-Charset", "Accept-Encoding", "Access-Control-Request-Headers", "Access-Control-Request-Method",
	"Connection", "Content-Length", "Cookie", "Cookie2", "Date", "Dnt", "Expect", "Host", "Keep-Alive",
	"Origin", "Referer", "Set-Cookie", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Via", "User-Agent",
}

// safelistedResponseHeaders are the response headers a page reads without
// Access-Control-Expose-Headers (Fetch, "CORS-safelisted response-header
// name").
var safelistedResponseHeaders = []string{"Cache-Control", "Content-Language", "Content-Length", "Content-Type", "Expires", "Last-Modified", "Pragma"}

// listHas reports whether the comma-separated list of names holds name,
// in any case.
func listHas(list, name string) bool {
	return slices.ContainsFunc(strings.Split(list, ","), func(n string) bool { return strings.EqualFold(strings.TrimSpace(n), name) })
}

func (b browserFetch) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	var unsafe []string
	for name, vs := range req.Header {
		switch {
		case slices.Contains(forbiddenRequestHeaders, name) || strings.HasPrefix(name, "Proxy-") || strings.HasPrefix(name, "Sec-"):
			delete(req.Header, name)
		case name == "Accept" || name == "Accept-Language" || name == "Content-Language":
		case name == "Content-Type" && slices.Contains([]string{"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}, strings.ToLower(vs[0])):
		default:
			unsafe = append(unsafe, strings.ToLower(name))
		}
	}
	req.Header.Set("Origin", b.origin)
	if len(unsafe) > 0 || (req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != http.MethodPost) {
		slices.Sort(unsafe)
		pre, err := http.NewRequestWithContext(req.Context(), http.MethodOptions, req.URL.String(), nil)
		if err != nil {
			return nil, err
		}
		pre.Header.Set("Origin", b.origin)
		pre.Header.Set("Access-Control-Request-Method", req.Method)
		if len(unsafe) > 0 {
			pre.Header.Set("Access-Control-Request-Headers", strings.Join(unsafe, ","))
		}
		resp, err := b.next.RoundTrip(pre)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != b.origin {
			return nil, fmt.Errorf("browserFetch: preflight refused: %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		for _, name := range unsafe {
			if !listHas(resp.Header.Get("Access-Control-Allow-Headers"), name) {
				return nil, fmt.Errorf("browserFetch: the preflight does not allow the request header %s (Access-Control-Allow-Headers %q)", name, resp.Header.Get("Access-Control-Allow-Headers"))
			}
		}
	}
	resp, err := b.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != b.origin {
		resp.Body.Close()
		return nil, fmt.Errorf("browserFetch: the response is withheld from the page (Allow-Origin %q)", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	exposed := resp.Header.Get("Access-Control-Expose-Headers")
	for name := range resp.Header {
		if !slices.Contains(safelistedResponseHeaders, name) && !listHas(exposed, name) {
			delete(resp.Header, name)
		}
	}
	resp.Trailer = nil
	return resp, nil
}

// A page on a listed origin can send compressed requests and read
// compressed responses in each protocol a browser speaks, as connect-es's
// universal transports and connect-dart's do when given compression: the
// preflight allows the
// protocols' encoding headers (Content-Encoding of a Connect unary
// request, Connect-Content-Encoding and Connect-Accept-Encoding of a
// Connect stream, Grpc-Encoding and Grpc-Accept-Encoding of gRPC-Web),
// and the response exposes the encoding of its messages
// (Connect-Content-Encoding, Grpc-Encoding; a Connect unary response's
// Content-Encoding the browser decodes itself), without which the page
// cannot read them. connectrpc.com/cors lists none of them: the
// preflight refused such a call, and a response compressed because the
// page accepted gzip could not be decoded.
func TestCORS_PageMayUseTheProtocolsCompression(t *testing.T) {
	const origin = "https://app.example.com"
	f := newFixture(t)
	srv := serveTLS(t, connectauth.CORS(connectMux(f), origin))
	hc := &http.Client{Transport: browserFetch{origin: origin, next: srv.Client().Transport}}
	for _, tc := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		opts := append([]connect.ClientOption{connect.WithSendGzip()}, tc.opts...)
		tok := "Bearer " + f.token(t, "test:read", "test:write", "test:stream")

		req := connect.NewRequest(&authtestv1.AllOfRequest{})
		req.Header().Set("Authorization", tok)
		res, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](hc, srv.URL+"/authtest.v1.TestService/AllOf", opts...).CallUnary(t.Context(), req)
		if err != nil {
			t.Errorf("%s unary: %v", tc.name, err)
		} else if !res.Msg.GetCaller().GetAuthenticated() {
			t.Errorf("%s unary: the handler saw no caller", tc.name)
		}

		sreq := connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 2})
		sreq.Header().Set("Authorization", tok)
		stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](hc, srv.URL+"/authtest.v1.TestService/ServerStream", opts...).CallServerStream(t.Context(), sreq)
		if err != nil {
			t.Errorf("%s stream: %v", tc.name, err)
			continue
		}
		n := 0
		for stream.Receive() {
			n++
		}
		if err := stream.Err(); err != nil || n != 2 {
			t.Errorf("%s stream: %d messages, %v; want 2 and no error", tc.name, n, err)
		}
		stream.Close()
	}
}
