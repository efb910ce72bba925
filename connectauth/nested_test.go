package connectauth_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// A WrapHandler nested in another (a handler that wraps itself, mounted in
// an application's outermost WrapHandler) keeps the connection the outer
// one saw: a middleware between the two that copies X-Forwarded-For into
// RemoteAddr does not make a plaintext caller from another host local, as
// it would if the inner WrapHandler judged the rewritten address.
func TestConnect_NestedWrapHandlerJudgesTheOuterConnection(t *testing.T) {
	f := newFixture(t)
	forwardedLoopbackIsRemote(t, f, connectauth.WrapHandler(forwardedFor(connectMux(f))))
}

// With a WrapHandler outside h2c.NewHandler too, each call of an h2c
// connection is judged by its own method, path and host: the calls'
// contexts derive from the connection's first request ("PRI *"), which the
// outer WrapHandler saw, and a DPoP proof for the call's POST and URL is
// accepted.
func TestConnect_WrapHandlerOutsideAndInsideH2CSeesEachCall(t *testing.T) {
	auth, key, tok := dpopFixture(t, dpop.Config{})
	inner := connectauth.WrapHandler(connectHandlers(&fixture{auth: auth}))
	srv := httptest.NewServer(connectauth.WrapHandler(h2c.NewHandler(inner, &http2.Server{})))
	t.Cleanup(srv.Close)
	hc := h2cPriorKnowledgeClient()
	for range 2 { // the connection's first call and a later one
		dpopCallIsServed(t, hc, srv.URL+"/authtest.v1.TestService/AllOf", key, tok)
	}
}

// h2cPriorKnowledgeClient returns a client that speaks HTTP/2 without TLS
// from the connection's start (h2c with prior knowledge).
func h2cPriorKnowledgeClient() *http.Client {
	return &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

// dpopCallIsServed calls AllOf at url with hc, with the DPoP-bound token
// tok and a proof by key for the call's POST and URL, and requires the
// handler to have served it with claims.
func dpopCallIsServed(t *testing.T, hc *http.Client, url string, key *grpcauthtest.DPoPKey, tok string) {
	t.Helper()
	proof, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: url, AccessToken: tok})
	if err != nil {
		t.Fatal(err)
	}
	req := connect.NewRequest(&authtestv1.AllOfRequest{})
	req.Header().Set("Authorization", "DPoP "+tok)
	req.Header().Set("DPoP", proof)
	res, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](hc, url).CallUnary(t.Context(), req)
	if err != nil {
		t.Fatalf("DPoP call: %v (%v)", err, connectOutcome(err))
	}
	if !res.Msg.GetCaller().GetAuthenticated() {
		t.Fatal("the call was served without claims")
	}
}

// A WrapHandler nested in another checks a DPoP proof against the request
// the outer one saw, the one the client made: a handler that wraps itself,
// mounted under http.StripPrefix("/api", …) in the application's
// WrapHandler, needs a proof for the path with "/api", as without the
// inner WrapHandler, and refuses one for the stripped path. An HTTP/1.1
// request that asks for an upgrade to h2c, which no h2c handler took (here
// there is none), changes none of this: only HTTP/2 calls of a connection
// handed over to h2c are judged by their own requests.
//
// Nor does a middleware between the two that presents an HTTP/1.1 request
// as HTTP/2, as vanguard does for a gRPC target: no handler took the
// connection over.
func TestConnect_NestedWrapHandlerChecksDPoPAgainstTheOuterRequest(t *testing.T) {
	t.Run("StripPrefix", func(t *testing.T) { nestedChecksDPoPAgainstTheOuterRequest(t, false) })
	t.Run("StripPrefix, presented as HTTP/2", func(t *testing.T) { nestedChecksDPoPAgainstTheOuterRequest(t, true) })
}

func nestedChecksDPoPAgainstTheOuterRequest(t *testing.T, asHTTP2 bool) {
	auth, key, tok := dpopFixture(t, dpop.Config{})
	inner := connectauth.WrapHandler(connectHandlers(&fixture{auth: auth}))
	if asHTTP2 {
		next := inner
		inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2", 2, 0 // as vanguard's transcoder does for a gRPC target
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", inner))
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	http1 := srv.Client().Transport.(*http.Transport).Clone() // an Upgrade header is HTTP/1.1's
	http1.Protocols = new(http.Protocols)
	http1.Protocols.SetHTTP1(true)
	http1.TLSClientConfig.NextProtos = nil
	t.Cleanup(http1.CloseIdleConnections)
	const procedure = "/authtest.v1.TestService/AllOf"
	for _, client := range []struct {
		name   string
		hc     *http.Client
		header http.Header
	}{
		{"HTTP/2", srv.Client(), nil},
		{"Upgrade: h2c", &http.Client{Transport: http1}, http.Header{"Upgrade": {"h2c"}}},
		{"Upgrade: h2c, HTTP2-Settings", &http.Client{Transport: http1}, http.Header{"Upgrade": {"h2c"}, "Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {""}}},
	} {
		for _, tc := range []struct {
			htuAt string // the path of the proof's htu
			want  outcome
		}{
			{"/api" + procedure, outcome{codes.OK, ""}},
			{procedure, outcome{codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid}},
		} {
			proof, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: srv.URL + tc.htuAt, AccessToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			req := connect.NewRequest(&authtestv1.AllOfRequest{})
			for k, v := range client.header {
				req.Header()[k] = v
			}
			req.Header().Set("Authorization", "DPoP "+tok)
			req.Header().Set("DPoP", proof)
			_, err = connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](client.hc, srv.URL+"/api"+procedure).CallUnary(t.Context(), req)
			if got := connectOutcome(err); got != tc.want {
				t.Errorf("%s, proof for %s: got %v %q (%v), want %v %q", client.name, tc.htuAt, got.code, got.reason, err, tc.want.code, tc.want.reason)
			}
		}
	}
}

// A server that speaks HTTP/2 without TLS itself (http.Server.Protocols,
// which replaces the deprecated h2c package and never reads an Upgrade
// request's body into memory) hands each call to the handler as a request
// of its own: one WrapHandler around it sees each call, and a DPoP proof
// for the call's POST and URL is accepted.
func TestConnect_UnencryptedHTTP2CallsAreEachJudgedByTheirRequest(t *testing.T) {
	auth, key, tok := dpopFixture(t, dpop.Config{})
	protos := make(chan string, 2)
	srv := httptest.NewUnstartedServer(connectauth.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.Proto
		connectHandlers(&fixture{auth: auth}).ServeHTTP(w, r)
	})))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	for range 2 { // the connection's first call and a later one
		dpopCallIsServed(t, &http.Client{Transport: tr}, srv.URL+"/authtest.v1.TestService/AllOf", key, tok)
		if p := <-protos; p != "HTTP/2.0" {
			t.Fatalf("the call came as %s, want HTTP/2.0", p)
		}
	}
}

