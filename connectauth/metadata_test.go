package connectauth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// A request header that a middleware sets under a name that is not in
// canonical form ("authorization", by a map assignment) beside the
// client's Authorization header is a second value of the same metadata
// key, as grpc-go makes it: the call has two authorization values and is
// refused, every time, rather than decided on one of the two picked at
// random.
func TestConnect_HeaderSpelledTwiceIsTwoMetadataValues(t *testing.T) {
	f := newFixture(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header["authorization"] = []string{"Bearer not.a.jwt"}
		connectHandlers(f).ServeHTTP(w, r)
	})
	srv := serveTLS(t, h)
	c := call{method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}}
	for range 16 {
		if o, _ := viaConnect(t, f, srv.Client(), srv.URL, nil, c); o != (outcome{codes.Unauthenticated, grpcauth.ReasonTokenInvalid}) {
			t.Fatalf("got %v %q, want Unauthenticated %q", o.code, o.reason, grpcauth.ReasonTokenInvalid)
		}
	}
}

// A request header whose name is no HTTP token never reaches the decision:
// no client can send one (net/http answers 400, and HTTP/2 and grpc-go
// refuse the stream), so only a middleware could have set it, and
// strings.ToLower would fold its non-ASCII letters to ASCII ones ("İ",
// U+0130, to "i"), making "Authorİzation" the authorization metadata that
// a middleware comparing names in ASCII let through.
func TestConnect_HeaderNameThatIsNoTokenIsNoMetadata(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, "test:read", "test:write")
	h := connectauth.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header["Author\u0130zation"] = []string{"Bearer " + tok}
		connectHandlers(f).ServeHTTP(w, r)
	}))
	srv := serveTLS(t, h)
	for pname, opts := range protocols {
		o, authenticated := viaConnect(t, f, srv.Client(), srv.URL, opts, call{method: "Public", token: "none"})
		if o != (outcome{code: codes.OK}) || authenticated {
			t.Errorf("%s: got %v %q, authenticated %v; want OK and no caller: the header is no authorization", pname, o.code, o.reason, authenticated)
		}
	}
}

// elsewhere is a RoundTripper that moves a call's credentials out of its
// Authorization header to where (a query parameter, a cookie, a header
// with a prefix some gateways strip, a request trailer) before sending it
// with base.
type elsewhere struct {
	base  http.RoundTripper
	where string
}

func (e elsewhere) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	auth := r.Header.Get("Authorization")
	r.Header.Del("Authorization")
	token := strings.TrimPrefix(auth, "Bearer ")
	switch e.where {
	case "query":
		q := r.URL.Query()
		q.Set("access_token", token)
		q.Set("authorization", auth)
		r.URL.RawQuery = q.Encode()
	case "cookie":
		r.AddCookie(&http.Cookie{Name: "access_token", Value: token})
		r.AddCookie(&http.Cookie{Name: "authorization", Value: url.QueryEscape(auth)})
	case "prefixed header":
		for _, name := range []string{"Grpc-Metadata-Authorization", "Connect-Authorization", "Trailer-Authorization", "X-Authorization"} {
			r.Header.Set(name, auth)
		}
	case "trailer":
		r.Header.Set("Trailer", "Authorization")
		r.Trailer = http.Header{"Authorization": {auth}}
		r.ContentLength = -1 // chunked: HTTP/1.1 carries trailers only then
	}
	return e.base.RoundTrip(r)
}

