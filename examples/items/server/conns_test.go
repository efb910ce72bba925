package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// pipeListener is a net.Listener whose connections are the server ends of
// net.Pipe pairs queued in conns; the test keeps the client ends. It
// counts the Accept calls that began while it was open.
type pipeListener struct {
	conns     chan net.Conn
	accepts   atomic.Int64
	closed    chan struct{}
	closeOnce sync.Once
}

func newPipeListener(queue int) *pipeListener {
	return &pipeListener{conns: make(chan net.Conn, queue), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	l.accepts.Add(1)
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// checkServesAtMostMaxConnections starts serve on a pipeListener with
// maxConnections+1 connections waiting, none of which sends anything, and
// checks that the server takes maxConnections of them and the last only
// once one of those has closed. serve returns a function that stops the
// server and waits for it. It runs in a synctest bubble: synctest.Wait
// returns once every goroutine of the server is blocked, which is when the
// count of accepted connections is final.
func checkServesAtMostMaxConnections(t *testing.T, serve func(ctx context.Context, ln net.Listener) (stop func())) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener(maxConnections + 1)
		clients := make([]net.Conn, 0, maxConnections+1)
		for range maxConnections + 1 {
			srv, cli := net.Pipe()
			clients = append(clients, cli)
			ln.conns <- srv
		}
		ctx, cancel := context.WithCancel(context.Background())
		stop := serve(ctx, ln)
		defer func() {
			for _, c := range clients {
				c.Close()
			}
			cancel()
			stop()
		}()

		synctest.Wait()
		if n := ln.accepts.Load(); n != maxConnections {
			t.Fatalf("with %d connections waiting the server began %d Accept calls, want %d (maxConnections)", maxConnections+1, n, maxConnections)
		}
		clients[0].Close()
		synctest.Wait()
		if n := ln.accepts.Load(); n != maxConnections+1 {
			t.Errorf("after one connection closed the server began %d Accept calls, want %d", n, maxConnections+1)
		}
	})
}

func TestServe_GRPCPortServesAtMostMaxConnections(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	log := slog.New(slog.DiscardHandler)
	s := newTestServer(t, iss, log)
	checkServesAtMostMaxConnections(t, func(ctx context.Context, ln net.Listener) func() {
		served := make(chan error, 1)
		go func() { served <- s.serve(ctx, ln, log) }()
		return func() {
			if err := <-served; err != nil {
				t.Error(err)
			}
		}
	})
}

func TestServeWeb_ServesAtMostMaxConnections(t *testing.T) {
	checkServesAtMostMaxConnections(t, func(ctx context.Context, ln net.Listener) func() {
		return serveWeb(ctx, ln, http.NotFoundHandler(), webTimeouts, slog.New(slog.DiscardHandler))
	})
}

// A gRPC connection with no call open is closed once it has been idle for
// maxConnectionIdle, so idle connections do not keep places of
// maxConnections for ever: grpc-go sends GOAWAY then, and closes the
// connection 5 s later when the client has not answered its ping. In a
// synctest bubble, whose clock moves only when every goroutine waits.
func TestServe_IdleGRPCConnectionIsClosed(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	log := slog.New(slog.DiscardHandler)
	s := newTestServer(t, iss, log)
	synctest.Test(t, func(t *testing.T) {
		_, _, closed := servePipeH2(t, s, log)

		time.Sleep(maxConnectionIdle - time.Second)
		synctest.Wait()
		select {
		case <-closed:
			t.Fatalf("the connection was closed before it had been idle for %v", maxConnectionIdle)
		default:
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case <-closed:
		default:
			t.Fatalf("the connection is still open after %v idle", maxConnectionIdle+9*time.Second)
		}
	})
}

// h2GoAway is the HTTP/2 GOAWAY frame type (RFC 9113, section 6.8).
const h2GoAway = 0x7

// servePipeH2 serves s on a pipeListener holding one connection, in t's
// synctest bubble, and returns the client end, with HTTP/2's preface and
// empty settings sent. A goroutine reads the server's frames: goAway
// closes at the first GOAWAY, closed when the server closes the
// connection. When t ends the client end is closed and the server
// stopped.
func servePipeH2(t *testing.T, s *server, log *slog.Logger) (h *h2Conn, goAway, closed <-chan struct{}) {
	t.Helper()
	ln := newPipeListener(1)
	srv, cli := net.Pipe()
	ln.conns <- srv
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.serve(ctx, ln, log) }()
	t.Cleanup(func() {
		cli.Close()
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	// Reading before the preface goes out: grpc-go writes its settings
	// first, and a pipe's write waits for its read.
	goAwayC, closedC := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(closedC)
		sawGoAway := false
		hdr := make([]byte, 9)
		for {
			if _, err := io.ReadFull(cli, hdr); err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, cli, int64(hdr[0])<<16|int64(hdr[1])<<8|int64(hdr[2])); err != nil {
				return
			}
			if hdr[3] == h2GoAway && !sawGoAway {
				sawGoAway = true
				close(goAwayC)
			}
		}
	}()
	h = &h2Conn{t: t, conn: cli}
	if _, err := io.WriteString(cli, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := h.frame(h2Settings, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	return h, goAwayC, closedC
}

// A gRPC connection is closed after maxConnectionAge (give or take
// grpc-go's 10% jitter) even while a call keeps it busy: the server sends
// GOAWAY then, lets the open call (here a reflection stream, public, open
// until the client ends it) go on for maxConnectionAgeGrace, and then cuts
// the connection. Without them a client holding a stream open, or calling
// more often than maxConnectionIdle, keeps its connection for ever. In a
// synctest bubble, whose clock moves only when every goroutine waits: the
// times are the fake clock's, exact, not measured.
func TestServe_BusyGRPCConnectionIsClosedAfterMaxConnectionAge(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	log := slog.New(slog.DiscardHandler)
	s := newTestServer(t, iss, log)
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		h, goAway, closed := servePipeH2(t, s, log)
		// Open until the client sends a request or ends it: the connection
		// is never idle (were it, maxConnectionIdle would close it first).
		if !h.open(1, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo") {
			t.Fatal("the server closed the connection as the stream opened")
		}

		latest := maxConnectionAge + maxConnectionAge/10
		select {
		case <-goAway:
		case <-closed:
			t.Fatalf("the connection closed after %v without GOAWAY", time.Since(start))
		case <-time.After(latest + time.Second):
			t.Fatalf("no GOAWAY after %v with a call open; want one by %v (maxConnectionAge and its jitter)", time.Since(start), latest)
		}
		sentAt := time.Now()
		if age := sentAt.Sub(start); age < maxConnectionAge-maxConnectionAge/10 || age > latest {
			t.Fatalf("GOAWAY after %v, want it within 10%% of maxConnectionAge, %v", age, maxConnectionAge)
		}
		// grpc-go closes the connection a second after it cuts it off (so
		// that the client's last frames are read, not reset): give it 5.
		select {
		case <-closed:
		case <-time.After(maxConnectionAgeGrace + 5*time.Second):
			t.Fatalf("the connection is still open %v after GOAWAY; want it cut after maxConnectionAgeGrace, %v", time.Since(sentAt), maxConnectionAgeGrace)
		}
		if grace := time.Since(sentAt); grace < maxConnectionAgeGrace {
			t.Errorf("the connection was cut %v after GOAWAY, before the open call had its maxConnectionAgeGrace of %v", grace, maxConnectionAgeGrace)
		}
	})
}
