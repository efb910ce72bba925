package verifier_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/closetest"
	"github.com/grpcauth/grpcauth/internal/jwt"
	"github.com/grpcauth/grpcauth/verifier"
)

// The interceptor takes a MultiVerifier as its Config.Verifier.
var _ grpcauth.TokenVerifier = (*verifier.MultiVerifier)(nil)

// countingTransport counts every HTTP request a verifier makes.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// multiEnv is two RS256 issuers, A (Okta-shaped) and B (RFC 9068-shaped,
// profile required), and a MultiVerifier for both.
type multiEnv struct {
	clk  *clock
	a, b *grpcauthtest.Issuer
	m    *verifier.MultiVerifier
	http *countingTransport
}

func newMultiEnv(t *testing.T) *multiEnv {
	t.Helper()
	e := &multiEnv{clk: newClock()}
	e.a = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/tenant-a", Audience: "api://a", Now: e.clk.Now})
	e.b = grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/tenant-b", Audience: "api://b", Algorithm: "RS256",
		Shape: grpcauthtest.ShapeRFC9068, Now: e.clk.Now})
	tr := &http.Transport{DisableKeepAlives: true}
	e.http = &countingTransport{base: tr}
	client := &http.Client{Transport: e.http}
	quiet := slog.New(slog.DiscardHandler)
	m, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: e.a.URL(), Audiences: []string{"api://a"}, Now: e.clk.Now, HTTPClient: client, Logger: quiet},
		verifier.Config{Issuer: e.b.URL(), Audiences: []string{"api://b"}, Now: e.clk.Now, HTTPClient: client, Logger: quiet,
			RequireAccessTokenProfile: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.m = m
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func mintOn(t *testing.T, iss *grpcauthtest.Issuer, claims map[string]any, opts ...grpcauthtest.MintOption) string {
	t.Helper()
	tok, err := iss.Mint(claims, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawToken builds a compact JWS from a header and payload JSON and a
// signature part, without signing: for tokens rejected before any key work.
func rawToken(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
}

// paddedPayload is rawToken with the payload base64url-encoded with "="
// padding, which the strict decoder refuses.
func paddedPayload(header, payload string) string {
	if len(payload)%3 == 0 {
		payload += " " // make padding necessary
	}
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.URLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestMulti_EachIssuersTokensVerifyWithThatIssuersSettings(t *testing.T) {
	e := newMultiEnv(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		token  string
		want   error  // nil: verifies
		issuer string // with want nil: Claims.Issuer()
	}{
		{name: "A's token", token: mintOn(t, e.a, nil, grpcauthtest.WithScopes("items:read")), issuer: e.a.URL()},
		{name: "B's token", token: mintOn(t, e.b, nil, grpcauthtest.WithScopes("items:read")), issuer: e.b.URL()},
		{name: "A's token for B's audience", token: mintOn(t, e.a, map[string]any{"aud": "api://b"}), want: verifier.ErrAudience},
		{name: "B's token for A's audience", token: mintOn(t, e.b, map[string]any{"aud": "api://a"}), want: verifier.ErrAudience},
		// B requires RFC 9068; A does not: settings are per issuer.
		{name: "Okta-shaped token at B", token: mintOn(t, e.b, nil, grpcauthtest.WithShape(grpcauthtest.ShapeOkta)), want: verifier.ErrClaims},
		{name: "RFC 9068 token at A", token: mintOn(t, e.a, nil, grpcauthtest.WithShape(grpcauthtest.ShapeRFC9068)), issuer: e.a.URL()},
		{name: "expired at A", token: mintOn(t, e.a, map[string]any{"exp": e.clk.Now().Add(-time.Hour)}), want: verifier.ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.m.VerifyAccessToken(ctx, tc.token)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !c.IsZero() {
					t.Fatalf("got %v, %v; want %v", c, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer() != tc.issuer {
				t.Fatalf("issuer %q, want %q", c.Issuer(), tc.issuer)
			}
		})
	}
}

func TestMulti_UnknownOrMissingIssuerIsRejectedWithoutAnyRequest(t *testing.T) {
	e := newMultiEnv(t)
	// Past MinRefreshInterval, so an unknown kid handed to either issuer's
	// key set would trigger a fetch: a misrouted token would show.
	e.clk.Advance(time.Hour)
	jwksA, jwksB, requests := e.a.JWKSRequests(), e.b.JWKSRequests(), e.http.n.Load()

	hdr := `{"alg":"RS256","kid":"no-such-kid"}`
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"another issuer", rawToken(hdr, `{"iss":"https://evil.example/oauth2/default","aud":"api://a"}`, "c2ln"), verifier.ErrIssuer},
		{"A with a trailing slash", rawToken(hdr, `{"iss":"`+e.a.URL()+`/","aud":"api://a"}`, "c2ln"), verifier.ErrIssuer},
		{"B in upper case", rawToken(hdr, `{"iss":"`+strings.ToUpper(e.b.URL())+`"}`, "c2ln"), verifier.ErrIssuer},
		{"no iss", rawToken(hdr, `{"aud":"api://a"}`, "c2ln"), verifier.ErrIssuer},
		{"null iss", rawToken(hdr, `{"iss":null}`, "c2ln"), verifier.ErrIssuer},
		{"empty iss", rawToken(hdr, `{"iss":""}`, "c2ln"), verifier.ErrIssuer},
		{"A's iss overridden by a later member", rawToken(hdr, `{"iss":"`+e.a.URL()+`","iss":"https://evil.example"}`, "c2ln"), verifier.ErrIssuer},
		{"iss in an array", rawToken(hdr, `{"iss":["`+e.a.URL()+`"]}`, "c2ln"), verifier.ErrMalformed},
		{"iss a number", rawToken(hdr, `{"iss":1}`, "c2ln"), verifier.ErrMalformed},
		{"payload not an object", rawToken(hdr, `["`+e.a.URL()+`"]`, "c2ln"), verifier.ErrMalformed},
		{"trailing garbage after the object", rawToken(hdr, `{"iss":"`+e.a.URL()+`"}}`, "c2ln"), verifier.ErrMalformed},
		{"two parts", "eyJ.eyJ", verifier.ErrMalformed},
		{"five parts (JWE)", "a.b.c.d.e", verifier.ErrMalformed},
		{"padded base64 payload", paddedPayload(hdr, `{"iss":"`+e.a.URL()+`"}`), verifier.ErrMalformed},
		{"line break", strings.Replace(rawToken(hdr, `{"iss":"x"}`, "c2ln"), ".", ".\n", 1), verifier.ErrMalformed},
		{"empty", "", verifier.ErrMalformed},
		{"larger than any MaxTokenSize", rawToken(hdr, `{"iss":"`+e.a.URL()+`","x":"`+strings.Repeat("a", verifier.DefaultMaxTokenSize)+`"}`, "c2ln"), verifier.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.m.VerifyAccessToken(context.Background(), tc.token)
			if !errors.Is(err, tc.want) || !c.IsZero() {
				t.Fatalf("got %v, %v; want %v", c, err, tc.want)
			}
		})
	}
	if a, b, n := e.a.JWKSRequests(), e.b.JWKSRequests(), e.http.n.Load(); a != jwksA || b != jwksB || n != requests {
		t.Fatalf("JWKS requests A %d→%d, B %d→%d, all HTTP %d→%d; want no change", jwksA, a, jwksB, b, requests, n)
	}

	// The control: the same unknown kid under B's own iss does reach B's
	// key set, which fetches.
	tok := rawToken(`{"alg":"RS256","kid":"no-such-kid","typ":"at+jwt"}`, fmt.Sprintf(
		`{"iss":%q,"aud":"api://b","sub":"s","client_id":"c","jti":"j","iat":%d,"exp":%d}`,
		e.b.URL(), e.clk.Now().Unix(), e.clk.Now().Add(time.Hour).Unix()), "c2ln")
	if _, err := e.m.VerifyAccessToken(context.Background(), tok); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatalf("unknown kid at B: %v, want ErrUnknownKey", err)
	}
	if e.b.JWKSRequests() != jwksB+1 || e.a.JWKSRequests() != jwksA {
		t.Fatalf("control: JWKS requests A %d, B %d; want A %d, B %d", e.a.JWKSRequests(), e.b.JWKSRequests(), jwksA, jwksB+1)
	}
}

func TestMulti_AKeyNeverVerifiesATokenClaimingB(t *testing.T) {
	e := newMultiEnv(t)
	e.clk.Advance(time.Hour) // let an unknown kid refresh B's set, so ErrUnknownKey is final
	b9068 := map[string]any{"iss": e.b.URL(), "aud": "api://b", "client_id": "c"}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		// Signed by A's key with A's kid, claiming B: B's set has no such kid.
		{"A's key and kid", mintOn(t, e.a, b9068, grpcauthtest.WithShape(grpcauthtest.ShapeRFC9068)), verifier.ErrUnknownKey},
		// Signed by A's key under B's kid: B's key does not verify it.
		{"A's key under B's kid", mintOn(t, e.a, b9068, grpcauthtest.WithShape(grpcauthtest.ShapeRFC9068),
			grpcauthtest.WithKidHeader(e.b.KeyID())), verifier.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.m.VerifyAccessToken(context.Background(), tc.token)
			if !errors.Is(err, tc.want) || !c.IsZero() {
				t.Fatalf("got %v, %v; want %v", c, err, tc.want)
			}
		})
	}
	// Control: the same construction claiming A verifies, so the failures
	// above come from B's key set alone.
	good := mintOn(t, e.a, nil, grpcauthtest.WithShape(grpcauthtest.ShapeRFC9068))
	if _, err := e.m.VerifyAccessToken(context.Background(), good); err != nil {
		t.Fatalf("control token at A: %v", err)
	}
}