// A connection upgraded to h2c from HTTP/1.1 (RFC 7540 section 3.2) is
// handed over too: behind an outer WrapHandler, whose request is the
// Upgrade (here a GET of /, no RPC), a later call of the connection is
// judged by its own request, and a DPoP proof for it is accepted. An RPC
// request that asks for the upgrade is not upgraded: the outer
// WrapHandler hands no handler the connection of a call not judged (a
// client could win it so for any handler that takes one), and drops its
// Upgrade, so that h2c serves it over HTTP/1.1 rather than answer 500.
func TestConnect_WrapHandlerOutsideAndInsideH2CUpgradeSeesEachCall(t *testing.T) {
	auth, key, tok := dpopFixture(t, dpop.Config{})
	inner := connectauth.WrapHandler(connectHandlers(&fixture{auth: auth}))
	srv := httptest.NewServer(connectauth.WrapHandler(h2c.NewHandler(inner, &http2.Server{})))
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()
	url := srv.URL + "/authtest.v1.TestService/AllOf"
	proof, err := key.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: url, AccessToken: tok})
	if err != nil {
		t.Fatal(err)
	}
	const upgrade = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n"
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /authtest.v1.TestService/Public HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", host, upgrade)
	if res, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || res.StatusCode != http.StatusOK || res.ProtoMajor != 1 {
		t.Fatalf("an RPC request's upgrade: %v, %v; want its answer over HTTP/1.1", res, err)
	}
	fr := h2cUpgrade(t, host, "GET / HTTP/1.1\r\nHost: "+host+"\r\n"+upgrade+"\r\n")
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", host}, {":path", "/authtest.v1.TestService/AllOf"},
		{"content-type", "application/json"}, {"content-length", "2"}, {"authorization", "DPoP " + tok}, {"dpop", proof},
	} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(fr.WriteSettings(),
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block.Bytes(), EndHeaders: true}),
		fr.WriteData(3, true, []byte("{}"))); err != nil {
		t.Fatal(err)
	}
	if f := h2cResponse(t, fr, 3); f.PseudoValue("status") != "200" {
		t.Fatalf("the second call's status %s (headers %v), want 200", f.PseudoValue("status"), f.RegularFields())
	}
}

// h2cUpgrade sends upgrade, an HTTP/1.1 request that asks for an Upgrade to
// h2c, to the server at host, and returns the framer of the HTTP/2
// connection it was upgraded to, past the client's preface. The
// connection closes with the test; a server that does not answer within a
// minute fails it.
func h2cUpgrade(t *testing.T, host, upgrade string) *http2.Framer {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, upgrade); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, br)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	return fr
}

// h2cResponse reads fr's frames, acknowledging the server's settings,
// until the response headers of stream id, and returns them.
func h2cResponse(t *testing.T, fr *http2.Framer, id uint32) *http2.MetaHeadersFrame {
	t.Helper()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading stream %d's response: %v", id, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					t.Fatal(err)
				}
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				return f
			}
		}
	}
}

// Only h2c's own preface request ("PRI *", no headers, HTTP/2.0) and an
// Upgrade to h2c mark a handoff; an HTTP/2 request with the method PRI and
// a path of its own is a request like any other.
func TestH2CHandoff_OnlyThePrefaceOrAnUpgrade(t *testing.T) {
	req := func(method, target, proto string, h http.Header) *http.Request {
		r := httptest.NewRequest(method, target, nil)
		r.Proto, r.ProtoMajor = proto, int(proto[5]-'0')
		r.Header = h
		return r
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		want bool
	}{
		{"h2c preface", req("PRI", "*", "HTTP/2.0", http.Header{}), true},
		{"Upgrade: h2c", req("GET", "/", "HTTP/1.1", http.Header{"Upgrade": {"h2c"}}), true},
		{"PRI with a path", req("PRI", "/api/authtest.v1.TestService/AllOf", "HTTP/2.0", http.Header{}), false},
		{"PRI * with headers", req("PRI", "*", "HTTP/2.0", http.Header{"Content-Type": {"application/proto"}}), false},
		{"POST", req("POST", "/api/authtest.v1.TestService/AllOf", "HTTP/2.0", http.Header{}), false},
	} {
		if got := connectauth.H2CHandoff(tc.r); got != tc.want {
			t.Errorf("%s: h2cHandoff = %v, want %v", tc.name, got, tc.want)
		}
	}
}