// A call's credentials are its Authorization header and nothing else:
// a token in the query string (access_token, RFC 6750 §2.3, which leaks
// into logs and Referer), a cookie (which a browser attaches to requests
// other sites make), a header under a gateway's prefix
// (Grpc-Metadata-Authorization, which grpc-gateway turns into metadata)
// or the Connect protocol's (Connect-, Trailer-), or an HTTP/1.1 request
// trailer, which arrives after the body, authenticate no one: a public
// method serves the call as anonymous, over HTTP/1.1 and HTTP/2, in every
// protocol the server speaks there, from a connect-go server with the
// Interceptor and from a grpc-go server behind vanguard. (An HTTP/2
// request trailer named Authorization never reaches a handler: net/http
// refuses the stream, RFC 9110 §6.5.1.)
func TestConnect_CredentialsComeOnlyFromTheAuthorizationHeader(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + f.token(t, "test:read", "test:write")
	for sname, h := range map[string]http.Handler{
		"connect-go": connectMux(f),
		"vanguard":   vanguardHandler(t, grpcServer(f)),
	} {
		// HTTP/1.1 on loopback is plaintext but local: tokens are accepted.
		eachHTTPAndProtocol(t, h, nil, func(name string, srv *httptest.Server, opts []connect.ClientOption) {
			for _, where := range []string{"header", "query", "cookie", "prefixed header", "trailer"} {
				if where == "trailer" && srv.TLS != nil {
					continue
				}
				name := sname + "/" + name + "/" + where
				hc := &http.Client{Transport: srv.Client().Transport}
				if where != "header" {
					hc.Transport = elsewhere{base: hc.Transport, where: where}
				}
				req := connect.NewRequest(&authtestv1.PublicRequest{})
				req.Header().Set("Authorization", auth)
				res, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](hc, srv.URL+"/authtest.v1.TestService/Public", opts...).CallUnary(t.Context(), req)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if got, want := res.Msg.GetCaller().GetAuthenticated(), where == "header"; got != want {
					t.Errorf("%s: authenticated = %v, want %v", name, got, want)
				}
			}
		})
	}
}

// eachHTTPAndProtocol serves h on loopback over HTTP/1.1 (plaintext) and
// HTTP/2 (TLS), with errorLog, when not nil, as the servers' ErrorLog, and
// calls fn with each server and the client options of each protocol it
// speaks (gRPC needs HTTP/2), named for the pair.
func eachHTTPAndProtocol(t *testing.T, h http.Handler, errorLog io.Writer, fn func(name string, srv *httptest.Server, opts []connect.ClientOption)) {
	t.Helper()
	h1, h2 := httptest.NewUnstartedServer(h), httptest.NewUnstartedServer(h)
	h2.EnableHTTP2 = true
	if errorLog != nil {
		h1.Config.ErrorLog = log.New(errorLog, "", 0)
		h2.Config.ErrorLog = log.New(errorLog, "", 0)
	}
	h1.Start()
	t.Cleanup(h1.Close)
	h2.StartTLS()
	t.Cleanup(h2.Close)
	for _, srv := range []*httptest.Server{h1, h2} {
		for pname, opts := range protocols {
			if pname == "grpc" && srv.TLS == nil {
				continue // gRPC needs HTTP/2
			}
			fn(fmt.Sprintf("HTTP2=%v/%s", srv.TLS != nil, pname), srv, opts)
		}
	}
}

