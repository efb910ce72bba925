package grpcauth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
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
// HTTP/2) when h2cMode. It returns a client of that server. Everything is
// closed by t.Cleanup.
func serveHTTP(t *testing.T, e *env, h2cMode bool) (authtestv1.TestServiceClient, logLines) {
	t.Helper()
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(e.auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(e.auth.StreamServerInterceptor()))
	authtestv1.RegisterTestServiceServer(srv, e.svc)
	t.Cleanup(srv.Stop)
	var h http.Handler = srv
	if h2cMode {
		h = h2c.NewHandler(srv, &http2.Server{})
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
	return authtestv1.NewTestServiceClient(conn), errLog
}

// refusedMetadata calls Authenticated (unary) and ServerStream (a stream
// refused as it opens) on c with the authorization values auth, checks
// that both are refused as unauthenticated, and returns each call's
// www-authenticate header and trailer values.
func refusedMetadata(t *testing.T, c authtestv1.TestServiceClient, auth ...string) (unaryHeader, unaryTrailer, streamHeader, streamTrailer []string) {
	t.Helper()
	ctx := withAuth(bounded(t), auth...)
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
