package introspect_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// checkNotBuilt asserts that err is the error of a value its constructor
// did not build: an introspect error wrapping ErrUnavailable (so
// verifier.ErrKeysUnavailable), naming the constructor.
func checkNotBuilt(t *testing.T, what string, err error, constructor string) {
	t.Helper()
	if !errors.Is(err, introspect.ErrUnavailable) || !errors.Is(err, verifier.ErrKeysUnavailable) {
		t.Errorf("%s: %v, want ErrUnavailable", what, err)
		return
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "introspect: ") || !strings.Contains(msg, "not built with "+constructor) {
		t.Errorf("%s: %q, want an introspect: error saying it was not built with %s", what, msg, constructor)
	}
}

// TestVerifier_NotBuiltByNewFailsClearly: every exported method of a zero
// Verifier, or of a nil *Verifier, returns an error saying it was not
// built with New (ErrUnavailable), or a harmless value, instead of
// panicking (before, VerifyAccessToken, Close and RevalidateAt
// dereferenced nil fields); printed, a zero one says it was not built
// (before, it read as one with an empty endpoint and issuer).
func TestVerifier_NotBuiltByNewFailsClearly(t *testing.T) {
	for name, v := range map[string]*introspect.Verifier{"zero": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			for _, tok := range []string{"dG9rZW4", "", "a.b.c"} {
				c, err := v.VerifyAccessToken(t.Context(), tok)
				checkNotBuilt(t, fmt.Sprintf("VerifyAccessToken(%q)", tok), err, "New")
				if !c.IsZero() {
					t.Errorf("VerifyAccessToken(%q) returned claims %v", tok, c)
				}
			}
			if st := v.Stats(); st != (introspect.Stats{}) {
				t.Errorf("Stats() = %+v, want zero", st)
			}
			if d := v.ClockSkew(); d != 0 {
				t.Errorf("ClockSkew() = %v, want 0", d)
			}
			before := time.Now()
			if at := v.RevalidateAt("dG9rZW4", verifier.Claims{}); at.Before(before) || at.After(time.Now()) {
				t.Errorf("RevalidateAt = %v, want now (between %v and the return)", at, before)
			}
			if s, want := fmt.Sprint(v), map[string]string{"zero": "introspect.Verifier{not built with New}", "nil": "<nil>"}[name]; s != want {
				t.Errorf("Sprint = %q, want %q", s, want)
			}
			for range 2 {
				checkNotBuilt(t, "Close", v.Close(), "New")
			}
		})
	}
}

// TestCombined_NotBuiltByCombineFailsClearly: a zero Combined, or a nil
// *Combined, refuses a JWT and an opaque token alike with an error saying
// it was not built with Combine (before, a JWT made it call a nil
// interface), and its other methods return harmless values; printed, a
// zero one says it was not built (before, introspect.Combined{Opaque:
// <nil>}).
func TestCombined_NotBuiltByCombineFailsClearly(t *testing.T) {
	jwtLike := "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIn0.c2ln"
	for name, c := range map[string]*introspect.Combined{"zero": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			for _, tok := range []string{jwtLike, "dG9rZW4"} {
				_, err := c.VerifyAccessToken(t.Context(), tok)
				checkNotBuilt(t, fmt.Sprintf("VerifyAccessToken(%q)", tok), err, "Combine")
			}
			if d := c.ClockSkew(); d != 0 {
				t.Errorf("ClockSkew() = %v, want 0", d)
			}
			if d := c.ClockSkewFor(verifier.Claims{}); d != 0 {
				t.Errorf("ClockSkewFor() = %v, want 0", d)
			}
			before := time.Now()
			if at := c.RevalidateAt(jwtLike, verifier.Claims{}); at.Before(before) || at.After(time.Now()) {
				t.Errorf("RevalidateAt = %v, want now", at)
			}
			if jwt, opaque := c.Parts(); jwt != nil || opaque != nil {
				t.Errorf("Parts() = %v, %v, want nil, nil", jwt, opaque)
			}
			if s, want := fmt.Sprint(c), map[string]string{"zero": "introspect.Combined{not built with Combine}", "nil": "<nil>"}[name]; s != want {
				t.Errorf("Sprint = %q, want %q", s, want)
			}
		})
	}
}

// ownVerifier is a verifier of the user's own around another, which
// grpcauth.New does not look into.
type ownVerifier struct{ grpcauth.TokenVerifier }

// TestEndToEnd_AZeroVerifierIsUnavailable: behind grpcauth's interceptor,
// a zero Verifier's refusal is codes.Unavailable (KEYS_UNAVAILABLE), which
// tells the client to retry rather than to discard its token, with the
// interceptor's fixed message (no token, no detail). grpcauth.New refuses
// a zero Verifier given as Config.Verifier itself; inside a verifier of
// the user's own, it is met at run time.
func TestEndToEnd_AZeroVerifierIsUnavailable(t *testing.T) {
	auth, err := grpcauth.New(grpcauth.Config{Verifier: ownVerifier{&introspect.Verifier{}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	client := serveAuthtest(t, auth)
	const tok = "c2VjcmV0LXRva2Vu"
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	_, err = client.AllOf(ctx, &authtestv1.AllOfRequest{})
	checkStatus(t, err, codes.Unavailable, grpcauth.ReasonKeysUnavailable)
	if msg := status.Convert(err).Message(); strings.Contains(msg, tok) || strings.Contains(msg, "not built") {
		t.Fatalf("status message %q carries the token or the server's detail", msg)
	}
}

// TestNotBuilt_LoggedOncePerProcessWithoutTheToken: the first use of a
// Verifier or Combined its constructor did not build writes one
// error-level record through slog.Default() (such a value has no
// Config.Logger), and later uses of either, concurrent ones included,
// none; the record names neither token.
func TestNotBuilt_LoggedOncePerProcessWithoutTheToken(t *testing.T) {
	var logged syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	introspect.ForgetNotBuiltLogged()
	t.Cleanup(func() {
		slog.SetDefault(prev)
		introspect.ForgetNotBuiltLogged()
	})
	const tok, jwtLike = "c2VjcmV0LXRva2Vu", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2ln"
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			_, _ = (&introspect.Verifier{}).VerifyAccessToken(context.Background(), tok)
			_, _ = (*introspect.Combined)(nil).VerifyAccessToken(context.Background(), jwtLike)
		}()
	}
	for range 8 {
		<-done
	}
	out := logged.String()
	if n := strings.Count(out, "level=ERROR"); n != 1 || strings.Count(out, "\n") != 1 {
		t.Fatalf("%d error records (%q), want exactly 1", n, out)
	}
	if !strings.Contains(out, "not built") || strings.Contains(out, tok) || strings.Contains(out, jwtLike) {
		t.Fatalf("record %q: want one saying what was not built, naming no token", out)
	}
}
