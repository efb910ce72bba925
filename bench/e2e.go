package main

import (
	"context"
	"fmt"
	"io"
)

// TEMPORARY until the root package grpcauth lands.
func e2eTable(ctx context.Context, w io.Writer, f *fixture, calls, callers int) error {
	fmt.Fprintln(w, "End-to-end gRPC benchmark: not run (interceptors not available yet).")
	return nil
}