// A streaming handler's grpc.SetHeader and grpc.SetTrailer cannot set the
// protocols' own response headers, as behind grpc-go, whose transport
// drops its reserved keys, and as connect-go keeps them out of a unary
// handler's headers: a handler that forwards its incoming metadata (every
// request header: Content-Length, Content-Type, Te, the encodings and the
// pseudo-headers) still sends a response the client reads, with one
// Content-Type, and its own keys arrive. Written as they were, the
// caller's Content-Length declared the length of the response body, which
// the client then cut short, and in the gRPC protocol net/http logged
// "ignoring invalid trailer" for each call. The handler also forwards its
// incoming metadata as trailers: in gRPC, whose trailers are HTTP
// trailers, those net/http forbids there (Authorization, WWW-Authenticate,
// Cache-Control, If-None-Match) are left out, where net/http logged a line
// for each on every call, which any caller could repeat; Connect and
// gRPC-Web, which carry trailers in the body, deliver them. A value that
// is no HTTP field value (a control character) is left out, as net/http
// leaves it out of an HTTP/2 response, where it broke the whole HTTP/1.1
// response ("malformed MIME header line" in the client).
func TestConnect_StreamMetadataCannotSetTheProtocolsHeaders(t *testing.T) {
	f := newFixture(t)
	const procedure = "/authtest.v1.TestService/ServerStream"
	h := connectauth.WrapHandler(connect.NewServerStreamHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			in, _ := metadata.FromIncomingContext(ctx)
			if err := grpc.SetHeader(ctx, metadata.Join(in, metadata.Pairs("x-handler", "header", "x-ctl", "a\x00b"))); err != nil {
				return err
			}
			if err := grpc.SetTrailer(ctx, metadata.Join(in, metadata.Pairs("content-type", "text/html", "content-length", "1", "grpc-status", "13",
				"grpc-message", "from the handler", "te", "trailers", "www-authenticate", "Bearer", "x-handler-trailer", "trailer"))); err != nil {
				return err
			}
			return ss.Send(&authtestv1.ServerStreamResponse{})
		},
		connect.WithSchema(method("TestService", "ServerStream")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth))))
	var errorLog syncBuffer
	eachHTTPAndProtocol(t, h, &errorLog, func(name string, srv *httptest.Server, opts []connect.ClientOption) {
		req := connect.NewRequest(&authtestv1.ServerStreamRequest{})
		req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
		req.Header().Set("Cache-Control", "no-cache")
		req.Header().Set("If-None-Match", `"x"`)
		stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+procedure, opts...).CallServerStream(t.Context(), req)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		n := 0
		for stream.Receive() {
			n++
		}
		if err := stream.Err(); err != nil || n != 1 {
			t.Errorf("%s: %d messages, %v; want 1 and no error", name, n, err)
		}
		if got := stream.ResponseHeader().Values("Content-Type"); len(got) != 1 {
			t.Errorf("%s: Content-Type %q, want the protocol's alone", name, got)
		}
		if got := stream.ResponseHeader().Get("X-Handler"); got != "header" {
			t.Errorf("%s: X-Handler = %q, want the handler's header", name, got)
		}
		if got := stream.ResponseTrailer().Get("X-Handler-Trailer"); got != "trailer" {
			t.Errorf("%s: X-Handler-Trailer = %q, want the handler's trailer", name, got)
		}
		if got, ok := stream.ResponseHeader()["X-Ctl"]; ok {
			t.Errorf("%s: X-Ctl = %q, want a value that is no HTTP field value left out", name, got)
		}
		if got := stream.ResponseTrailer().Get("Www-Authenticate"); got != "Bearer" && !strings.HasSuffix(name, "/grpc") {
			t.Errorf("%s: WWW-Authenticate trailer = %q, want the handler's (only gRPC's HTTP trailers cannot carry it)", name, got)
		}
		stream.Close()
	})
	if s := errorLog.String(); s != "" {
		t.Errorf("the server logged %q", s)
	}
}