func TestMulti_ConstructorRejectsBadConfigs(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	good := verifier.Config{Issuer: iss.URL(), Audiences: []string{iss.Audience()}, Logger: slog.New(slog.DiscardHandler)}
	other := good
	other.Issuer = iss.URL() + "/other"
	noAud := other
	noAud.Audiences = nil
	tests := []struct {
		name string
		cfgs []verifier.Config
		want string
	}{
		{"none", nil, "at least one Config"},
		{"duplicate issuer", []verifier.Config{good, other, good}, "config 2: issuer"},
		{"an invalid config after good ones", []verifier.Config{good, other, noAud}, "config 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := verifier.NewMulti(context.Background(), tc.cfgs...)
			if err == nil || m != nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "verifier: ") {
				t.Fatalf("got %v, %v; want an error containing %q", m, err, tc.want)
			}
		})
	}
	// The Verifiers created before the failure were closed: TestMain's
	// goleak check would report their refresh goroutines.
}

// An invalid Config's error names its issuer without what a URL may hide
// a secret in: its userinfo and query. Such an error is usually logged at
// start-up.
func TestMulti_InvalidIssuerIsNamedWithoutItsSecrets(t *testing.T) {
	for _, issuer := range []string{
		"https://rs:hunter2@idp.example/oauth2/default",
		"https://idp.example/oauth2/default?key=hunter2",
		"https://rs:hunter2?x@idp.example/oauth2/default",
		// A password starting with digits parses: its start is the port,
		// the rest is in the path, query or fragment.
		"https://rs:2718/hunter2@idp.example/oauth2/default",
		"https://rs:2718?hunter2@idp.example/oauth2/default",
		"https://rs:2718#hunter2@idp.example/oauth2/default",
	} {
		m, err := verifier.NewMulti(context.Background(), verifier.Config{Issuer: issuer, Audiences: []string{"api"}})
		if err == nil || m != nil || !strings.Contains(err.Error(), "config 0") || strings.Contains(err.Error(), "hunter") ||
			strings.Contains(err.Error(), "2718") {
			t.Errorf("NewMulti(Issuer %q) = %v, want an error naming config 0 without the URL's secrets", issuer, err)
		}
	}
}

