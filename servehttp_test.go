package grpcauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// logLines is an http.Server's ErrorLog destination: each line it is
// given, kept while there is room.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}

// check fails t with each line l was given, if any.
func (l logLines) check(t *testing.T, what string) {
	t.Helper()
	for {
		select {
		case line := <-l:
			t.Errorf("%s: the server logged %q", what, line)
		default:
			return
		}
	}
}

// serveHTTP serves e's services behind e's interceptors through
// grpc.Server.ServeHTTP in a net/http server whose ErrorLog writes into
// the returned buffer: over TLS with HTTP/2, or with h2c (plaintext
// HTTP/2) when h2cMode. It returns a client of that server and the
// server's URL. Everything is closed by t.Cleanup.
func serveHTTPAt(t *testing.T, e *env, h2cMode bool) (authtestv1.TestServiceClient, logLines, string) {
	t.Helper()
	return serveHTTPBehind(t, e, h2cMode, nil)
}

// serveHTTPBehind is serveHTTPAt with the grpc.Server behind front, a
// handler made from it (a mux, an http.StripPrefix), unless front is nil.
func serveHTTPBehind(t *testing.T, e *env, h2cMode bool, front func(http.Handler) http.Handler) (authtestv1.TestServiceClient, logLines, string) {
	t.Helper()
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(e.auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(e.auth.StreamServerInterceptor()))
	authtestv1.RegisterTestServiceServer(srv, e.svc)
	t.Cleanup(srv.Stop)
	var h http.Handler = srv
	if front != nil {
		h = front(srv)
	}
	if h2cMode {
		h = h2c.NewHandler(h, &http2.Server{})
	}
	ts := httptest.NewUnstartedServer(h)
	errLog := make(logLines, 16)
	ts.Config.ErrorLog = log.New(errLog, "", 0)
	creds := insecure.NewCredentials()
	if h2cMode {
		ts.Start()
	} else {
		ts.EnableHTTP2 = true
		ts.StartTLS()
		roots := x509.NewCertPool()
		roots.AddCert(ts.Certificate())
		creds = credentials.NewTLS(&tls.Config{RootCAs: roots})
	}
	t.Cleanup(ts.Close)
	conn := dial(t, ts.Listener.Addr().String(), creds)
	return authtestv1.NewTestServiceClient(conn), errLog, ts.URL
}

// serveHTTP is serveHTTPAt without the URL.
func serveHTTP(t *testing.T, e *env, h2cMode bool) (authtestv1.TestServiceClient, logLines) {
	t.Helper()
	c, errLog, _ := serveHTTPAt(t, e, h2cMode)
	return c, errLog
}

// refusedMetadata calls Authenticated (unary) and ServerStream (a stream
// refused as it opens) on c with the authorization values auth, checks
// that both are refused as unauthenticated, and returns each call's
// www-authenticate header and trailer values.
func refusedMetadata(t *testing.T, c authtestv1.TestServiceClient, auth ...string) (unaryHeader, unaryTrailer, streamHeader, streamTrailer []string) {
	t.Helper()
	return refusedMetadataCtx(t, bounded(t), c, auth...)
}

// refusedMetadataCtx is refusedMetadata with the calls' context.
func refusedMetadataCtx(t *testing.T, ctx context.Context, c authtestv1.TestServiceClient, auth ...string) (unaryHeader, unaryTrailer, streamHeader, streamTrailer []string) {
	t.Helper()
	ctx = withAuth(ctx, auth...)
	var header, trailer metadata.MD
	_, err := c.Authenticated(ctx, &authtestv1.AuthenticatedRequest{}, grpc.Header(&header), grpc.Trailer(&trailer))
	if code := status.Code(err); code != codes.Unauthenticated {
		t.Fatalf("unary call: %v, want Unauthenticated", err)
	}
	unaryHeader, unaryTrailer = header.Get(MetadataWWWAuthenticate), trailer.Get(MetadataWWWAuthenticate)
	stream, err := c.ServerStream(ctx, &authtestv1.ServerStreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("stream: %v, want Unauthenticated", err)
	}
	header, err = stream.Header()
	if err != nil && status.Code(err) != codes.Unauthenticated {
		t.Fatalf("stream header: %v", err)
	}
	return unaryHeader, unaryTrailer, header.Get(MetadataWWWAuthenticate), stream.Trailer().Get(MetadataWWWAuthenticate)
}

