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
		ln := newPipeListener(1)
		srv, cli := net.Pipe()
		ln.conns <- srv
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- s.serve(ctx, ln, log) }()
		defer func() {
			cli.Close()
			cancel()
			if err := <-served; err != nil {
				t.Error(err)
			}
		}()
		closed := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, cli) // the server's frames, until it closes the connection
			close(closed)
		}()
		h := &h2Conn{t: t, conn: cli}
		if _, err := io.WriteString(cli, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if err := h.frame(h2Settings, 0, 0, nil); err != nil {
			t.Fatal(err)
		}

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
