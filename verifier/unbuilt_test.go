package verifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// checkNotBuilt asserts that err is the error of a value its constructor
// did not build: a verifier: error wrapping ErrKeysUnavailable (what
// grpcauth answers codes.Unavailable), not ErrClosed, naming the
// constructor.
func checkNotBuilt(t *testing.T, what string, err error, constructor string) {
	t.Helper()
	if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrClosed) {
		t.Errorf("%s: %v, want ErrKeysUnavailable", what, err)
		return
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "verifier: ") || !strings.Contains(msg, "not built with "+constructor) {
		t.Errorf("%s: %q, want a verifier: error saying it was not built with %s", what, msg, constructor)
	}
}

// checkRefusesEveryToken asserts that v, which its constructor did not build,
// refuses every token, access or ID, with or without a client id, and that
// its Ready fails, saying so, with a ctx and with a nil one.
func checkRefusesEveryToken(t *testing.T, v interface {
	VerifyAccessToken(context.Context, string) (Claims, error)
	VerifyIDToken(ctx context.Context, token, clientID, nonce string) (Claims, error)
	Ready(context.Context) error
}, constructor string,
) {
	t.Helper()
	for _, ctx := range []context.Context{t.Context(), nil} {
		for _, tok := range notBuiltTokens {
			c, err := v.VerifyAccessToken(ctx, tok)
			checkNotBuilt(t, fmt.Sprintf("VerifyAccessToken(%q)", tok), err, constructor)
			if !c.IsZero() {
				t.Errorf("VerifyAccessToken(%q) returned claims", tok)
			}
			for _, clientID := range []string{"client", ""} {
				c, err = v.VerifyIDToken(ctx, tok, clientID, "nonce")
				checkNotBuilt(t, fmt.Sprintf("VerifyIDToken(%q, %q)", tok, clientID), err, constructor)
				if !c.IsZero() {
					t.Errorf("VerifyIDToken(%q, %q) returned claims", tok, clientID)
				}
			}
		}
		checkNotBuilt(t, "Ready", v.Ready(ctx), constructor)
	}
}

// A JWT-shaped token and two that are not: a Verifier New did not build
// refuses all three alike, before looking at them.
var notBuiltTokens = []string{
	"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIn0.c2ln",
	"dG9rZW4",
	"",
}

// TestVerifier_NotBuiltByNewFailsClearly: every exported method of a zero
// Verifier, or of a nil *Verifier, returns an error saying it was not
// built with New (ErrKeysUnavailable), or a harmless value, instead of
// panicking (before, every method but ClockSkew and Format dereferenced
// nil fields, and a nil one's ClockSkew too). A nil ctx changes nothing.
func TestVerifier_NotBuiltByNewFailsClearly(t *testing.T) {
	for name, v := range map[string]*Verifier{"zero": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			checkRefusesEveryToken(t, v, "New")
			if st := v.Stats(); st != (Stats{}) {
				t.Errorf("Stats() = %+v, want zero", st)
			}
			if d := v.ClockSkew(); d != 0 {
				t.Errorf("ClockSkew() = %v, want 0", d)
			}
			before := time.Now()
			if at := v.RevalidateAt(notBuiltTokens[0], Claims{}); at.Before(before) || at.After(time.Now()) {
				t.Errorf("RevalidateAt = %v, want now (between %v and the return)", at, before)
			}
			if s, want := fmt.Sprint(v), map[string]string{"zero": "verifier.Verifier{not built with New}", "nil": "<nil>"}[name]; s != want {
				t.Errorf("Sprint = %q, want %q", s, want)
			}
			for range 2 {
				checkNotBuilt(t, "Close", v.Close(), "New")
			}
		})
	}
}

// TestMultiVerifier_NotBuiltByNewMultiFailsClearly: every exported method
// of a zero MultiVerifier, or of a nil *MultiVerifier, returns an error
// saying it was not built with NewMulti (ErrKeysUnavailable), or a harmless
// value, instead of panicking (a nil one panicked in every method but
// Format) or answering as a MultiVerifier of no issuers would (a zero one
// refused every token as too large, ErrMalformed, and was Ready).
func TestMultiVerifier_NotBuiltByNewMultiFailsClearly(t *testing.T) {
	for name, m := range map[string]*MultiVerifier{"zero": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			checkRefusesEveryToken(t, m, "NewMulti")
			if st := m.Stats(); st.Issuers != nil || st.Total != (Stats{}) || st.UnknownIssuerTokens != 0 || st.Malformed != 0 {
				t.Errorf("Stats() = %+v, want zero", st)
			}
			if iss := m.Issuers(); iss != nil {
				t.Errorf("Issuers() = %q, want none", iss)
			}
			if v := m.Verifier(""); v != nil {
				t.Errorf("Verifier(\"\") = %v, want nil", v)
			}
			if d := m.ClockSkew(); d != 0 {
				t.Errorf("ClockSkew() = %v, want 0", d)
			}
			if d := m.ClockSkewFor(Claims{}); d != 0 {
				t.Errorf("ClockSkewFor() = %v, want 0", d)
			}
			before := time.Now()
			if at := m.RevalidateAt(notBuiltTokens[0], Claims{}); at.Before(before) || at.After(time.Now()) {
				t.Errorf("RevalidateAt = %v, want now (between %v and the return)", at, before)
			}
			if s, want := fmt.Sprint(m), map[string]string{"zero": "verifier.MultiVerifier{not built with NewMulti}", "nil": "<nil>"}[name]; s != want {
				t.Errorf("Sprint = %q, want %q", s, want)
			}
			for range 2 {
				checkNotBuilt(t, "Close", m.Close(), "NewMulti")
			}
		})
	}
}

