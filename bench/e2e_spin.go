package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"google.golang.org/grpc"
)

// spin is the -spin flag: when not zero, -controls also times a server
// whose only interceptor burns about this much CPU before calling the
// handler. It calibrates the end-to-end run: if a call's extra CPU there
// reads as much more than spin, the run amplifies whatever an interceptor
// adds to a call, and an interceptor's cost must be read against this
// control rather than against its own micro-benchmark.
var spin time.Duration

// spinVariant is the -spin control.
func spinVariant() serverVariant {
	return serverVariant{name: fmt.Sprintf("control: no-op interceptor spinning %v a call", spin), options: spinInterceptorServer}
}

func spinInterceptorServer(context.Context, *fixture) ([]grpc.ServerOption, func(), error) {
	d := spin
	burn := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		// A busy loop on the monotonic clock: its CPU is d unless the
		// goroutine is descheduled within it, which in calls of a
		// microsecond or so is rare.
		for start := time.Now(); time.Since(start) < d; {
		}
		return handler(ctx, req)
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(burn)}, func() {}, nil
}

// ballast is the -ballast flag, in KiB: when not zero, -controls also
// times the server without authentication holding this much more live
// heap, in 64 pointer-free pieces (about what 50 cached tokens keep
// alive). It tests how much of an interceptor's extra CPU a call is the
// garbage collector's response to the memory the interceptor keeps, in a
// server whose live heap (about 1 MiB) is under Go's minimum heap goal of
// 4 MiB: there, every KiB kept alive both shortens the run between
// collections and lengthens each.
var ballast int

// ballastVariant is the -ballast control.
func ballastVariant() serverVariant {
	return serverVariant{name: fmt.Sprintf("control: no authentication, %d KiB more live heap", ballast), options: ballastServer}
}

func ballastServer(context.Context, *fixture) ([]grpc.ServerOption, func(), error) {
	pieces := make([][]byte, 64)
	for i := range pieces {
		pieces[i] = make([]byte, ballast*1024/len(pieces))
	}
	return nil, func() { runtime.KeepAlive(pieces) }, nil
}
