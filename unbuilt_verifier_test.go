package grpcauth

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/verifier"
)

// logText is a slog.Handler that keeps the text of every record.
type logText struct {
	mu sync.Mutex
	b  strings.Builder
}

func (h *logText) Enabled(context.Context, slog.Level) bool { return true }
func (h *logText) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logText) WithGroup(string) slog.Handler            { return h }
func (h *logText) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		h.b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	h.b.WriteString("\n")
	return nil
}

func (h *logText) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.b.String()
}

// TestNew_RefusesAJWTVerifierNotBuiltByItsConstructor: New refuses a zero
// verifier.Verifier or MultiVerifier as Config.Verifier, which would
// refuse every token, instead of starting a server that answers every
// call Unavailable.
func TestNew_RefusesAJWTVerifierNotBuiltByItsConstructor(t *testing.T) {
	for name, v := range map[string]TokenVerifier{
		"zero Verifier":      &verifier.Verifier{},
		"zero MultiVerifier": &verifier.MultiVerifier{},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := New(Config{Verifier: v})
			if err == nil || !strings.HasPrefix(err.Error(), "grpcauth: Config.Verifier was not built with verifier.New") {
				t.Fatalf("New = %v, %v; want an error saying Config.Verifier was not built by its constructor", a, err)
			}
		})
	}
}

// TestNew_RefusesAnIntrospectionVerifierNotBuiltByItsConstructor: New
// refuses a zero introspect.Verifier or introspect.Combined as
// Config.Verifier, as it does the verifier package's, instead of starting a
// server that answers every call Unavailable (before, New accepted them).
func TestNew_RefusesAnIntrospectionVerifierNotBuiltByItsConstructor(t *testing.T) {
	for name, tc := range map[string]struct {
		v    TokenVerifier
		want string
	}{
		"zero introspect.Verifier": {&introspect.Verifier{}, "grpcauth: Config.Verifier was not built with introspect.New"},
		"zero introspect.Combined": {&introspect.Combined{}, "grpcauth: Config.Verifier was not built with introspect.Combine"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(Config{Verifier: tc.v}); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New error = %v; want one starting %q", err, tc.want)
			}
		})
	}
}

// wrapped is a verifier of the user's own around another, which New does
// not look into.
type wrapped struct{ TokenVerifier }

// TestInterceptor_JWTVerifierNotBuiltByItsConstructorIsUnavailable: a zero
// verifier.Verifier or MultiVerifier inside a verifier of the user's own
// (which New does not look into) makes a real
// server answer a unary and a streaming call codes.Unavailable (KEYS_UNAVAILABLE: retry, keep the token) with the
// interceptor's fixed message, which carries neither the token nor the
// verifier's detail, and the server's log holds no token either (before,
// the zero Verifier panicked, ending the server's process, and the zero
// MultiVerifier refused every token as malformed: Unauthenticated).
func TestInterceptor_JWTVerifierNotBuiltByItsConstructorIsUnavailable(t *testing.T) {
	for name, v := range map[string]TokenVerifier{
		"zero Verifier":      &verifier.Verifier{},
		"zero MultiVerifier": &verifier.MultiVerifier{},
	} {
		t.Run(name, func(t *testing.T) {
			logs := &logText{}
			e := newEnv(t, func(c *Config, _ *verifier.Config) {
				c.Verifier = wrapped{v}
				c.Logger = slog.New(logs)
			})
			tok := e.scoped(t, "test:read", "test:write")
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			_, err := callAllOf(withAuth(t.Context(), bearer(tok)), e)
			checkStatus(t, err, codes.Unavailable, ReasonKeysUnavailable)
			if msg := status.Convert(err).Message(); strings.Contains(msg, sig) || strings.Contains(msg, "not built") {
				t.Fatalf("status message %q carries the token or the verifier's detail", msg)
			}
			s, err := e.client.ServerStream(withAuth(t.Context(), bearer(tok)), &authtestv1.ServerStreamRequest{Count: 1})
			if err == nil {
				_, err = s.Recv()
			}
			checkStatus(t, err, codes.Unavailable, ReasonKeysUnavailable)
			if out := logs.String(); strings.Contains(out, sig) {
				t.Fatalf("server log holds the token:\n%s", out)
			}
		})
	}
}