// recordCounter is a slog.Handler that keeps the text of every record.
type recordCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordCounter) WithGroup(string) slog.Handler            { return h }
func (h *recordCounter) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.msgs = append(h.msgs, b.String())
	h.mu.Unlock()
	return nil
}

// TestNotBuilt_LoggedOnceUnderConcurrentFirstUse: the first uses of a
// Verifier and a MultiVerifier their constructors did not build, all at
// once from many goroutines, are logged exactly once in the process
// through slog.Default() (they have no Config.Logger), at Error, saying
// so, without any token.
func TestNotBuilt_LoggedOnceUnderConcurrentFirstUse(t *testing.T) {
	h := &recordCounter{}
	old := slog.Default()
	slog.SetDefault(slog.New(h))
	t.Cleanup(func() { slog.SetDefault(old) })
	notBuiltLog.Forget() // as in a fresh process
	t.Cleanup(notBuiltLog.Forget)

	const secret = "c2VjcmV0LXRva2VuLXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ"
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			<-start
			var err error
			switch i % 4 {
			case 0:
				_, err = (&Verifier{}).VerifyAccessToken(context.Background(), secret)
			case 1:
				_, err = (*Verifier)(nil).VerifyAccessToken(context.Background(), secret)
			case 2:
				_, err = (&MultiVerifier{}).VerifyAccessToken(context.Background(), secret)
			case 3:
				_, err = (*MultiVerifier)(nil).VerifyIDToken(context.Background(), secret, "client", "")
			}
			if !errors.Is(err, ErrKeysUnavailable) {
				t.Errorf("goroutine %d: %v, want ErrKeysUnavailable", i, err)
			}
		})
	}
	close(start)
	wg.Wait()

	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.msgs) != 1 {
		t.Fatalf("%d records, want exactly 1:\n%s", len(h.msgs), strings.Join(h.msgs, "\n"))
	}
	if msg := h.msgs[0]; !strings.Contains(msg, "not built") || strings.Contains(msg, secret) || strings.Contains(msg, secret[:12]) {
		t.Fatalf("record %q: want it to say the verifier was not built, without the token", msg)
	}
}

// TestVerify_ANilContextIsBackground: a nil ctx is taken for
// context.Background() by a Verifier and a MultiVerifier alike, also where
// a verification waits for a key-set fetch (before, the wait panicked on
// ctx.Done(), ending a server's process): a token signed with a key
// published after the last fetch starts a fetch, waits for it, and is
// accepted. Ready with a nil ctx answers too.
func TestVerify_ANilContextIsBackground(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, nil)
	m, err := NewMulti(context.Background(), f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	var nilCtx context.Context // as a caller that forgot one passes it
	if err := f.v.Ready(nilCtx); err != nil {
		t.Fatalf("Verifier.Ready(nil): %v", err)
	}
	if err := m.Ready(nilCtx); err != nil {
		t.Fatalf("MultiVerifier.Ready(nil): %v", err)
	}
	verifiers := map[string]func(context.Context, string) (Claims, error){
		"Verifier":      f.v.VerifyAccessToken,
		"MultiVerifier": m.VerifyAccessToken,
	}
	for _, name := range []string{"Verifier", "MultiVerifier"} {
		// A key neither has fetched: the lookup misses and waits for the
		// fetch it starts.
		if _, err := f.iss.RotateKey(); err != nil {
			t.Fatal(err)
		}
		waits := f.iss.JWKSRequests()
		tok := f.mint(t, map[string]any{"sub": "alice"})
		c, err := verifiers[name](nilCtx, tok)
		if err != nil || c.Subject() != "alice" {
			t.Fatalf("%s: a token signed with a new key, nil ctx: %v; want it accepted", name, err)
		}
		if f.iss.JWKSRequests() == waits {
			t.Fatalf("%s: no key-set fetch: the verification did not wait for one", name)
		}
	}
}

// TestNew_ANilContextIsBackground: New and NewMulti take a nil ctx for
// context.Background(), as the Verifier's methods do, and build a
// Verifier that verifies (before, both panicked on ctx.Err()).
func TestNew_ANilContextIsBackground(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, nil)
	var nilCtx context.Context // as a caller that forgot one passes it
	v, err := New(nilCtx, f.cfg)
	if err != nil {
		t.Fatalf("New(nil ctx): %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	m, err := NewMulti(nilCtx, f.cfg)
	if err != nil {
		t.Fatalf("NewMulti(nil ctx): %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	tok := f.mint(t, map[string]any{"sub": "alice"})
	for name, verify := range map[string]func(context.Context, string) (Claims, error){
		"Verifier": v.VerifyAccessToken, "MultiVerifier": m.VerifyAccessToken,
	} {
		if c, err := verify(t.Context(), tok); err != nil || c.Subject() != "alice" {
			t.Fatalf("%s built with a nil ctx: %v; want the token accepted", name, err)
		}
	}
}
