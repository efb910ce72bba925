package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var errAccepted = errors.New("accepted a token it must reject")

// costTable times every library on every row and prints one Markdown table.
func costTable(ctx context.Context, w io.Writer, f *fixture, libs []library, verbose bool) error {
	fmt.Fprintf(w, "## Token verification cost\n\n")
	fmt.Fprintln(w, "| token | verifier | ns/op | B/op | allocs/op | × sig check |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|")
	var reasons []string
	baseline := map[string]float64{} // alg -> jwx signature-check ns/op
	for _, alg := range algs {
		v := f.valid[alg]
		jb, err := jwxBaseline(v)
		if err != nil {
			return err
		}
		sb, err := stdlibBaseline(v)
		if err != nil {
			return err
		}
		m := measure(jb)
		baseline[alg] = nsPerOp(m)
		row(w, alg+" valid", "signature check only (jwx jws.Verifier)", m, baseline[alg])
		row(w, alg+" valid", "signature check only (crypto/* stdlib)", measure(sb), baseline[alg])
		for _, lib := range libs {
			m, _, err := timeLibrary(ctx, f, lib, v.token, true)
			if err != nil {
				return err
			}
			row(w, alg+" valid", lib.name, m, baseline[alg])
		}
	}
	for _, rej := range rejections {
		tok := f.rejected[rej]
		for _, lib := range libs {
			m, reason, err := timeLibrary(ctx, f, lib, tok, false)
			if err != nil {
				return err
			}
			row(w, rej, lib.name, m, baseline["RS256"])
			reasons = append(reasons, fmt.Sprintf("- %s / %s: %s", rej, lib.name, oneLine(reason)))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "× sig check: ns/op over the jwx signature check for the same algorithm in this run (rejected tokens: over the RS256 check).")
	fmt.Fprintln(w)
	if verbose {
		fmt.Fprintln(w, "Rejection errors:")
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.Join(reasons, "\n"))
		fmt.Fprintln(w)
	}
	return nil
}

// timeLibrary opens a fresh warmed instance of lib, checks its verdict on
// token once (returning the rejection error's text), and times it.
func timeLibrary(ctx context.Context, f *fixture, lib library, token string, valid bool) (measured, string, error) {
	verify, closeFn, err := openWarm(ctx, lib, f)
	if err != nil {
		return measured{}, "", err
	}
	defer closeFn()
	first := verify(ctx, token)
	switch {
	case valid && first != nil:
		return measured{}, "", fmt.Errorf("%s rejected a valid token: %w", lib.name, first)
	case !valid && first == nil:
		return measured{}, "", fmt.Errorf("%s accepted a token it must reject", lib.name)
	}
	reason := ""
	if first != nil {
		reason = first.Error()
	}
	m := measure(func() error {
		err := verify(ctx, token)
		if valid {
			return err
		}
		if err == nil {
			return errAccepted
		}
		return nil
	})
	return m, reason, nil
}

func nsPerOp(m measured) float64 {
	if m.r.N == 0 {
		return 0
	}
	return float64(m.r.T.Nanoseconds()) / float64(m.r.N)
}

func row(w io.Writer, token, name string, m measured, base float64) {
	if m.err != nil || m.r.N == 0 {
		fmt.Fprintf(w, "| %s | %s | FAILED: %v | | | |\n", token, name, m.err)
		return
	}
	ns := nsPerOp(m)
	fmt.Fprintf(w, "| %s | %s | %.0f | %d | %d | %.2f× |\n",
		token, name, ns, m.r.AllocedBytesPerOp(), m.r.AllocsPerOp(), ns/base)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// unknownKidTable counts the JWKS requests each library makes at the issuer
// while rejecting n well-signed tokens whose kids are distinct and unknown,
// after warm-up: once one token at a time, once from callers concurrent
// goroutines (each run on a fresh instance).
func unknownKidTable(ctx context.Context, w io.Writer, f *fixture, libs []library, n, callers int) error {
	tokens := make([]string, n)
	for i := range tokens {
		var err error
		if tokens[i], err = f.unknownKid(randomKid()); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "## JWKS requests while rejecting %d unknown-kid tokens\n\n", n)
	fmt.Fprintf(w, "Each token has a distinct random kid; counted at the issuer after warm-up (the key set was fetched moments before).\n\n")
	fmt.Fprintf(w, "| verifier | requests, sequential | wall time | requests, %d callers | wall time | accepted | behaviour on an unknown kid |\n", callers)
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|---|")
	for _, lib := range libs {
		seq, err := rejectAll(ctx, f, lib, tokens, 1)
		if err != nil {
			return err
		}
		con, err := rejectAll(ctx, f, lib, tokens, callers)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "| %s | %d | %s | %d | %s | %d | %s |\n", lib.name,
			seq.requests, seq.elapsed.Round(time.Millisecond), con.requests, con.elapsed.Round(time.Millisecond),
			seq.accepted+con.accepted, lib.rateLimit)
	}
	fmt.Fprintln(w)
	return nil
}

type rejectRun struct {
	requests, accepted int64
	elapsed            time.Duration
}

// rejectAll verifies every token on a fresh warmed instance of lib from
// callers goroutines and counts the JWKS requests the issuer served
// meanwhile.
func rejectAll(ctx context.Context, f *fixture, lib library, tokens []string, callers int) (rejectRun, error) {
	verify, closeFn, err := openWarm(ctx, lib, f)
	if err != nil {
		return rejectRun{}, err
	}
	defer closeFn()
	var next, accepted atomic.Int64
	before := f.requests()
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(tokens)); i = next.Add(1) - 1 {
				callCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				if verify(callCtx, tokens[i]) == nil {
					accepted.Add(1)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	return rejectRun{requests: f.requests() - before, accepted: accepted.Load(), elapsed: time.Since(start)}, nil
}