// Binary metadata (a key ending in "-bin") travels in base64 and is bytes
// in the handler, as behind grpc-go, in every protocol over HTTP/1.1 and
// HTTP/2: a request's binary header is decoded in the incoming metadata
// (padded or not; a value that is not base64, in the URL-safe alphabet
// too, is left out, where grpc-go refuses the call), and what a handler sets with grpc.SetHeader goes to
// the caller encoded, as connect.DecodeBinaryHeader reads it. Before, the
// handler read the base64 text, and its bytes went out raw, which made no
// valid header value: net/http dropped it from an HTTP/2 response and
// wrote it into an HTTP/1.1 one, whose client then failed on a malformed
// header line.
func TestConnect_BinaryMetadataIsBytesInTheHandlerAndBase64OnTheWire(t *testing.T) {
	f := newFixture(t)
	const procedure = "/authtest.v1.TestService/Public"
	raw := "\x00\n\xff-bytes"
	h := connectauth.WrapHandler(connect.NewUnaryHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			in, _ := metadata.FromIncomingContext(ctx)
			if got := in["x-echo-bin"]; !slices.Equal(got, []string{raw, "xy"}) {
				return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("x-echo-bin = %q in the handler", got))
			}
			if got, ok := in["x-bad-bin"]; ok {
				return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("x-bad-bin = %q in the handler", got))
			}
			if err := grpc.SetHeader(ctx, metadata.Pairs("x-raw-bin", raw)); err != nil {
				return nil, err
			}
			return connect.NewResponse(&authtestv1.PublicResponse{}), nil
		},
		connect.WithSchema(method("TestService", "Public")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth))))
	eachHTTPAndProtocol(t, h, nil, func(name string, srv *httptest.Server, opts []connect.ClientOption) {
		req := connect.NewRequest(&authtestv1.PublicRequest{})
		req.Header().Add("X-Echo-Bin", connect.EncodeBinaryHeader([]byte(raw)))
		req.Header().Add("X-Echo-Bin", base64.StdEncoding.EncodeToString([]byte("xy"))) // padded
		req.Header().Set("X-Bad-Bin", "not base64!")
		req.Header().Add("X-Bad-Bin", base64.RawURLEncoding.EncodeToString([]byte("\xfb\xff"))) // "-_8": grpc-go reads only the standard alphabet
		res, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+procedure, opts...).CallUnary(t.Context(), req)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		got, err := connect.DecodeBinaryHeader(res.Header().Get("X-Raw-Bin"))
		if err != nil || string(got) != raw {
			t.Errorf("%s: X-Raw-Bin = %q (%q, %v), want %q in base64", name, res.Header().Get("X-Raw-Bin"), got, err, raw)
		}
	})
}

// A unary handler's grpc.SetTrailer goes to the call's trailers and its
// grpc.SetHeader to its headers, as behind grpc-go, in every protocol over
// HTTP/1.1 and HTTP/2, with a response and with an error alike; before,
// both went to the headers, where a client that reads the trailers
// (grpc.Trailer, connect.Response.Trailer) did not find the trailer.
func TestConnect_UnaryTrailerSetThroughTheContextIsATrailer(t *testing.T) {
	f := newFixture(t)
	const procedure = "/authtest.v1.TestService/Public"
	h := connectauth.WrapHandler(connect.NewUnaryHandler(procedure,
		func(ctx context.Context, req *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			if err := grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t")); err != nil {
				return nil, err
			}
			if err := grpc.SetHeader(ctx, metadata.Pairs("x-header", "h")); err != nil {
				return nil, err
			}
			if req.Header().Get("X-Fail") != "" {
				return nil, connect.NewError(connect.CodeAborted, errors.New("handler failed"))
			}
			return connect.NewResponse(&authtestv1.PublicResponse{}), nil
		},
		connect.WithSchema(method("TestService", "Public")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth))))
	eachHTTPAndProtocol(t, h, nil, func(name string, srv *httptest.Server, opts []connect.ClientOption) {
		client := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+procedure, opts...)
		res, err := client.CallUnary(t.Context(), connect.NewRequest(&authtestv1.PublicRequest{}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Header().Get("X-Header") != "h" || res.Trailer().Get("X-Trailer") != "t" || res.Header().Get("X-Trailer") != "" {
			t.Errorf("%s: headers %q, trailers %q; want X-Header in the headers, X-Trailer in the trailers", name, res.Header(), res.Trailer())
		}
		req := connect.NewRequest(&authtestv1.PublicRequest{})
		req.Header().Set("X-Fail", "1")
		_, err = client.CallUnary(t.Context(), req)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Meta().Get("X-Trailer") != "t" || ce.Meta().Get("X-Header") != "h" {
			t.Errorf("%s: %v; want the handler's error with its trailer", name, err)
		}
	})
}

