package connectauth_test

// Tests found by a hand-run mutation test of the package: each holds a
// check that could otherwise be removed without any test failing.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// remoteAs stands for a middleware that sets RemoteAddr, as a
// proxy-header middleware does from a header any client can send.
func remoteAs(remote string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = remote
		h.ServeHTTP(w, r)
	})
}

var allOfWithScopes = call{method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}}

// The calls of an h2c connection reach a WrapHandler inside h2c.NewHandler
// as requests of their own, but on the connection the outer WrapHandler
// saw: a middleware between h2c and the inner WrapHandler that rewrites
// RemoteAddr does not change the peer the transport policy judges (here a
// plaintext loopback caller, who stays local).
func TestConnect_H2CCallKeepsTheOuterConnectionsRemoteAddress(t *testing.T) {
	f := newFixture(t)
	inner := remoteAs("192.0.2.7:40000", connectauth.WrapHandler(connectHandlers(f)))
	srv := httptest.NewServer(connectauth.WrapHandler(h2c.NewHandler(inner, &http2.Server{})))
	t.Cleanup(srv.Close)
	if o, authenticated := viaConnect(t, f, h2cPriorKnowledgeClient(), srv.URL, nil, allOfWithScopes); o.code != codes.OK || !authenticated {
		t.Fatalf("got %v %q, want OK for the loopback connection", o.code, o.reason)
	}
}

// withUpgradeH2C sends every request with an Upgrade to h2c.
type withUpgradeH2C struct{ rt http.RoundTripper }

func (u withUpgradeH2C) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Upgrade", "h2c")
	return u.rt.RoundTrip(r)
}

// A request that asks for an Upgrade to h2c but whose connection no
// handler could take over (Hijack failed) is no handoff: a middleware that
// then presents it as HTTP/2 with another host does not change what a
// DPoP proof must name for a WrapHandler inside, the request the client
// made.
func TestConnect_FailedHijackIsNoH2CHandoff(t *testing.T) {
	auth, key, tok := dpopFixture(t, dpop.Config{})
	inner := connectauth.WrapHandler(connectHandlers(&fixture{auth: auth}))
	outer := connectauth.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := http.NewResponseController(w).Hijack(); err == nil {
			t.Error("the recorder's connection was taken over")
			return
		}
		r.Proto, r.ProtoMajor, r.ProtoMinor, r.Host = "HTTP/2.0", 2, 0, "elsewhere.example"
		inner.ServeHTTP(w, r)
	}))
	hc := &http.Client{Transport: withUpgradeH2C{fromAnotherHost{h: outer, remote: "127.0.0.1:40000"}}}
	dpopCallIsServed(t, hc, "http://api.example/authtest.v1.TestService/AllOf", key, tok)
}

