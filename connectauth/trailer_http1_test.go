package connectauth_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth/connectauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// TestConnect_StreamHandlerCannotDeclareTrailersOverHTTP1: a stream
// handler's grpc.SetHeader of "trailer" does not reach the HTTP/1.1
// response as a Trailer header, which would declare trailer fields the
// response never sends. Go's client takes that header out of the response
// headers, so the response is read here as the bytes the server wrote.
// (Mutant: "trailer" not a protocol key.)
func TestConnect_StreamHandlerCannotDeclareTrailersOverHTTP1(t *testing.T) {
	f := newFixture(t)
	const procedure = "/authtest.v1.TestService/ServerStream"
	h := connect.NewServerStreamHandler(procedure,
		func(ctx context.Context, _ *connect.Request[authtestv1.ServerStreamRequest], ss *connect.ServerStream[authtestv1.ServerStreamResponse]) error {
			if err := grpc.SetHeader(ctx, metadata.Pairs("trailer", "x-declared", "x-header", "h")); err != nil {
				return err
			}
			return ss.Send(&authtestv1.ServerStreamResponse{})
		},
		connect.WithSchema(method("TestService", "ServerStream")),
		connect.WithInterceptors(connectauth.NewInterceptor(f.auth)))
	srv := httptest.NewServer(connectauth.WrapHandler(h))
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A Connect server stream with one empty message: a 5-byte envelope.
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/connect+proto\r\nAuthorization: Bearer %s\r\nContent-Length: 5\r\nConnection: close\r\n\r\n\x00\x00\x00\x00\x00",
		procedure, srv.Listener.Addr(), f.token(t, "test:read", "test:stream"))
	r := bufio.NewReader(conn)
	var head []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the response head %q: %v", head, err)
		}
		if line = strings.TrimRight(line, "\r\n"); line == "" {
			break
		}
		head = append(head, line)
	}
	if len(head) == 0 || !strings.HasPrefix(head[0], "HTTP/1.1 200") {
		t.Fatalf("response head %q, want 200", head)
	}
	sawHeader := false
	for _, line := range head[1:] {
		name, value, _ := strings.Cut(line, ":")
		switch strings.ToLower(name) {
		case "trailer":
			t.Errorf("the handler declared trailers: %q", line)
		case "x-header":
			sawHeader = strings.TrimSpace(value) == "h"
		}
	}
	if !sawHeader {
		t.Errorf("response head %q, want the handler's X-Header", head)
	}
}
