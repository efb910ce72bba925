package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

var errAccepted = errors.New("accepted a token it must reject")

// costTable times every library on every row and prints one Markdown table.
func costTable(ctx context.Context, w io.Writer, f *fixture, libs []library, verbose bool) error {
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
// after warm-up, one token at a time.
func unknownKidTable(ctx context.Context, w io.Writer, f *fixture, libs []library, n int) error {
	tokens := make([]string, n)
	for i := range tokens {
		var err error
		if tokens[i], err = f.unknownKid(randomKid()); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "## JWKS requests while rejecting %d unknown-kid tokens\n\n", n)
	fmt.Fprintln(w, "| verifier | JWKS requests | wall time | accepted | behaviour on an unknown kid |")
	fmt.Fprintln(w, "|---|--:|--:|--:|---|")
	for _, lib := range libs {
		verify, closeFn, err := openWarm(ctx, lib, f)
		if err != nil {
			return err
		}
		before := f.requests()
		start := time.Now()
		accepted := 0
		for _, tok := range tokens {
			callCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			if verify(callCtx, tok) == nil {
				accepted++
			}
			cancel()
		}
		elapsed := time.Since(start)
		reqs := f.requests() - before
		closeFn()
		fmt.Fprintf(w, "| %s | %d | %s | %d | %s |\n", lib.name, reqs, elapsed.Round(time.Millisecond), accepted, lib.rateLimit)
	}
	fmt.Fprintln(w)
	return nil
}
