package verifier

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
)

// panickingVerifier is a jws.Verifier in which jwx panics, as a jwx bug
// that a token or a key reached would.
type panickingVerifier struct{}

func (panickingVerifier) Verify([]byte, []byte, any) error {
	jwxpanictest.Panic()
	return nil
}

// newLoggedFixture returns a fixture whose Verifier logs into the
// buffer returned.
func newLoggedFixture(t *testing.T) (*fixture, *bytes.Buffer) {
	buf := new(bytes.Buffer)
	return newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(buf, nil)) }), buf
}

// panickingFixture is newLoggedFixture's, its signatures checked by jv
// for every alg.
func panickingFixture(t *testing.T, jv jws.Verifier) (*fixture, *bytes.Buffer) {
	f, buf := newLoggedFixture(t)
	for alg := range f.v.verifiers {
		f.v.verifiers[alg] = jv
	}
	return f, buf
}

// A panic of jwx's while a token's signature is checked (a cache miss) is
// recovered: the token is refused as badly signed, the panic and its
// stack logged at error level, without the token; the verifier goes on,
// and a token verified before, a cache hit, which checks no signature, is
// still accepted.
func TestVerifyAccessToken_JWXPanicCheckingTheSignatureRefusesTheToken(t *testing.T) {
	f, buf := newLoggedFixture(t)
	cached := f.mint(t, map[string]any{"sub": "cached"})
	if _, err := f.verify(t, cached); err != nil {
		t.Fatal(err)
	}
	for alg := range f.v.verifiers {
		f.v.verifiers[alg] = panickingVerifier{}
	}
	tok := f.mint(t, map[string]any{"sub": "new"})
	c, err := f.verify(t, tok)
	e, ok := jwxpanic.Find(err)
	if !errors.Is(err, ErrBadSignature) || !ok || !e.InJWX || !c.IsZero() {
		t.Fatalf("VerifyAccessToken = %v, %v; want ErrBadSignature naming jwx's panic", c, err)
	}
	if want := `verifier: invalid signature: checking the signature panicked in jwx: "` + jwxpanictest.Text + `"`; err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
	out := buf.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "checking a token's signature panicked") ||
		!strings.Contains(out, "jwxpanictest.Panic") || strings.Contains(out, strings.Split(tok, ".")[2]) || strings.Contains(out, strings.Split(tok, ".")[1]) {
		t.Fatalf("log = %s; want the panic at error level with its stack, without the token", out)
	}
	if _, err := f.verify(t, cached); err != nil {
		t.Fatalf("cached token after the panic: %v", err)
	}
}

// inputPanickingVerifier is a jws.Verifier that panics with its input
// formatted into the panic's value, as a jwx bug could.
type inputPanickingVerifier struct{}

func (inputPanickingVerifier) Verify(input, sig []byte, _ any) error {
	panic(fmt.Sprintf("jws: cannot verify %q with %q", input, sig))
}

// A panic whose value holds the token's signing input (jwx formatting its
// input into the panic) reaches neither the error nor the log whole: the
// value is clipped to jwxpanic.MaxValue bytes, short of the token's
// payload.
func TestVerifyAccessToken_PanicValueHoldingTheTokenIsClippedInErrorAndLog(t *testing.T) {
	f, buf := panickingFixture(t, inputPanickingVerifier{})
	tok := f.mint(t, map[string]any{"sub": "new"})
	_, err := f.verify(t, tok)
	e, ok := jwxpanic.Find(err)
	if !ok || e.InJWX || len(e.Value) > jwxpanic.MaxValue+len("…(9999 bytes)") {
		t.Fatalf("VerifyAccessToken = %v; want a panic outside jwx, its value clipped", err)
	}
	payload := strings.Split(tok, ".")[1]
	if strings.Contains(err.Error(), payload) || strings.Contains(buf.String(), payload) {
		t.Fatalf("the token's payload reached the error or the log:\nerror: %v\nlog: %s", err, buf.String())
	}
}

// A token that makes jwx panic is anyone's to send, again and again: each
// refusal is logged, but the panic's stack (a few KB) at most once a
// minute per Verifier, the other records saying it was omitted.
func TestVerifyAccessToken_JWXPanicStackIsLoggedAtMostOnceAMinute(t *testing.T) {
	f, buf := panickingFixture(t, panickingVerifier{})
	tok := f.mint(t, map[string]any{"sub": "new"})
	for i, wantStack := range []bool{true, false, false, true} {
		if i == 3 {
			f.clk.Advance(jwxpanic.StackEvery)
		}
		buf.Reset()
		if _, err := f.verify(t, tok); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("attempt %d: VerifyAccessToken = %v; want ErrBadSignature", i, err)
		}
		out := buf.String()
		if !strings.Contains(out, "checking a token's signature panicked") || strings.Contains(out, "jwxpanictest.Panic") != wantStack {
			t.Fatalf("attempt %d: log = %s; want the refusal, with the stack: %v", i, out, wantStack)
		}
		if !wantStack && len(out) > 600 {
			t.Fatalf("attempt %d: log of %d bytes without the stack: %s", i, len(out), out)
		}
	}
}