// A WrapHandler inside another judges by its own request only the HTTP/2
// calls of a connection handed over to h2c: an HTTP/1.1 request that
// reaches it after a handler took the connection over (here one that
// serves the request itself, made an RPC's by its Content-Type: the outer
// WrapHandler hands no unjudged RPC request's connection over) is judged
// as the outer saw it, whatever a middleware made of its host: a DPoP
// proof names the request the client made.
func TestConnect_HTTP1RequestAfterAHijackIsJudgedAsTheOuterSawIt(t *testing.T) {
	auth, key, tok := dpopFixture(t, dpop.Config{})
	inner := connectauth.WrapHandler(connectHandlers(&fixture{auth: auth}))
	srv := httptest.NewServer(connectauth.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		r.Host = "elsewhere.example"
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		res := rec.Result()
		res.Close = true
		if err := res.Write(conn); err != nil {
			t.Error(err)
		}
	})))
	t.Cleanup(srv.Close)
	const procedure = "/authtest.v1.TestService/AllOf"
	proof, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: srv.URL + procedure, AccessToken: tok})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"+
		"Authorization: DPoP %s\r\nDPoP: %s\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
		procedure, srv.Listener.Addr(), tok, proof)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"authenticated":true`) {
		t.Fatalf("status %d, body %s: want 200 with the caller authenticated", res.StatusCode, body)
	}
}

// Only a request of HTTP/2 itself is h2c's preface: "PRI *" without
// headers in HTTP/1.1 is no handoff.
func TestH2CHandoff_PrefaceIsHTTP2Only(t *testing.T) {
	r := httptest.NewRequest("PRI", "*", nil)
	r.Header = http.Header{}
	if connectauth.H2CHandoff(r) {
		t.Fatal("an HTTP/1.1 PRI * request counts as h2c's preface")
	}
}

// A unary handler's grpc.SetTrailer in the gRPC protocol, whose trailers
// are HTTP trailers, leaves out the names net/http forbids there
// (Cache-Control, If-Match), with a response and with an error alike:
// net/http would drop them and log a line for each on every call. Its
// other trailers arrive.
func TestConnect_UnaryGRPCTrailersLeaveOutNamesNetHTTPForbids(t *testing.T) {
	f := newFixture(t)
	const procedure = "/authtest.v1.TestService/Public"
	h := connect.NewUnaryHandler(procedure,
		func(ctx context.Context, req *connect.Request[authtestv1.PublicRequest]) (*connect.Response[authtestv1.PublicResponse], error) {
			if err := grpc.SetTrailer(ctx, metadata.Pairs("cache-control", "no-store", "if-match", "x", "x-trailer", "t")); err != nil {
				return nil, err
			}
			if req.Header().Get("X-Fail") != "" {
				return nil, connect.NewError(connect.CodeAborted, errors.New("handler failed"))
			}
			return connect.NewResponse(&authtestv1.PublicResponse{}), nil
		},
		connect.WithSchema(method("TestService", "Public")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth)))
	srv, errorLog := loggedTLSServer(t, connectauth.WrapHandler(h))
	client := connect.NewClient[authtestv1.PublicRequest, authtestv1.PublicResponse](srv.Client(), srv.URL+procedure, protocols["grpc"]...)
	res, err := client.CallUnary(t.Context(), connect.NewRequest(&authtestv1.PublicRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Trailer().Get("X-Trailer") != "t" {
		t.Errorf("trailers %q, want X-Trailer", res.Trailer())
	}
	req := connect.NewRequest(&authtestv1.PublicRequest{})
	req.Header().Set("X-Fail", "1")
	if _, err := client.CallUnary(t.Context(), req); connect.CodeOf(err) != connect.CodeAborted {
		t.Errorf("got %v, want the handler's error", err)
	}
	if s := errorLog.String(); s != "" {
		t.Errorf("the server logged %q", s)
	}
}

// Once a received message failed the condition, the handler's next
// Receive fails at once with the refusal: it does not wait for the
// client's next message or the end of its requests (here the client sends
// nothing more and waits for the response).
func TestConnect_ReceiveAfterARefusedMessageFailsAtOnce(t *testing.T) {
	iss, auth := conditionAuth(t)
	const path = "/authtest.v1.ConditionService/OwnBidiStream"
	mux := http.NewServeMux()
	mux.Handle(path, connect.NewBidiStreamHandler(path,
		func(ctx context.Context, s *connect.BidiStream[authtestv1.OwnBidiStreamRequest, authtestv1.OwnBidiStreamResponse]) error {
			if _, err := s.Receive(); err == nil {
				return errors.New("the refused message reached the handler")
			}
			_, err := s.Receive()
			return err
		}, conditionOptions(auth, "OwnBidiStream")...))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	tok := aliceWriter(t, iss)
	for _, pname := range []string{"connect", "grpc"} { // gRPC-Web has no bidi streams
		t.Run(pname, func(t *testing.T) {
			// The deadline only ends a test that would otherwise hang.
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			stream := connect.NewClient[authtestv1.OwnBidiStreamRequest, authtestv1.OwnBidiStreamResponse](srv.Client(), srv.URL+path, protocols[pname]...).CallBidiStream(ctx)
			stream.RequestHeader().Set("Authorization", "Bearer "+tok)
			if err := stream.Send(&authtestv1.OwnBidiStreamRequest{Owner: "bob"}); err != nil {
				t.Fatal(err)
			}
			_, err := stream.Receive()
			if got := connectOutcome(err); got != (outcome{codes.PermissionDenied, grpcauth.ReasonConditionFailed}) {
				t.Fatalf("got %v %q (%v), want %s", got.code, got.reason, err, grpcauth.ReasonConditionFailed)
			}
			_ = stream.CloseRequest()
			_ = stream.CloseResponse()
		})
	}
}

// A stream admitted with a proof whose nonce is about to be replaced gets
// the fresh DPoP-Nonce in its response headers, in every protocol, as over
// grpc-go.
func TestConnect_StreamAdmissionCarriesAFreshDPoPNonce(t *testing.T) {
	f := configFixture(t, grpcauth.Config{DPoP: dpop.Config{Nonces: twoNonces{}}})
	key, tok := dpopBoundToken(t, f.iss, "test:read", "test:stream")
	srv := serveTLS(t, connectauth.WrapHandler(connectHandlers(f)))
	url := srv.URL + "/authtest.v1.TestService/ServerStream"
	for pname, opts := range protocols {
		t.Run(pname, func(t *testing.T) {
			proof, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: url, AccessToken: tok, Nonce: "old"})
			if err != nil {
				t.Fatal(err)
			}
			req := connect.NewRequest(&authtestv1.ServerStreamRequest{Count: 1})
			req.Header().Set("Authorization", "DPoP "+tok)
			req.Header().Set("DPoP", proof)
			stream := streamToTheEnd(t, srv.Client(), url, opts, req)
			if got := stream.ResponseHeader().Values("Dpop-Nonce"); len(got) != 1 || got[0] != "fresh" {
				t.Fatalf("DPoP-Nonce %q, want [fresh]", got)
			}
		})
	}
}

// What a stream handler sets with grpc.SetHeader goes out with the
// response headers also when it sends no message, in every protocol, as
// behind grpc-go: at the stream's end.
func TestConnect_StreamHeaderSetThroughTheContextGoesOutWithoutAMessage(t *testing.T) {
	eachServerStream(t, func(ctx context.Context, _ *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
		return grpc.SetHeader(ctx, metadata.Pairs("x-header", "h"))
	}, func(t *testing.T, stream *connect.ServerStreamForClient[authtestv1.ServerStreamResponse]) {
		if got := stream.ResponseHeader().Get("X-Header"); got != "h" {
			t.Fatalf("X-Header %q (headers %q, trailers %q), want h", got, stream.ResponseHeader(), stream.ResponseTrailer())
		}
	})
}

// eachServerStream serves ServerStream with handler behind an Interceptor,
// and, over HTTP/1.1 and HTTP/2 in each protocol, calls it with a token for its scopes, receives it
// to the end and hands it to check.
func eachServerStream(t *testing.T, handler func(context.Context, *connect.ServerStream[authtestv1.ServerStreamResponse]) error, check func(*testing.T, *connect.ServerStreamForClient[authtestv1.ServerStreamResponse])) {
	t.Helper()
	f := newFixture(t)
	const procedure = "/authtest.v1.TestService/ServerStream"
	h := connect.NewServerStreamHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			return handler(ctx, ss)
		},
		connect.WithSchema(method("TestService", "ServerStream")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth)))
	eachHTTPAndProtocol(t, connectauth.WrapHandler(h), nil, func(name string, srv *httptest.Server, opts []connect.ClientOption) {
		t.Run(name, func(t *testing.T) {
			req := connect.NewRequest(&authtestv1.ServerStreamRequest{})
			req.Header().Set("Authorization", "Bearer "+f.token(t, "test:read", "test:stream"))
			check(t, streamToTheEnd(t, srv.Client(), srv.URL+procedure, opts, req))
		})
	})
}

// streamToTheEnd calls the server stream at url with req and receives
// every message, requiring the stream to end without an error, and returns
// it, closed with the test, for its response headers and trailers.
func streamToTheEnd(t *testing.T, hc *http.Client, url string, opts []connect.ClientOption, req *connect.Request[authtestv1.ServerStreamRequest]) *connect.ServerStreamForClient[authtestv1.ServerStreamResponse] {
	t.Helper()
	stream, err := connect.NewClient[authtestv1.ServerStreamRequest, authtestv1.ServerStreamResponse](hc, url, opts...).CallServerStream(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Close() })
	for stream.Receive() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	return stream
}

// A stream handler's grpc.SetHeader and grpc.SetTrailer cannot set the
// protocols' own headers with a key in another case ("Content-Length" in
// a metadata.MD literal, which metadata.Join keeps as written), nor
// grpc-status-details-bin or Connect-Protocol-Version, nor a key that is
// no HTTP field name (a pseudo-header such as ":authority", "x y"), which
// the Connect protocol would otherwise carry in its end-of-stream message;
// a binary key in any case goes in base64, in every protocol. Its other
// keys arrive.
// handlerSetsProtocolKeys are protocol keys a stream handler sets as
// response headers, each to "handler-set", which must not reach the caller.
var handlerSetsProtocolKeys = []string{"host", "trailer", "date", "content-encoding", "accept-encoding", "connect-content-encoding",
	"connect-accept-encoding", "grpc-accept-encoding", "user-agent", "transfer-encoding"}

func TestConnect_StreamMetadataKeysInAnyCaseCannotSetTheProtocolsHeaders(t *testing.T) {
	eachServerStream(t, func(ctx context.Context, ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
		if err := grpc.SetHeader(ctx, metadata.MD{"Content-Length": {"1"}, "Connect-Protocol-Version": {"9"}, "X-Data-Bin": {"\x00\x01"}, "x-header": {"h"}}); err != nil {
			return err
		}
		for _, k := range handlerSetsProtocolKeys {
			if err := grpc.SetHeader(ctx, metadata.Pairs(k, "handler-set")); err != nil {
				return err
			}
		}
		if err := grpc.SetTrailer(ctx, metadata.MD{":authority": {"evil.example"}, "x y": {"1"}, "grpc-status-details-bin": {"junk"}, "x-trailer": {"t"}}); err != nil {
			return err
		}
		return ss.Send(&authtestv1.ServerStreamResponse{})
	}, func(t *testing.T, stream *connect.ServerStreamForClient[authtestv1.ServerStreamResponse]) {
		hdr, trl := stream.ResponseHeader(), stream.ResponseTrailer()
		if hdr.Get("X-Header") != "h" || trl.Get("X-Trailer") != "t" {
			t.Errorf("headers %q, trailers %q: want X-Header and X-Trailer", hdr, trl)
		}
		if b, err := connect.DecodeBinaryHeader(hdr.Get("X-Data-Bin")); err != nil || string(b) != "\x00\x01" {
			t.Errorf("X-Data-Bin %q (%v), want the bytes 0 1 in base64", hdr.Get("X-Data-Bin"), err)
		}
		for _, md := range []http.Header{hdr, trl} {
			for k, v := range md {
				switch strings.ToLower(k) {
				case ":authority", "x y", "grpc-status-details-bin", "connect-protocol-version":
					t.Errorf("the handler set %s: %q", k, v)
				case "content-length":
					if slices.Contains(v, "1") {
						t.Errorf("the handler set %s: %q", k, v)
					}
				}
				if slices.Contains(v, "handler-set") {
					t.Errorf("the handler set %s: %q", k, v)
				}
			}
		}
	})
}

// CORS matches the Origin header byte for byte: an origin that merely
// starts with an allowed one (another host under it, another port, the
// same name with a trailing dot, which a browser treats as another
// origin), spells it in a way no browser sends for it (another case, the
// default port, a trailing "/"), names it among others, or is "null" (a
// sandboxed frame of the allowed page, a redirect) gets no CORS headers.
func TestCORS_OriginMatchesExactly(t *testing.T) {
	h := connectauth.CORS(http.NotFoundHandler(), "https://app.example.com")
	for _, origin := range []string{"https://app.example.com.evil.example", "https://app.example.com:8443", "HTTPS://APP.EXAMPLE.COM",
		// another origin (a trailing dot), or spellings no browser sends
		"https://app.example.com.", "https://app.example.com:443", "https://app.example.com/", "null",
		"https://app.example.com https://evil.example", "https://app.example.com, https://evil.example"} {
		for _, rec := range []*httptest.ResponseRecorder{preflight(h, origin), corsRequest(h, http.MethodPost, origin, nil)} {
			if got := rec.Header().Values("Access-Control-Allow-Origin"); len(got) != 0 {
				t.Errorf("Origin %q: Access-Control-Allow-Origin %q, want none", origin, got)
			}
		}
	}
	if got := preflight(h, "https://app.example.com").Header().Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Fatalf("the allowed origin: Access-Control-Allow-Origin %q", got)
	}
}

// corsRequest sends h a request with method from origin, with hdr, and
// returns the response.
func corsRequest(h http.Handler, method, origin string, hdr http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/items.v1.ItemsService/ListItems", nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Origin", origin)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Only an OPTIONS request with Access-Control-Request-Method is a
// preflight: a POST that carries the header (which no page can set) is a
// request like any other, served by the handler.
func TestCORS_OnlyOptionsIsAPreflight(t *testing.T) {
	h := connectauth.CORS(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}), "https://app.example.com")
	rec := corsRequest(h, http.MethodPost, "https://app.example.com", http.Header{"Access-Control-Request-Method": {"POST"}})
	if rec.Code != http.StatusTeapot || rec.Header().Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("status %d, headers %q: want the handler's response", rec.Code, rec.Header())
	}
}

// A preflight's answer varies with the Origin, Access-Control-Request-Method
// and Access-Control-Request-Headers it was asked with, and says so, so
// that no cache hands one page's answer to another request.
func TestCORS_PreflightVariesWithWhatItWasAsked(t *testing.T) {
	h := connectauth.CORS(http.NotFoundHandler(), "https://app.example.com")
	vary := preflight(h, "https://app.example.com").Header().Values("Vary")
	for _, want := range []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"} {
		if !slices.Contains(vary, want) {
			t.Errorf("Vary %q, want %s", vary, want)
		}
	}
}

// A CORS response exposes each name a page must read as a name of its own
// (the list is compared name by name: DPoP-Nonce is not exposed by
// Trailer-DPoP-Nonce), and not Content-Encoding, which the browser decodes
// itself: a page that read it would decode the body twice.
func TestCORS_ExposesEachNameAPageReads(t *testing.T) {
	h := connectauth.CORS(http.NotFoundHandler(), "https://app.example.com")
	var exposed []string
	for _, name := range strings.Split(corsRequest(h, http.MethodPost, "https://app.example.com", nil).Header().Get("Access-Control-Expose-Headers"), ",") {
		exposed = append(exposed, http.CanonicalHeaderKey(strings.TrimSpace(name)))
	}
	for _, want := range []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin", "Www-Authenticate", "Dpop-Nonce", "Trailer-Www-Authenticate", "Trailer-Dpop-Nonce",
		"Connect-Content-Encoding", "Connect-Accept-Encoding", "Grpc-Encoding", "Grpc-Accept-Encoding"} {
		if !slices.Contains(exposed, want) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, want)
		}
	}
	if slices.Contains(exposed, "Content-Encoding") {
		t.Errorf("Access-Control-Expose-Headers %q exposes Content-Encoding", exposed)
	}
}

// NewCORS refuses more origins no browser sends, each for its own check:
// an empty query ("?"), a percent sign in the host, a host a browser reads
// as an IPv4 address in hex ("0x7f000001", a last label "0x1"); and TRACK
// among the methods, which browsers never send. A host name with a
// trailing dot, as a browser sends it, is no number and is allowed.
func TestNewCORS_RefusesWhatNoBrowserSends(t *testing.T) {
	for _, origin := range []string{"https://app.example.com?", "https://a%25b.example", "http://0x7f000001", "http://a.0x1"} {
		if h, err := connectauth.NewCORS(http.NotFoundHandler(), connectauth.CORSConfig{Origins: []string{origin}}); err == nil {
			t.Errorf("NewCORS(%q) = %v, want an error", origin, h)
		}
	}
	for _, m := range []string{"TRACK", "track"} {
		if h, err := connectauth.NewCORS(http.NotFoundHandler(), connectauth.CORSConfig{Origins: []string{"https://ok.example"}, AllowedMethods: []string{m}}); err == nil {
			t.Errorf("NewCORS with the method %q = %v, want an error", m, h)
		}
	}
	h, err := connectauth.NewCORS(http.NotFoundHandler(), connectauth.CORSConfig{Origins: []string{"https://app.example.com."}})
	if err != nil {
		t.Fatal(err)
	}
	if got := preflight(h, "https://app.example.com.").Header().Get("Access-Control-Allow-Origin"); got != "https://app.example.com." {
		t.Fatalf("Access-Control-Allow-Origin %q, want the name with its trailing dot", got)
	}
}

// A preflight's answer may be cached for two hours (Access-Control-Max-Age),
// so that a page does not send one before every call.
func TestCORS_PreflightMayBeCached(t *testing.T) {
	h := connectauth.CORS(http.NotFoundHandler(), "https://app.example.com")
	if got := preflight(h, "https://app.example.com").Header().Get("Access-Control-Max-Age"); got != "7200" {
		t.Fatalf("Access-Control-Max-Age %q, want 7200", got)
	}
}

// An Interceptor on a client (connect.WithInterceptors on connect.NewClient)
// does nothing: its calls are not judged by the rules, which are the
// server's (here a method without a rule, which the server serves).
func TestInterceptor_OnAClientDoesNothing(t *testing.T) {
	f := newFixture(t)
	const procedure = "/authtest.v1.UnannotatedService/Unannotated"
	srv := serveTLS(t, connect.NewUnaryHandler(procedure,
		func(context.Context, *connect.Request[authtestv1.UnannotatedRequest]) (*connect.Response[authtestv1.UnannotatedResponse], error) {
			return connect.NewResponse(&authtestv1.UnannotatedResponse{}), nil
		}))
	for pname, opts := range protocols {
		client := connect.NewClient[authtestv1.UnannotatedRequest, authtestv1.UnannotatedResponse](srv.Client(), srv.URL+procedure,
			append(opts, connect.WithSchema(method("UnannotatedService", "Unannotated")), connect.WithInterceptors(connectauth.NewInterceptor(f.auth)))...)
		if _, err := client.CallUnary(t.Context(), connect.NewRequest(&authtestv1.UnannotatedRequest{})); err != nil {
			t.Errorf("%s: %v, want the server's response", pname, err)
		}
	}
}

// A remote address that is no IP address and port (a Unix socket's peer,
// "@", as net/http sets it) is no loopback peer: without a Unix-socket
// listener address, a plaintext call from it is refused.
func TestConnect_UnparsableRemoteAddressIsNotLocal(t *testing.T) {
	f := newFixture(t)
	for _, remote := range []string{"@", ""} {
		hc := &http.Client{Transport: fromAnotherHost{h: connectMux(f), remote: remote}}
		if o, _ := viaConnect(t, f, hc, "http://api.example", nil, allOfWithScopes); o != (outcome{codes.Unauthenticated, grpcauth.ReasonTransportInsecure}) {
			t.Errorf("RemoteAddr %q: got %v %q, want Unauthenticated %q", remote, o.code, o.reason, grpcauth.ReasonTransportInsecure)
		}
	}
}