// The incoming metadata a handler reads holds no key that grpc-go's
// transport keeps from handlers (te, grpc-timeout, grpc-encoding,
// grpc-status, grpc-message, grpc-message-type), nor the Connect
// protocol's counterparts (Connect-Timeout-Ms, which connect-go turns
// into the context's deadline as grpc-go does grpc-timeout;
// Content-Encoding and Connect-Content-Encoding), nor the body's
// Content-Length, nor the Host that connect-go sets on every request (the
// request's host is the :authority, as behind grpc-go, whose server hands
// no handler a host key), in every protocol over HTTP/1.1 and HTTP/2: a
// handler that forwards its incoming metadata to another call no longer
// hands on the caller's timeout, encoding, body length, "te: trailers" or
// the host the caller named as plain metadata, which a backend behind
// grpc.Server.ServeHTTP read as its "host" beside its own :authority. It
// keeps what grpc-go keeps: user-agent, content-type and the caller's own
// keys. Before, every request header reached the handler.
func TestConnect_IncomingMetadataLeavesOutTheProtocolsReservedKeys(t *testing.T) {
	f := newFixture(t)
	const unary, stream = "/authtest.v1.TestService/Public", "/authtest.v1.TestService/ServerStream"
	reserved := []string{"te", "grpc-timeout", "grpc-encoding", "grpc-status", "grpc-message", "grpc-message-type",
		"connect-timeout-ms", "content-encoding", "connect-content-encoding", "content-length", "host"}
	check := func(ctx context.Context) error {
		in, _ := metadata.FromIncomingContext(ctx)
		for _, k := range reserved {
			if v, ok := in[k]; ok {
				return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s = %q in the handler", k, v))
			}
		}
		if len(in[":authority"]) != 1 {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(":authority = %q in the handler, want the request's host", in[":authority"]))
		}
		for _, k := range []string{"user-agent", "content-type", "x-caller"} {
			if len(in[k]) == 0 {
				return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("no %s in the handler", k))
			}
		}
		if _, ok := ctx.Deadline(); !ok {
			return connect.NewError(connect.CodeInvalidArgument, errors.New("the caller's timeout is not the context's deadline"))
		}
		return nil
	}
	opts := func(name string) []connect.HandlerOption {
		return []connect.HandlerOption{connect.WithSchema(method("TestService", name)), connect.WithInterceptors(connectauth.NewInterceptor(f.auth))}
	}
	mux := http.NewServeMux()
	mux.Handle(unary, connect.NewUnaryHandler(unary,
		func(ctx context.Context, _ *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return connect.NewResponse(&authtestv1.PublicResponse{}), nil
		}, opts("Public")...))
	mux.Handle(stream, connect.NewServerStreamHandler(stream,
		func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], _ *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			return check(ctx)
		}, opts("ServerStream")...))
	eachHTTPAndProtocol(t, connectauth.WrapHandler(mux), nil, func(name string, srv *httptest.Server, opts []connect.ClientOption) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour) // sent as grpc-timeout or connect-timeout-ms
		defer cancel()
		header := func(h http.Header) {
			h.Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
			h.Set("X-Caller", "mine")
			if !strings.HasSuffix(name, "/grpc") { // the gRPC client sends it itself (set twice, the stream was answered 400)
				h.Set("Te", "trailers")
			}
			for _, k := range []string{"Grpc-Status", "Grpc-Message", "Grpc-Message-Type"} {
				h.Set(k, "from the caller")
			}
		}
		opts = append([]connect.ClientOption{connect.WithSendGzip()}, opts...) // sent as grpc-encoding, content-encoding or connect-content-encoding
		req := connect.NewRequest(&authtestv1.PublicRequest{})
		header(req.Header())
		if _, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+unary, opts...).CallUnary(ctx, req); err != nil {
			t.Errorf("%s unary: %v", name, err)
		}
		sreq := connect.NewRequest(&authtestv1.ServerStreamRequest{})
		header(sreq.Header())
		ss, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](srv.Client(), srv.URL+stream, opts...).CallServerStream(ctx, sreq)
		if err != nil {
			t.Errorf("%s stream: %v", name, err)
			return
		}
		for ss.Receive() {
		}
		if err := ss.Err(); err != nil {
			t.Errorf("%s stream: %v", name, err)
		}
		ss.Close()
	})
}

