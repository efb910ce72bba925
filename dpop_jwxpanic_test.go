package grpcauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
	"github.com/grpcauth/grpcauth/internal/safelog/safelogtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// panicInVerifyDPoP replaces verifyDPoP, for the rest of t, with one in
// which jwx panics and dpop.Verify recovers it, as on a proof that
// reaches a jwx bug.
func panicInVerifyDPoP(t *testing.T) {
	orig := verifyDPoP
	verifyDPoP = func(*dpop.Verifier, context.Context, string, dpop.Request) (_ dpop.Proof, err error) {
		defer jwxpanic.Recover(&err, func(e *jwxpanic.Error) error {
			return fmt.Errorf("%w: checking the signature %w", dpop.ErrInvalidProof, e)
		})
		jwxpanictest.Panic()
		return dpop.Proof{}, nil
	}
	t.Cleanup(func() { verifyDPoP = orig })
}

// A panic that dpop.Verify recovered while it checked the proof (jwx's,
// on the proof's jwk or signature) refuses the call as an invalid proof,
// the client told nothing of it, and is logged on the server at
// LogLevels.Problem with its stack, without the token or the proof.
func TestDPoP_RecoveredJWXPanicIsAnInvalidProofLoggedWithItsStack(t *testing.T) {
	var logs bytes.Buffer
	decided := make(chan error, 1)
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.OnDecision = func(_ context.Context, dec Decision) { decided <- dec.Err }
	})
	panicInVerifyDPoP(t)
	proof := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{})
	err, _, _ := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, proof), mInherited)
	checkStatus(t, err, codes.Unauthenticated, ReasonDPoPProofInvalid)
	// FuzzDPoPCall finds the recovered panic through the Decision's cause.
	if cause := <-decided; !errors.Is(cause, dpop.ErrInvalidProof) {
		t.Fatalf("Decision.Err = %v; want the invalid proof", cause)
	} else if _, ok := jwxpanic.Find(cause); !ok {
		t.Fatalf("Decision.Err = %v; the recovered panic is not found in it", cause)
	}
	if msg := err.Error(); strings.Contains(msg, "panic") || strings.Contains(msg, "jwx") {
		t.Fatalf("the client is told of the panic: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "panic recovered while checking a DPoP proof") ||
		!strings.Contains(out, "panicked in jwx") || !strings.Contains(out, "jwxpanictest.Panic") {
		t.Fatalf("log = %s; want the panic at the Problem level, with its stack", out)
	}
	if strings.Contains(out, d.bound) || strings.Contains(out, strings.Split(proof, ".")[2]) {
		t.Fatalf("log = %s; it holds the token or the proof", out)
	}
}

// A proof that makes jwx panic is anyone's to send, again and again: each
// refusal is logged, but the panic's stack at most once a minute per
// Authenticator (by Config.Now), the other records saying it was omitted.
func TestDPoP_RecoveredPanicStackIsLoggedAtMostOnceAMinute(t *testing.T) {
	var logs bytes.Buffer
	var later atomic.Int64 // how long after t0 the Authenticator's clock reads
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.Now = func() time.Time { return t0.Add(time.Duration(later.Load())) }
	})
	panicInVerifyDPoP(t)
	for i, wantStack := range []bool{true, false, false, true} {
		if i == 3 {
			later.Add(int64(jwxpanic.StackEvery))
		}
		logs.Reset()
		proof := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{})
		err, _, _ := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, proof), mInherited)
		checkStatus(t, err, codes.Unauthenticated, ReasonDPoPProofInvalid)
		out := logs.String()
		if !strings.Contains(out, "panic recovered while checking a DPoP proof") || strings.Contains(out, "jwxpanictest.Panic") != wantStack {
			t.Fatalf("attempt %d: log = %s; want the refusal, with the stack: %v", i, out, wantStack)
		}
	}
}

// A proof whose check panicked is refused as an invalid proof, and the
// server serves on, even when the code the panic's record calls panics
// too: a Config.Now that panics is read as the process's clock, and a
// Logger whose handler panics on the record loses it. Before, that second
// panic, on the call's path, ended the process (grpc-go recovers none).
func TestDPoP_RecoveredPanicIsRefusedWhenConfigNowOrTheLoggerPanicsAsItIsLogged(t *testing.T) {
	const record = "panic recovered while checking a DPoP proof"
	for _, logPanics := range []bool{false, true} {
		t.Run(map[bool]string{false: "Config.Now panics", true: "the Logger panics"}[logPanics], func(t *testing.T) {
			var logs bytes.Buffer
			panicked := make(chan string, 1)
			d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
				if logPanics {
					c.Logger = slog.New(safelogtest.Handler{Next: c.Logger.Handler(), On: record, Panicked: panicked})
				}
				if !logPanics {
					c.DPoP.Now = c.Now // the proof's own checks keep a clock
					c.Now = func() time.Time { panic("clock bug 9e04") }
				}
			})
			panicInVerifyDPoP(t)
			for i := range 2 {
				proof := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{})
				err, _, _ := d.callUnaryMD(dpopCtx(t.Context(), "DPoP "+d.bound, proof), mInherited)
				checkStatus(t, err, codes.Unauthenticated, ReasonDPoPProofInvalid)
				if logPanics {
					if got := <-panicked; !strings.Contains(got, record) {
						t.Fatalf("call %d: the Logger panicked on %q, want the panic's record", i, got)
					}
				}
			}
			out := logs.String()
			if !logPanics && (strings.Count(out, record) != 2 || !strings.Contains(out, "clock bug 9e04") || strings.Count(out, "jwxpanictest.Panic") != 1) {
				t.Fatalf("log = %s; want both records, with Config.Now's panic, one of them with the stack", out)
			}
			if logPanics && strings.Contains(out, record) {
				t.Fatalf("log = %s; the record the Logger panicked on was written", out)
			}
		})
	}
}