func TestMulti_ReadyNamesTheIssuerWithoutKeysWhileOthersVerify(t *testing.T) {
	clk := newClock()
	a := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/up", Now: clk.Now})
	down := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Path: "/down"})
	downURL := down.URL()
	down.Close()
	quiet := slog.New(slog.DiscardHandler)
	m, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: a.URL(), Audiences: []string{a.Audience()}, Now: clk.Now, Logger: quiet},
		verifier.Config{Issuer: downURL, Audiences: []string{a.Audience()}, Logger: quiet},
	)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.Issuers(); !slices.Equal(got, []string{a.URL(), downURL}) {
		t.Fatalf("Issuers() = %v", got)
	}
	if m.Verifier(a.URL()) == nil || m.Verifier("https://nope.example") != nil {
		t.Fatal("Verifier(issuer) lookup")
	}
	if err := m.Verifier(a.URL()).Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.VerifyAccessToken(context.Background(), mintOn(t, a, nil)); err != nil {
		t.Fatalf("the reachable issuer's token: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = m.Ready(ctx)
	if !errors.Is(err, verifier.ErrKeysUnavailable) || !strings.Contains(err.Error(), downURL) || strings.Contains(err.Error(), a.URL()+`"`) {
		t.Fatalf("Ready = %v; want ErrKeysUnavailable naming only %s", err, downURL)
	}
}

func TestMulti_CloseEndsEveryGoroutineAndLaterCallsFail(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	clk := newClock()
	a, err := grpcauthtest.Start(grpcauthtest.Config{Path: "/a", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := grpcauthtest.Start(grpcauthtest.Config{Path: "/b", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: a.URL(), Audiences: []string{a.Audience()}, Now: clk.Now},
		verifier.Config{Issuer: b.URL(), Audiences: []string{b.Audience()}, Now: clk.Now},
	)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, iss := range []*grpcauthtest.Issuer{a, b} {
		tok := mintOn(t, iss, nil)
		wg.Go(func() {
			if _, err := m.VerifyAccessToken(context.Background(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.VerifyAccessToken(context.Background(), mintOn(t, a, nil)); !errors.Is(err, verifier.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	if err := m.Ready(context.Background()); !errors.Is(err, verifier.ErrClosed) {
		t.Fatalf("Ready after Close: %v, want ErrClosed", err)
	}
	a.Close()
	b.Close()
	goleak.VerifyNone(t, ignore)
}

// A Close of the MultiVerifier called while another waits for an
// issuer's key-set fetch to end returns only once it has.
func TestMulti_SecondCloseWaitsForTheFirstToFinish(t *testing.T) {
	tr := closetest.NewTransport()
	m, err := verifier.NewMulti(context.Background(), verifier.Config{Issuer: "https://issuer.example",
		Audiences: []string{"api"}, JWKSURL: "https://issuer.example/jwks", HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	<-tr.Entered() // NewMulti's first fetch
	closetest.SecondCloseWaits(t, tr, m.Close)
}

func TestMulti_IDTokensAreRoutedToo(t *testing.T) {
	e := newMultiEnv(t)
	id := mintOn(t, e.b, map[string]any{"aud": "app-1", "nonce": "n-1"}, grpcauthtest.WithShape(grpcauthtest.ShapeOkta))
	c, err := e.m.VerifyIDToken(context.Background(), id, "app-1", "n-1")
	if err != nil || c.Issuer() != e.b.URL() {
		t.Fatalf("got %v, %v", c, err)
	}
	if _, err := e.m.VerifyIDToken(context.Background(), id, "app-2", ""); !errors.Is(err, verifier.ErrAudience) {
		t.Fatalf("other client: %v, want ErrAudience", err)
	}
}

// TestMulti_GarbageIsRefusedAsByALoneVerifier: what a lone Verifier
// refuses for its form (or for a missing client id) a MultiVerifier
// refuses with the same sentinel, which the grpcauth interceptors map to
// the same code and reason, whether the token is an access or an ID
// token. A VerifyIDToken call without a client id is the caller's mistake
// whatever the token: ErrAudience, as the Verifier says, before the token
// is looked at.
func TestMulti_GarbageIsRefusedAsByALoneVerifier(t *testing.T) {
	e := newMultiEnv(t)
	lone, err := verifier.New(context.Background(), verifier.Config{Issuer: e.a.URL(), Audiences: []string{"api://a"},
		JWKSURL: "http://127.0.0.1:1/keys", Now: e.clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lone.Close() })
	good := mintOn(t, e.a, nil)
	sentinels := []error{verifier.ErrMalformed, verifier.ErrAlgorithm, verifier.ErrExpired, verifier.ErrNotYetValid,
		verifier.ErrBadSignature, verifier.ErrUnknownKey, verifier.ErrIssuer, verifier.ErrAudience, verifier.ErrClaims,
		verifier.ErrKeysUnavailable, verifier.ErrClosed}
	kind := func(err error) error {
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return s
			}
		}
		return err
	}
	ctx := context.Background()
	for name, tok := range map[string]string{
		"empty": "", "a dot": ".", "two parts": "a.b", "three empty parts": "..", "1 MiB": strings.Repeat("a", 1<<20),
		"bad base64": "x!.y.z", "no signature": strings.Join(strings.Split(good, ".")[:2], ".") + ".",
	} {
		for _, clientID := range []string{"app-1", ""} {
			_, l := lone.VerifyIDToken(ctx, tok, clientID, "")
			_, m := e.m.VerifyIDToken(ctx, tok, clientID, "")
			if kind(l) != kind(m) {
				t.Errorf("%s, VerifyIDToken(client id %q): lone %v, multi %v", name, clientID, l, m)
			}
		}
		_, l := lone.VerifyAccessToken(ctx, tok)
		_, m := e.m.VerifyAccessToken(ctx, tok)
		if kind(l) != kind(m) || !errors.Is(l, verifier.ErrMalformed) && !errors.Is(l, verifier.ErrBadSignature) {
			t.Errorf("%s, VerifyAccessToken: lone %v, multi %v; want one refusal for the form", name, l, m)
		}
	}
}

// FuzzMultiVerifier checks the routing decision against a reference decoding
// with encoding/json: a token whose payload names a configured issuer never
// fails with ErrIssuer, one naming another issuer always does, and nothing
// panics or verifies. A payload with a string iss that the parser refuses
// for its form or a registered claim's type (a numeric aud, a member "ISS"
// beside iss), which the reference does not judge, fails with ErrMalformed
// whatever its iss, as it does with a lone Verifier. No key set is ever
// loaded (the issuers' JWKS URLs refuse connections) and ctx is cancelled,
// so no call blocks.
func FuzzMultiVerifier(f *testing.F) {
	const issA, issB = "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"
	hdr := `{"alg":"RS256","kid":"k"}`
	for _, seed := range []string{
		rawToken(hdr, `{"iss":"`+issA+`","aud":"x","exp":99999999999}`, "c2ln"),
		rawToken(hdr, `{"iss":"`+issB+`"}`, "c2ln"),
		rawToken(hdr, `{"iss":"http:\/\/127.0.0.1:1\/a"}`, "c2ln"),
		rawToken(hdr, `{"iss":"`+issA+`","iss":"evil"}`, "c2ln"),
		rawToken(hdr, `{"iss":"evil"}`, "c2ln"),
		rawToken(hdr, `{"iss":1}`, ""),
		"a.b.c", "", "..", "eyJ9.eyJ9.",
	} {
		f.Add(seed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	quiet := slog.New(slog.DiscardHandler)
	cfg := func(iss string) verifier.Config {
		return verifier.Config{Issuer: iss, SkipAudienceCheck: true, JWKSURL: "http://127.0.0.1:1/keys",
			Logger: quiet, Now: func() time.Time { return time.Unix(1_900_000_000, 0) }}
	}
	m, err := verifier.NewMulti(context.Background(), cfg(issA), cfg(issB))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	f.Fuzz(func(t *testing.T, token string) {
		c, err := m.VerifyAccessToken(ctx, token)
		if err == nil || !c.IsZero() {
			t.Fatalf("verified without keys: %v, %v", c, err)
		}
		iss, payload, ok := referenceIssuer(token)
		if !ok {
			return
		}
		if _, perr := jwt.ParseClaims(payload); perr != nil {
			if !errors.Is(err, verifier.ErrMalformed) {
				t.Fatalf("iss %q in a payload the parser refuses (%v): %v, want ErrMalformed", iss, perr, err)
			}
			return
		}
		configured := iss == issA || iss == issB
		if configured == errors.Is(err, verifier.ErrIssuer) {
			t.Fatalf("iss %q (configured %v): %v", iss, configured, err)
		}
	})
}

// referenceIssuer decodes a token's iss the slow, obvious way, and returns
// it with the decoded payload, reporting false when the token is not a
// compact JWS within the default size whose payload is a JSON object (in
// UTF-8, RFC 8259, 8.1) with a string iss.
func referenceIssuer(token string) (iss string, payload []byte, ok bool) {
	parts := strings.Split(token, ".")
	if len(token) > verifier.DefaultMaxTokenSize || len(parts) != 3 || strings.ContainsAny(token, "\r\n") {
		return "", nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil || !utf8.Valid(b) {
		return "", nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || m == nil {
		return "", nil, false
	}
	if raw, ok := m["iss"]; !ok || json.Unmarshal(raw, &iss) != nil || string(raw) == "null" {
		return "", nil, false
	}
	return iss, b, true
}

// Two authorization servers behind one interceptor: here two in-process test
// issuers standing in for, say, an Okta org being migrated to an Auth0
// tenant. Each issuer keeps its own key set, audience and settings.
func ExampleNewMulti() {
	okta, err := grpcauthtest.Start(grpcauthtest.Config{Path: "/oauth2/default", Audience: "api://items"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer okta.Close()
	auth0, err := grpcauthtest.Start(grpcauthtest.Config{Path: "/", Audience: "https://items.example", Shape: grpcauthtest.ShapeRFC9068})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer auth0.Close()

	ctx := context.Background()
	multi, err := verifier.NewMulti(ctx,
		verifier.Config{Issuer: okta.URL(), Audiences: []string{"api://items"}},
		verifier.Config{Issuer: auth0.URL(), Audiences: []string{"https://items.example"}, RequireAccessTokenProfile: true},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer multi.Close()

	// The interceptor takes it like a single verifier.
	if _, err := grpcauth.New(grpcauth.Config{Verifier: multi}); err != nil {
		fmt.Println(err)
		return
	}

	for _, iss := range []*grpcauthtest.Issuer{okta, auth0} {
		tok, _ := iss.Token("svc", "items:read")
		claims, err := multi.VerifyAccessToken(ctx, tok)
		fmt.Println(claims.Issuer() == iss.URL(), claims.Scopes(), err)
	}
	forged, _ := okta.Mint(map[string]any{"iss": "https://evil.example/"})
	_, err = multi.VerifyAccessToken(ctx, forged)
	fmt.Println(errors.Is(err, verifier.ErrIssuer))
	// Output:
	// true [items:read] <nil>
	// true [items:read] <nil>
	// true
}

// BenchmarkMulti_CacheHit compares a cache hit through a MultiVerifier (a
// lookup in each issuer's cache until one holds the token, here the
// second, then that issuer's cache hit) with a hit on that issuer's
// Verifier directly, same token, same run.
func BenchmarkMulti_CacheHit(b *testing.B) {
	clk := newClock()
	a := grpcauthtest.NewIssuer(b, grpcauthtest.Config{Path: "/a", Now: clk.Now})
	other := grpcauthtest.NewIssuer(b, grpcauthtest.Config{Path: "/b", Now: clk.Now})
	quiet := slog.New(slog.DiscardHandler)
	m, err := verifier.NewMulti(context.Background(),
		verifier.Config{Issuer: other.URL(), Audiences: []string{other.Audience()}, Now: clk.Now, Logger: quiet},
		verifier.Config{Issuer: a.URL(), Audiences: []string{a.Audience()}, Now: clk.Now, Logger: quiet},
	)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	tok, err := a.Token("svc", "items:read", "items:write")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		v    grpcauth.TokenVerifier
	}{{"single", m.Verifier(a.URL())}, {"multi", m}} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := bc.v.VerifyAccessToken(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.v.VerifyAccessToken(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