// Under grpc.Server.ServeHTTP a refusal's www-authenticate challenge, which
// net/http refuses as a trailer (logging "ignoring invalid trailer" for
// every call), reaches the caller as a response header, with the value
// grpc-go's own transport sends as a trailer; that transport still sends
// it as a trailer.
func TestServeHTTP_ChallengeIsAResponseHeaderAndNothingIsLogged(t *testing.T) {
	e := newEnv(t)
	for _, auth := range [][]string{nil, {bearer("not-a-token")}} {
		_, unary, _, stream := refusedMetadata(t, e.client, auth...)
		if len(unary) == 0 || !slices.Equal(unary, stream) {
			t.Fatalf("native transport with %q: trailers %q and %q, want the same challenge", auth, unary, stream)
		}
		for _, h2cMode := range []bool{false, true} {
			c, errLog := serveHTTP(t, e, h2cMode)
			uh, ut, sh, st := refusedMetadata(t, c, auth...)
			if !slices.Equal(uh, unary) || !slices.Equal(sh, unary) || len(ut) != 0 || len(st) != 0 {
				t.Errorf("ServeHTTP (h2c %v) with %q: unary header %q trailer %q, stream header %q trailer %q; want headers %q, no trailers",
					h2cMode, auth, uh, ut, sh, st, unary)
			}
			errLog.check(t, fmt.Sprintf("ServeHTTP (h2c %v) with %q", h2cMode, auth))
		}
	}
}

// Under grpc.Server.ServeHTTP a stream cut after its response headers went
// out ends with ACCESS_TOKEN_EXPIRED but without the challenge, which
// net/http cannot send as a trailer: nothing is logged for it.
func TestServeHTTP_StreamCutAfterItsHeadersLogsNothing(t *testing.T) {
	for _, h2cMode := range []bool{false, true} {
		e, clock, tok := expiryEnv(t)
		c, errLog := serveHTTP(t, e, h2cMode)
		viaHTTP := *e
		viaHTTP.client = c
		s := openBidiStarted(t, &viaHTTP, tok)
		expireThenSend(t, s, clock)
		if got := s.Trailer().Get(MetadataWWWAuthenticate); len(got) != 0 {
			t.Errorf("h2c %v: www-authenticate trailer %q, want none (net/http refuses it)", h2cMode, got)
		}
		errLog.check(t, fmt.Sprintf("h2c %v", h2cMode))
	}
}

// Under grpc.Server.ServeHTTP a USE_DPOP_NONCE refusal, of a unary call or
// of a stream as it opens, reaches the caller with its use_dpop_nonce
// challenge as a response header and its nonce as a trailer (a valid
// trailer name, which net/http sends), nothing is logged, and the call
// made again with that nonce is served.
func TestServeHTTP_NonceRefusalCarriesTheNonceTrailerAndTheChallengeHeader(t *testing.T) {
	nonces, err := dpop.NewHMACNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.DPoP.Nonces = nonces })
	fresh := nonces.Nonce(t0)
	const bidi = "/authtest.v1.TestService/BidiStream"
	for _, h2cMode := range []bool{false, true} {
		c, errLog, url := serveHTTPAt(t, d.env, h2cMode)
		ctx := func(method, nonce string) context.Context {
			proof := d.proof(t, d.key, method, d.bound, grpcauthtest.ProofOptions{URL: url + method, Nonce: nonce})
			return dpopCtx(bounded(t), "DPoP "+d.bound, proof)
		}
		check := func(what string, err error, header, trailer metadata.MD) {
			t.Helper()
			checkStatus(t, err, codes.Unauthenticated, ReasonUseDPoPNonce)
			if got := trailer.Get(MetadataDPoPNonce); !slices.Equal(got, []string{fresh}) {
				t.Errorf("h2c %v, %s: dpop-nonce trailer %q, want %q", h2cMode, what, got, fresh)
			}
			if got := header.Get(MetadataWWWAuthenticate); len(got) != 1 || !strings.HasPrefix(got[0], `DPoP error="use_dpop_nonce"`) {
				t.Errorf("h2c %v, %s: www-authenticate header %q, want the use_dpop_nonce challenge", h2cMode, what, got)
			}
		}

		var header, trailer metadata.MD
		_, err := c.Inherited(ctx(mInherited, ""), &authtestv1.InheritedRequest{}, grpc.Header(&header), grpc.Trailer(&trailer))
		check("unary", err, header, trailer)
		if _, err := c.Inherited(ctx(mInherited, fresh), &authtestv1.InheritedRequest{}); err != nil {
			t.Errorf("h2c %v: unary call with the nonce: %v", h2cMode, err)
		}

		open := func(nonce string) (error, metadata.MD, metadata.MD) {
			s, err := c.BidiStream(ctx(bidi, nonce))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CloseSend(); err != nil {
				t.Fatal(err)
			}
			for err == nil {
				_, err = s.Recv()
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			header, herr := s.Header()
			if herr != nil && status.Code(herr) != codes.Unauthenticated {
				t.Fatalf("stream header: %v", herr)
			}
			return err, header, s.Trailer()
		}
		err, header, trailer = open("")
		check("stream", err, header, trailer)
		if err, _, _ := open(fresh); err != nil {
			t.Errorf("h2c %v: stream with the nonce: %v", h2cMode, err)
		}
		errLog.check(t, fmt.Sprintf("h2c %v", h2cMode))
	}
}