// A handler that forwards its incoming metadata through a grpc-go client
// (metadata.NewOutgoingContext) serves an HTTP/1.1 caller whose request
// carries connection headers (Connection: keep-alive, as browsers send,
// Keep-Alive, Proxy-Connection, Upgrade) and a Content-Length, in every
// protocol, whether the backend is a grpc-go server or one on net/http
// (connect-go; vanguard and grpc.Server.ServeHTTP alike): neither is
// incoming metadata, as behind grpc-go, where HTTP/2 forbids the first
// and grpc-go's clients never send the second. Before, they were, the grpc-go
// client sent them on, and the backend refused the stream, which the
// caller got as Internal: grpc-go as malformed ("connection"), net/http
// (PROTOCOL_ERROR) because the caller's Content-Length was not the length
// of the handler's request.
func TestConnect_ForwardedMetadataOfAnHTTP1CallerReachesAGRPCBackend(t *testing.T) {
	f := newFixture(t)
	netHTTPBackend := serveTLS(t, connectMux(f))
	netHTTPConn, err := grpc.NewClient(strings.TrimPrefix(netHTTPBackend.URL, "https://"),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: rootsOf(netHTTPBackend)})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netHTTPConn.Close() })
	backends := map[string]authtestv1.TestServiceClient{
		"grpc-go":               authtestv1.NewTestServiceClient(grpcReference(t, f)),
		"connect-go (net/http)": authtestv1.NewTestServiceClient(netHTTPConn),
	}
	const procedure = "/authtest.v1.TestService/Public"
	h := connectauth.WrapHandler(connect.NewUnaryHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			in, _ := metadata.FromIncomingContext(ctx)
			// The caller's grpc-accept-encoding (gzip) would make the
			// connect-go backend compress for a client that reads no
			// gzip: behind grpc-go, which hands it to handlers too, a
			// forwarding handler must leave it out as well.
			in = in.Copy()
			delete(in, "grpc-accept-encoding")
			var res *authtestv1.PublicResponse
			for name, backend := range backends {
				var err error
				if res, err = backend.Public(metadata.NewOutgoingContext(ctx, in), &authtestv1.PublicRequest{}); err != nil {
					return nil, connect.NewError(connect.CodeAborted, fmt.Errorf("the %s backend: %w", name, err))
				}
			}
			for _, k := range []string{"connection", "keep-alive", "proxy-connection", "upgrade"} {
				if v, ok := in[k]; ok {
					return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s = %q in the handler", k, v))
				}
			}
			return connect.NewResponse(res), nil
		},
		connect.WithSchema(method("TestService", "Public")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth))))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for pname, opts := range protocols {
		req := connect.NewRequest(&authtestv1.PublicRequest{})
		req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read"))
		req.Header().Set("Connection", "keep-alive")
		req.Header().Set("Keep-Alive", "timeout=5")
		req.Header().Set("Proxy-Connection", "keep-alive")
		req.Header().Set("Upgrade", "websocket")
		res, err := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+procedure, opts...).CallUnary(t.Context(), req)
		if err != nil {
			t.Errorf("%s over HTTP/1.1: %v", pname, err)
			continue
		}
		if !res.Msg.GetCaller().GetAuthenticated() {
			t.Errorf("%s over HTTP/1.1: the backend saw no caller in the forwarded metadata", pname)
		}
	}
}

// rootsOf returns a pool that trusts srv's TLS certificate, for a grpc-go
// client of srv.
func rootsOf(srv *httptest.Server) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool
}