// Under grpc.Server.ServeHTTP a stream cut before any response header went
// out (a client stream, whose handler sends only as it returns) carries its
// challenge as a response header, the value grpc-go's own transport sends
// as a trailer, and nothing is logged.
func TestServeHTTP_StreamCutBeforeItsHeadersCarriesTheChallengeHeader(t *testing.T) {
	cut := func(t *testing.T, e *env, c authtestv1.TestServiceClient, clock *fakeClock) (header, trailer []string) {
		t.Helper()
		tok := e.token(t, map[string]any{"sub": "user-1", "exp": t0.Add(10 * time.Minute), "scp": []string{"test:write"}})
		s, err := c.ClientStream(withAuth(bounded(t), bearer(tok)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(&authtestv1.ClientStreamRequest{}); err != nil {
			t.Fatal(err)
		}
		clock.expire(clock.next(t))
		_, err = s.CloseAndRecv()
		checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
		md, err := s.Header()
		if err != nil && status.Code(err) != codes.Unauthenticated {
			t.Fatalf("stream header: %v", err)
		}
		return md.Get(MetadataWWWAuthenticate), s.Trailer().Get(MetadataWWWAuthenticate)
	}
	e, clock, _ := expiryEnv(t)
	_, want := cut(t, e, e.client, clock)
	if len(want) == 0 {
		t.Fatal("native transport: no www-authenticate trailer")
	}
	for _, h2cMode := range []bool{false, true} {
		e, clock, _ := expiryEnv(t)
		c, errLog := serveHTTP(t, e, h2cMode)
		header, trailer := cut(t, e, c, clock)
		if !slices.Equal(header, want) || len(trailer) != 0 {
			t.Errorf("h2c %v: www-authenticate header %q, trailer %q; want header %q, no trailer", h2cMode, header, trailer, want)
		}
		errLog.check(t, fmt.Sprintf("h2c %v", h2cMode))
	}
}

// A call from a net/http handler, whose context carries
// http.ServerContextKey, to a grpc-go server on grpc-go's own transport
// (in process, over bufconn) gets its challenge as a trailer: the server's
// context descends from its transport's, never from the caller's, so the
// key does not reach the interceptors there.
func TestServeHTTP_CallFromAnHTTPHandlerToTheNativeTransportKeepsTheTrailer(t *testing.T) {
	e := newEnv(t)
	lis, target, opts := listenBufconn(t)
	serveOn(t, lis, e.svc, grpc.ChainUnaryInterceptor(e.auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(e.auth.StreamServerInterceptor()))
	conn, err := grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := authtestv1.NewTestServiceClient(conn)

	// The handler hands its request's context out and holds it live until
	// the calls made with it are done.
	reqCtx, done := make(chan context.Context, 1), make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		reqCtx <- r.Context()
		<-done
	}))
	t.Cleanup(ts.Close)
	defer close(done)
	go func() {
		if resp, err := ts.Client().Get(ts.URL); err == nil {
			resp.Body.Close()
		}
	}()
	ctx := await(t, reqCtx, "the handler was not reached")
	if ctx.Value(http.ServerContextKey) == nil {
		t.Fatal("the request's context has no http.ServerContextKey")
	}
	_, want, _, _ := refusedMetadata(t, e.client)
	uh, ut, sh, st := refusedMetadataCtx(t, ctx, client)
	if len(want) == 0 || !slices.Equal(ut, want) || !slices.Equal(st, want) || len(uh) != 0 || len(sh) != 0 {
		t.Errorf("unary header %q trailer %q, stream header %q trailer %q; want trailers %q, no headers", uh, ut, sh, st, want)
	}
}
