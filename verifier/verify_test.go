package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/closetest"
)

// attacker holds keys and a key server that an attacker controls.
type attacker struct {
	rsa      *rsa.PrivateKey
	jwk      map[string]any      // public JWK of rsa, kid "attacker-kid"
	x5c      []*x509.Certificate // a self-signed certificate for rsa
	srv      *httptest.Server
	requests atomic.Int64
}

func newAttacker(t *testing.T) *attacker {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "attacker-kid")
	_ = pub.Set(jwk.AlgorithmKey, "RS256")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	crt, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	var pubMap map[string]any
	if b, err := json.Marshal(pub); err != nil || json.Unmarshal(b, &pubMap) != nil {
		t.Fatalf("JWK as a map: %v", err)
	}
	a := &attacker{rsa: k, jwk: pubMap, x5c: []*x509.Certificate{crt}}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	body, _ := json.Marshal(set)
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		_, _ = w.Write(body)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// ruleCase is one verification rule: a token, an optional config change,
// and the sentinel error expected (nil: accepted).
type ruleCase struct {
	name  string
	cfg   func(*Config)
	token func(t *testing.T, f *fixture) string
	want  error
}

// runRules runs each case against f's issuer, with a verifier built from
// f.cfg changed by the case's cfg.
func runRules(t *testing.T, f *fixture, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := f.verifierWith(t, tc.cfg)
			tok := tc.token(t, f)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := v.VerifyAccessToken(ctx, tok)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyAccessToken: %v, want success", err)
				}
				if c.Issuer() != f.iss.URL() {
					t.Fatalf("Issuer() = %q, want %q", c.Issuer(), f.iss.URL())
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyAccessToken error = %v, want %v", err, tc.want)
			}
			if !c.IsZero() {
				t.Fatalf("VerifyAccessToken returned claims with error %v", err)
			}
			if tok != "" && len(tok) > 20 && strings.Contains(err.Error(), tok) {
				t.Fatalf("error %q echoes the token", err)
			}
		})
	}
}

func TestVerifyAccessToken_Rules(t *testing.T) {
	// MaxKeyWaiters -1: the cases with unknown kids would otherwise wait for
	// the next key-set fetch the rate limit allows (key_wait_test.go).
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.MaxKeyWaiters = -1 })
	att := newAttacker(t)
	now := f.clk.Now()
	mint := func(claims map[string]any, opts ...grpcauthtest.MintOption) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string { return f.mint(t, claims, opts...) }
	}
	valid := func(t *testing.T, f *fixture) string { return f.mint(t, nil) }
	hdr := func(h map[string]any) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string {
			if _, ok := h["kid"]; !ok {
				h["kid"] = f.iss.KeyID()
			}
			return withHeader(t, f.mint(t, nil), h)
		}
	}
	mutate := func(fn func(tok string) string) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string { return fn(f.mint(t, nil)) }
	}
	pubPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(f.iss.PublicKey(f.iss.KeyID()))
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	pubJWK := func() []byte {
		k, err := jwk.FromRaw(f.iss.PublicKey(f.iss.KeyID()))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(k)
		return b
	}()
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}

	runRules(t, f, []ruleCase{
		{name: "valid token is accepted", token: valid, want: nil},

		// Algorithm confusion.
		{name: "alg none (unsigned) is rejected", token: func(t *testing.T, f *fixture) string {
			return f.mint(t, nil, grpcauthtest.Unsigned(), grpcauthtest.WithKidHeader(f.iss.KeyID()))
		}, want: ErrAlgorithm},
		{name: "alg None is rejected", token: hdr(map[string]any{"alg": "None"}), want: ErrAlgorithm},
		{name: "alg NONE is rejected", token: hdr(map[string]any{"alg": "NONE"}), want: ErrAlgorithm},
		{name: "alg nOnE with empty signature is rejected", token: mutate(func(tok string) string {
			return withHeader(t, tok[:strings.LastIndexByte(tok, '.')+1], map[string]any{"alg": "nOnE", "kid": f.iss.KeyID()})
		}), want: ErrAlgorithm},
		{name: "HS256 keyed with the public key as PEM is rejected", token: mint(nil,
			grpcauthtest.WithSigningKey(pubPEM, "HS256")), want: ErrAlgorithm},
		{name: "HS256 keyed with the public key as JWK JSON is rejected", token: mint(nil,
			grpcauthtest.WithSigningKey(pubJWK, "HS256")), want: ErrAlgorithm},
		{name: "HS512 is rejected", token: hdr(map[string]any{"alg": "HS512"}), want: ErrAlgorithm},
		{name: "unknown alg is rejected", token: hdr(map[string]any{"alg": "RS1"}), want: ErrAlgorithm},
		{name: "alg outside a narrowed allow-list is rejected", cfg: func(c *Config) { c.Algorithms = []string{"ES256"} },
			token: valid, want: ErrAlgorithm},
		{name: "alg differing from the key's alg is rejected", token: hdr(map[string]any{"alg": "PS256"}), want: ErrAlgorithm},
		{name: "alg of another family than the key is rejected", token: hdr(map[string]any{"alg": "ES256"}), want: ErrAlgorithm},

		// Key selection.
		{name: "token without kid is malformed", token: mint(nil, grpcauthtest.WithKidHeader("")), want: ErrMalformed},
		{name: "kid not in the set is an unknown key", token: mint(nil, grpcauthtest.WithKidHeader("no-such-kid")), want: ErrUnknownKey},
		{name: "another key under a known kid is a bad signature", token: mint(nil,
			grpcauthtest.WithSigningKey(otherRSA, "RS256"), grpcauthtest.WithKidHeader(f.iss.KeyID())), want: ErrBadSignature},
		{name: "jku pointing at an attacker key is ignored", token: mint(nil,
			grpcauthtest.WithSigningKey(att.rsa, "RS256"), grpcauthtest.WithKidHeader(f.iss.KeyID()),
			grpcauthtest.WithHeader("jku", att.srv.URL)), want: ErrBadSignature},
		{name: "jku with the attacker's kid is an unknown key", token: mint(nil,
			grpcauthtest.WithSigningKey(att.rsa, "RS256"), grpcauthtest.WithKidHeader("attacker-kid"),
			grpcauthtest.WithHeader("jku", att.srv.URL)), want: ErrUnknownKey},
		{name: "x5u pointing at an attacker key is ignored", token: mint(nil,
			grpcauthtest.WithSigningKey(att.rsa, "RS256"), grpcauthtest.WithKidHeader(f.iss.KeyID()),
			grpcauthtest.WithHeader("x5u", att.srv.URL)), want: ErrBadSignature},
		{name: "embedded jwk of an attacker key is ignored", token: mint(nil,
			grpcauthtest.WithSigningKey(att.rsa, "RS256"), grpcauthtest.WithKidHeader(f.iss.KeyID()),
			grpcauthtest.WithHeader("jwk", att.jwk)), want: ErrBadSignature},
		{name: "embedded jwk with the attacker's kid is an unknown key", token: mint(nil,
			grpcauthtest.WithSigningKey(att.rsa, "RS256"), grpcauthtest.WithKidHeader("attacker-kid"),
			grpcauthtest.WithHeader("jwk", att.jwk)), want: ErrUnknownKey},
		{name: "x5c with an attacker certificate is ignored", token: mint(nil,
			grpcauthtest.WithSigningKey(att.rsa, "RS256"), grpcauthtest.WithKidHeader(f.iss.KeyID()),
			grpcauthtest.WithHeader("x5c", att.x5c)), want: ErrBadSignature},
		{name: "crit header is rejected", token: mint(nil,
			grpcauthtest.WithHeader("crit", []string{"urn:example:ext"}), grpcauthtest.WithHeader("urn:example:ext", "x")),
			want: ErrMalformed},

		// Integrity.
		{name: "tampered payload is a bad signature", token: func(t *testing.T, f *fixture) string {
			tok := f.mint(t, nil)
			return withPayload(t, tok, map[string]any{"iss": f.iss.URL(), "aud": f.iss.Audience(),
				"sub": "admin", "exp": now.Add(time.Hour).Unix(), "cid": "test-client"})
		}, want: ErrBadSignature},
		{name: "truncated signature is a bad signature", token: mutate(func(tok string) string {
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			return tok[:len(tok)-len(sig)] + sig[:len(sig)/4*4-4]
		}), want: ErrBadSignature},
		{name: "empty signature is a bad signature", token: mutate(func(tok string) string {
			return tok[:strings.LastIndexByte(tok, '.')+1]
		}), want: ErrBadSignature},
		{name: "signature with a non-base64url character is malformed", token: mutate(func(tok string) string {
			return tok[:len(tok)-1] + "+"
		}), want: ErrMalformed},

		// Form.
		{name: "two-part token is malformed", token: mutate(func(tok string) string {
			return tok[:strings.LastIndexByte(tok, '.')]
		}), want: ErrMalformed},
		{name: "five-part (JWE) token is malformed", token: mutate(func(tok string) string {
			return tok + ".AAAA.BBBB"
		}), want: ErrMalformed},
		{name: "garbage is malformed", token: func(*testing.T, *fixture) string { return "this is not a token" }, want: ErrMalformed},
		{name: "empty string is malformed", token: func(*testing.T, *fixture) string { return "" }, want: ErrMalformed},
		{name: "dots only is malformed", token: func(*testing.T, *fixture) string { return ".." }, want: ErrMalformed},
		{name: "token over MaxTokenSize is malformed", token: mint(map[string]any{"pad": strings.Repeat("x", 70<<10)}),
			want: ErrMalformed},
		{name: "token over a lowered MaxTokenSize is malformed", cfg: func(c *Config) { c.MaxTokenSize = 100 },
			token: valid, want: ErrMalformed},
		{name: "padded base64 header is malformed", token: mutate(func(tok string) string {
			i := strings.IndexByte(tok, '.')
			return tok[:i] + "=" + tok[i:]
		}), want: ErrMalformed},
		{name: "newline inside the token is malformed", token: mutate(func(tok string) string {
			return tok[:10] + "\n" + tok[10:]
		}), want: ErrMalformed},
		{name: "header that is not JSON is malformed", token: mutate(func(tok string) string {
			return "bm90IGpzb24" + tok[strings.IndexByte(tok, '.'):]
		}), want: ErrMalformed},
		{name: "header with a numeric kid is malformed", token: hdr(map[string]any{"alg": "RS256", "kid": 7}), want: ErrMalformed},
		{name: "header with alg in other case as member name is malformed", token: hdr(map[string]any{"ALG": "RS256"}), want: ErrMalformed},
		{name: "signed header with a member differing from alg only in case is malformed", token: mint(nil,
			grpcauthtest.WithHeader("ALG", "none")), want: ErrMalformed},
		{name: "signed claims with a member differing from iss only in case are malformed", token: mint(map[string]any{"ISS": "https://evil.example"}),
			want: ErrMalformed},
		{name: "payload that is not JSON is malformed", token: mutate(func(tok string) string {
			p := strings.Split(tok, ".")
			return p[0] + ".bm90IGpzb24." + p[2]
		}), want: ErrMalformed},
		{name: "payload with trailing data is malformed", token: mutate(func(tok string) string {
			p := strings.Split(tok, ".")
			return p[0] + "." + b64raw(`{"iss":"x"}}`) + "." + p[2]
		}), want: ErrMalformed},

		// Time.
		{name: "expired token is rejected", token: mint(map[string]any{"iat": now.Add(-time.Hour), "exp": now.Add(-2 * time.Minute)}),
			want: ErrExpired},
		{name: "token expired within the skew is accepted", token: mint(map[string]any{"exp": now.Add(-30 * time.Second)}), want: nil},
		{name: "token expiring now is rejected without skew", cfg: func(c *Config) { c.ClockSkew = -1 },
			token: mint(map[string]any{"exp": now}), want: ErrExpired},
		{name: "token expired 4m ago is accepted with a 5m skew", cfg: func(c *Config) { c.ClockSkew = 5 * time.Minute },
			token: mint(map[string]any{"exp": now.Add(-4 * time.Minute)}), want: nil},
		{name: "nbf beyond the skew is not yet valid", token: mint(map[string]any{"nbf": now.Add(2 * time.Minute)}), want: ErrNotYetValid},
		{name: "nbf within the skew is accepted", token: mint(map[string]any{"nbf": now.Add(30 * time.Second)}), want: nil},
		{name: "iat beyond the skew is not yet valid", token: mint(map[string]any{"iat": now.Add(2 * time.Minute)}), want: ErrNotYetValid},
		{name: "iat within the skew is accepted", token: mint(map[string]any{"iat": now.Add(30 * time.Second)}), want: nil},
		{name: "missing exp is a claim error", token: mint(map[string]any{"exp": nil}), want: ErrClaims},
		{name: "non-numeric exp is malformed", token: mint(map[string]any{"exp": "soon"}), want: ErrMalformed},
		{name: "exp as a numeric string is malformed", token: mint(map[string]any{"exp": "1800003600"}), want: ErrMalformed},
		{name: "negative exp is malformed", token: mint(map[string]any{"exp": -1}), want: ErrMalformed},
		{name: "fractional exp is accepted", token: mint(map[string]any{"exp": float64(now.Unix()) + 3600.5}), want: nil},

		// Issuer and audience.
		{name: "wrong issuer is rejected", token: mint(map[string]any{"iss": "https://evil.example/oauth2/default"}), want: ErrIssuer},
		{name: "issuer with a trailing slash is rejected", token: func(t *testing.T, f *fixture) string {
			return f.mint(t, map[string]any{"iss": f.iss.URL() + "/"})
		}, want: ErrIssuer},
		{name: "missing issuer is rejected", token: mint(map[string]any{"iss": nil}), want: ErrIssuer},
		{name: "numeric issuer is malformed", token: mint(map[string]any{"iss": 1}), want: ErrMalformed},
		{name: "wrong audience is rejected", token: mint(map[string]any{"aud": "api://other"}), want: ErrAudience},
		{name: "missing audience is rejected", token: mint(map[string]any{"aud": nil}), want: ErrAudience},
		{name: "audience array naming ours is accepted", token: mint(map[string]any{"aud": []string{"api://other", "api://default"}}), want: nil},
		{name: "audience array without ours is rejected", token: mint(map[string]any{"aud": []string{"api://other", "api://default/"}}), want: ErrAudience},
		{name: "second configured audience is accepted", cfg: func(c *Config) { c.Audiences = []string{"api://a", "api://b"} },
			token: mint(map[string]any{"aud": "api://b"}), want: nil},
		{name: "SkipAudienceCheck accepts any audience", cfg: func(c *Config) { c.Audiences = nil; c.SkipAudienceCheck = true },
			token: mint(map[string]any{"aud": nil}), want: nil},

		// Client ids and assertions.
		{name: "allowed client id is accepted", cfg: func(c *Config) { c.ClientIDs = []string{"other", "test-client"} }, token: valid, want: nil},
		{name: "client id outside the allow-list is rejected", cfg: func(c *Config) { c.ClientIDs = []string{"other"} }, token: valid, want: ErrClaims},
		{name: "client id from azp is checked", cfg: func(c *Config) { c.ClientIDs = []string{"web"} },
			token: mint(map[string]any{"cid": nil, "azp": "web"}), want: nil},
		{name: "missing client id is rejected by the allow-list", cfg: func(c *Config) { c.ClientIDs = []string{"test-client"} },
			token: mint(map[string]any{"cid": nil}), want: ErrClaims},
		{name: "asserted string matches an array element", cfg: func(c *Config) { c.AssertClaims = map[string]any{"groups": "admin"} },
			token: mint(map[string]any{"groups": []string{"users", "admin"}}), want: nil},
		{name: "asserted string never matches a substring of an element", cfg: func(c *Config) { c.AssertClaims = map[string]any{"groups": "admin"} },
			token: mint(map[string]any{"groups": []string{"administrators", "admin:read"}}), want: ErrClaims},
		{name: "asserted string never matches a substring of a string", cfg: func(c *Config) { c.AssertClaims = map[string]any{"groups": "admin"} },
			token: mint(map[string]any{"groups": "superadmin admin:read"}), want: ErrClaims},
		{name: "asserted list requires every element", cfg: func(c *Config) { c.AssertClaims = map[string]any{"groups": []string{"a", "b"}} },
			token: mint(map[string]any{"groups": []string{"a", "c"}}), want: ErrClaims},
		{name: "asserted list is satisfied by a superset", cfg: func(c *Config) { c.AssertClaims = map[string]any{"groups": []string{"a", "b"}} },
			token: mint(map[string]any{"groups": []string{"c", "b", "a"}}), want: nil},
		{name: "asserted number matches numerically", cfg: func(c *Config) { c.AssertClaims = map[string]any{"ver": 1} },
			token: mint(map[string]any{"ver": 1.0}), want: nil},
		{name: "asserted number rejects another number", cfg: func(c *Config) { c.AssertClaims = map[string]any{"ver": 2} },
			token: valid, want: ErrClaims},
		{name: "asserted number does not match its string form", cfg: func(c *Config) { c.AssertClaims = map[string]any{"ver": 1} },
			token: mint(map[string]any{"ver": "1"}), want: ErrClaims},
		{name: "asserted decimal float matches the token's decimal", cfg: func(c *Config) { c.AssertClaims = map[string]any{"level": 0.1} },
			token: mint(map[string]any{"level": json.RawMessage("0.1")}), want: nil},
		{name: "asserted number next to numbers too large to compare", cfg: func(c *Config) { c.AssertClaims = map[string]any{"tenant": 42} },
			token: mint(map[string]any{"tenant": json.RawMessage("[1e999999,1e-999999,42]")}), want: nil},
		{name: "a number too large to compare matches nothing", cfg: func(c *Config) { c.AssertClaims = map[string]any{"tenant": 42} },
			token: mint(map[string]any{"tenant": json.RawMessage("1e999999")}), want: ErrClaims},
		{name: "asserted bool matches", cfg: func(c *Config) { c.AssertClaims = map[string]any{"mfa": true} },
			token: mint(map[string]any{"mfa": true}), want: nil},
		{name: "asserted claim missing is rejected", cfg: func(c *Config) { c.AssertClaims = map[string]any{"mfa": true} },
			token: valid, want: ErrClaims},
	})

	if n := att.requests.Load(); n != 0 {
		t.Errorf("the attacker's key server was requested %d times; jku/x5u must never be fetched", n)
	}
}

func b64raw(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyAccessToken_AccessTokenProfile(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Shape: grpcauthtest.ShapeRFC9068}, func(c *Config) {
		c.RequireAccessTokenProfile = true
	})
	mint := func(claims map[string]any, opts ...grpcauthtest.MintOption) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string { return f.mint(t, claims, opts...) }
	}
	runRules(t, f, []ruleCase{
		{name: "typ at+jwt with every required claim is accepted", token: mint(nil), want: nil},
		{name: "typ application/at+jwt is accepted", token: mint(nil, grpcauthtest.WithHeader("typ", "application/at+jwt")), want: nil},
		{name: "typ in upper case is accepted", token: mint(nil, grpcauthtest.WithHeader("typ", "AT+JWT")), want: nil},
		{name: "typ at+jwt with a parameter is rejected (RFC 9068, 4: no other value)", token: mint(nil, grpcauthtest.WithHeader("typ", "at+jwt; v=1")), want: ErrClaims},
		{name: "typ JWT is rejected", token: mint(nil, grpcauthtest.WithHeader("typ", "JWT")), want: ErrClaims},
		{name: "missing typ is rejected", token: func(t *testing.T, f *fixture) string {
			tok := f.mint(t, nil)
			return withHeader(t, tok, map[string]any{"alg": "RS256", "kid": f.iss.KeyID()})
		}, want: ErrClaims},
		{name: "typ of an Okta token is rejected", token: mint(nil, grpcauthtest.WithShape(grpcauthtest.ShapeOkta)), want: ErrClaims},
		{name: "missing sub is rejected", token: mint(map[string]any{"sub": nil}), want: ErrClaims},
		{name: "missing client_id is rejected", token: mint(map[string]any{"client_id": nil, "cid": "test-client"}), want: ErrClaims},
		{name: "missing iat is rejected", token: mint(map[string]any{"iat": nil}), want: ErrClaims},
		{name: "missing jti is rejected", token: mint(map[string]any{"jti": nil}), want: ErrClaims},
		{name: "missing aud is rejected even with SkipAudienceCheck", cfg: func(c *Config) { c.Audiences = nil; c.SkipAudienceCheck = true },
			token: mint(map[string]any{"aud": nil}), want: ErrClaims},
		{name: "empty sub is rejected", token: mint(map[string]any{"sub": ""}), want: ErrClaims},
		{name: "empty client_id is rejected", token: mint(map[string]any{"client_id": "", "cid": "test-client"}), want: ErrClaims},
		{name: "empty jti is rejected", token: mint(map[string]any{"jti": ""}), want: ErrClaims},
		{name: "empty aud array is rejected even with SkipAudienceCheck", cfg: func(c *Config) { c.Audiences = nil; c.SkipAudienceCheck = true },
			token: mint(map[string]any{"aud": []string{}}), want: ErrClaims},
	})
}

// Under RequireAccessTokenProfile the token's client is its client_id, the
// claim RFC 9068 defines, even when an Okta-style cid names another: for
// Claims.ClientID and for the ClientIDs allow-list. Without the profile,
// the two name no client, and the allow-list refuses the token whichever
// it names.
func TestVerifyAccessToken_ProfileTakesTheClientFromClientID(t *testing.T) {
	claims := map[string]any{"client_id": "rfc-client", "cid": "okta-app"}
	for _, tc := range []struct {
		name       string
		profile    bool
		allowed    []string
		want       error
		wantClient string
	}{
		{"profile", true, nil, nil, "rfc-client"},
		{"profile, client_id allowed", true, []string{"rfc-client"}, nil, "rfc-client"},
		{"profile, only cid allowed", true, []string{"okta-app"}, ErrClaims, ""},
		{"no profile", false, nil, nil, ""},
		{"no profile, only cid allowed", false, []string{"okta-app"}, ErrClaims, ""},
		{"no profile, both allowed", false, []string{"okta-app", "rfc-client"}, ErrClaims, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, grpcauthtest.Config{Shape: grpcauthtest.ShapeRFC9068}, func(c *Config) {
				c.RequireAccessTokenProfile, c.ClientIDs = tc.profile, tc.allowed
			})
			c, err := f.verify(t, f.mint(t, claims))
			if !errors.Is(err, tc.want) || c.ClientID() != tc.wantClient {
				t.Fatalf("got %q, %v; want %q, %v", c.ClientID(), err, tc.wantClient, tc.want)
			}
		})
	}
}

// The client of a token is the one its cid, client_id and azp name, those
// that are not empty. Issuers write one of them, or two alike (RFC 9068's
// client_id beside OIDC's azp); a token in which two
// differ carries a claim its issuer was made to add under that name (an
// Auth0 Action, a Cognito pre-token Lambda, a Keycloak mapper), perhaps
// from data its user can edit, so it names no client: Claims.ClientID is
// empty and the ClientIDs allow-list refuses it. Before, the first of cid,
// client_id and azp won, so such a claim naming an allowed client made a
// token that another client obtained pass the allow-list as that client's.
func TestVerifyAccessToken_ClientClaimsThatDisagreeNameNoClient(t *testing.T) {
	const allowed = "allowed-app"
	for _, tc := range []struct {
		name   string
		claims map[string]any
		client string // "": refused under ClientIDs
	}{
		{"azp alone (Auth0, Entra, Keycloak)", map[string]any{"azp": allowed}, allowed},
		{"client_id alone (Cognito)", map[string]any{"client_id": allowed}, allowed},
		{"cid alone (Okta)", map[string]any{"cid": allowed}, allowed},
		{"client_id and azp alike", map[string]any{"client_id": allowed, "azp": allowed}, allowed},
		{"an empty cid beside client_id", map[string]any{"cid": "", "client_id": allowed}, allowed},
		{"another client's azp with a cid naming the allowed one", map[string]any{"azp": "other-app", "cid": allowed}, ""},
		{"another client's client_id with a cid naming the allowed one", map[string]any{"client_id": "other-app", "cid": allowed}, ""},
		{"another client's azp with a client_id naming the allowed one", map[string]any{"azp": "other-app", "client_id": allowed}, ""},
		{"the allowed client's azp with a cid naming another", map[string]any{"azp": allowed, "cid": "customer-42"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.ClientIDs = []string{allowed} })
			claims := map[string]any{"cid": nil}
			maps.Copy(claims, tc.claims)
			tok := f.mint(t, claims)
			c, err := f.verify(t, tok)
			var ce *ClaimError
			switch {
			case tc.client != "" && (err != nil || c.ClientID() != tc.client):
				t.Fatalf("got client %q, %v; want %q", c.ClientID(), err, tc.client)
			case tc.client == "" && !errors.Is(err, ErrClaims):
				t.Fatalf("got client %q, %v; want ErrClaims", c.ClientID(), err)
			case tc.client == "" && (!errors.As(err, &ce) || ce.Reason != errClientIDs.Reason):
				t.Fatalf("refused with %v; want the reason to say the client claims differ", err)
			}
			open := f.verifierWith(t, func(c *Config) { c.ClientIDs = nil })
			if c, err := open.VerifyAccessToken(context.Background(), tok); err != nil || c.ClientID() != tc.client {
				t.Fatalf("without ClientIDs: ClientID() = %q, %v; want %q", c.ClientID(), err, tc.client)
			}
		})
	}
}

// Without RequireAccessTokenProfile any typ of an access token is accepted
// (Okta's tokens have none) but one that explicitly names another kind of JWT
// (RFC 8725, 3.11): a logout token (OIDC Back-Channel Logout, 2.4, aud the
// client id, exp required), a security event token (RFC 8417) or a DPoP
// proof of the same issuer is never an access token.
func TestVerifyAccessToken_OtherExplicitlyTypedJWTsAreRefused(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	typ := func(typ string) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string { return f.mint(t, nil, grpcauthtest.WithHeader("typ", typ)) }
	}
	runRules(t, f, []ruleCase{
		{name: "typ JWT is accepted", token: typ("JWT"), want: nil},
		{name: "typ at+jwt is accepted", token: typ("at+jwt"), want: nil},
		{name: "typ application/AT+JWT is accepted", token: typ("application/AT+JWT"), want: nil},
		{name: "typ logout+jwt is refused", token: typ("logout+jwt"), want: ErrClaims},
		{name: "typ application/secevent+jwt is refused", token: typ("application/secevent+jwt"), want: ErrClaims},
		{name: "typ DPOP+JWT is refused", token: typ("DPOP+JWT"), want: ErrClaims},
		// A media type may carry parameters (RFC 2045, 5.1); they do not
		// change which kind of JWT it names.
		{name: "typ logout+jwt with a parameter is refused", token: typ("logout+jwt; charset=utf-8"), want: ErrClaims},
		{name: "typ application/secevent+jwt with a parameter is refused", token: typ("application/secevent+jwt;v=1"), want: ErrClaims},
		{name: "typ at+jwt with a parameter is accepted", token: typ("at+jwt; v=1"), want: nil},
	})
}

func TestVerifyAccessToken_EveryAlgorithmFamily(t *testing.T) {
	for _, alg := range DefaultAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, grpcauthtest.Config{Algorithm: alg}, nil)
			tok := f.mint(t, nil)
			if got := headerOf(t, tok)["alg"]; got != alg {
				t.Fatalf("issuer signed with %v, want %s", got, alg)
			}
			c, err := f.verify(t, tok)
			if err != nil {
				t.Fatalf("VerifyAccessToken(%s): %v", alg, err)
			}
			if c.Subject() != grpcauthtest.DefaultClientID {
				t.Fatalf("Subject() = %q", c.Subject())
			}
			// The same claims under the right kid but a flipped signature bit.
			i := strings.LastIndexByte(tok, '.') + 2
			bad := tok[:i] + string(flipB64(tok[i])) + tok[i+1:]
			if _, err := f.verify(t, bad); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("flipped signature: %v, want ErrBadSignature", err)
			}
		})
	}
}

// flipB64 returns another base64url character that differs in its top
// bits, so the decoding stays canonical.
func flipB64(c byte) byte {
	if c == 'A' {
		return 'g'
	}
	return 'A'
}

func TestVerifyAccessToken_ScopesFromEveryClaimShape(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	cases := []struct {
		name   string
		cfg    func(*Config)
		claims map[string]any
		want   []string
	}{
		{"scp array", nil, map[string]any{"scp": []string{"items:read", "admin:read"}}, []string{"admin:read", "items:read"}},
		{"scp space-separated string", nil, map[string]any{"scp": "items:read admin:read"}, []string{"admin:read", "items:read"}},
		{"scope string", nil, map[string]any{"scope": "items:read  admin:read"}, []string{"admin:read", "items:read"}},
		{"scp and scope merged", nil, map[string]any{"scp": []string{"a"}, "scope": "b a"}, []string{"a", "b"}},
		{"permissions with custom ScopeClaims", func(c *Config) { c.ScopeClaims = []string{"permissions"} },
			map[string]any{"permissions": []string{"p:1"}, "scp": []string{"ignored"}}, []string{"p:1"}},
		{"no scopes", nil, map[string]any{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := f.verifierWith(t, tc.cfg)
			c, err := v.VerifyAccessToken(context.Background(), f.mint(t, tc.claims))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Scopes(); !slices.Equal(got, tc.want) {
				t.Fatalf("Scopes() = %q, want %q", got, tc.want)
			}
			for _, s := range tc.want {
				if !c.HasScope(s) {
					t.Fatalf("HasScope(%q) = false", s)
				}
			}
		})
	}
}

func TestVerifyAccessToken_ScopeMatchingIsExact(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	for _, claim := range []any{[]string{"admin:read", "Items:Read"}, "admin:read Items:Read"} {
		c, err := f.verify(t, f.mint(t, map[string]any{"scp": claim}))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"admin", "admin:", "read", "items:read", "ITEMS:READ", "admin:read Items:Read", ""} {
			if c.HasScope(s) {
				t.Errorf("scp %v: HasScope(%q) = true, want false", claim, s)
			}
		}
		if !c.HasScope("admin:read") || !c.HasScope("Items:Read") {
			t.Errorf("scp %v: exact scopes not found", claim)
		}
	}
}

func TestVerifyAccessToken_DiscoversKeySetFromIssuer(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.JWKSURL = "" })
	if _, err := f.verify(t, f.mint(t, nil)); err != nil {
		t.Fatalf("VerifyAccessToken with discovery: %v", err)
	}
}

func TestVerifyAccessToken_KeysUnavailableWhenIssuerIsDown(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	tok := f.mint(t, nil)
	f.iss.Close()
	v := newVerifier(t, f.cfg) // a fresh verifier that never saw the keys
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := v.VerifyAccessToken(ctx, tok); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("VerifyAccessToken = %v, want ErrKeysUnavailable", err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer rcancel()
	if err := v.Ready(rctx); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Ready = %v, want ErrKeysUnavailable", err)
	}
}

func TestVerifyAccessToken_WrongIssuerNeverFetchesKeys(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	if err := f.v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := f.iss.JWKSRequests()
	for i := range 20 {
		f.clk.Advance(time.Minute) // rate limits would allow a fetch
		tok := f.mint(t, map[string]any{"iss": "https://evil.example"}, grpcauthtest.WithKidHeader("kid-"+string(rune('a'+i))))
		if _, err := f.verify(t, tok); !errors.Is(err, ErrIssuer) {
			t.Fatalf("VerifyAccessToken = %v, want ErrIssuer", err)
		}
		if _, err := f.verify(t, "garbage."+tok); !errors.Is(err, ErrMalformed) {
			t.Fatalf("VerifyAccessToken = %v, want ErrMalformed", err)
		}
	}
	if got := f.iss.JWKSRequests(); got != before {
		t.Fatalf("JWKS fetched %d times for forged tokens, want 0", got-before)
	}
}

func TestVerifyAccessToken_ErrorsNeverEchoValues(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) {
		c.AssertClaims = map[string]any{"groups": "admin"}
		c.ClientIDs = []string{"good-client"}
	})
	secret := "s3cr3t-value-xyzzy"
	toks := []string{
		f.mint(t, map[string]any{"iss": secret}),
		f.mint(t, map[string]any{"aud": secret}),
		f.mint(t, map[string]any{"cid": secret}),
		f.mint(t, map[string]any{"cid": "good-client", "groups": secret}),
		f.mint(t, nil, grpcauthtest.WithKidHeader(secret)),
		withHeader(t, f.mint(t, nil), map[string]any{"alg": secret, "kid": "k"}),
	}
	for _, tok := range toks {
		_, err := f.verify(t, tok)
		if err == nil {
			t.Fatal("forged token accepted")
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q echoes a token value", err)
		}
	}
}

func TestVerifier_CloseStopsVerification(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	tok := f.mint(t, nil)
	if _, err := f.verify(t, tok); err != nil {
		t.Fatal(err)
	}
	if err := f.v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.v.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := f.verify(t, tok); !errors.Is(err, ErrClosed) {
		t.Fatalf("VerifyAccessToken after Close = %v, want ErrClosed", err)
	}
	if _, err := f.v.VerifyIDToken(context.Background(), tok, "c", ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("VerifyIDToken after Close = %v, want ErrClosed", err)
	}
	if err := f.v.Ready(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ready after Close = %v, want ErrClosed", err)
	}
}

// A Close called while another Close waits for a key-set fetch to end
// returns only once it has: its caller can rely on no goroutine being left.
func TestVerifier_SecondCloseWaitsForTheFirstToFinish(t *testing.T) {
	tr := closetest.NewTransport()
	v := newVerifier(t, Config{Issuer: "https://issuer.example", Audiences: []string{"api"},
		JWKSURL: "https://issuer.example/jwks", HTTPClient: &http.Client{Transport: tr}})
	<-tr.Entered() // New's first fetch
	closetest.SecondCloseWaits(t, tr, v.Close)
}

func TestVerifier_ConcurrentUseIsSafe(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{Algorithm: "EdDSA"}, nil)
	toks := make([]string, 8)
	for i := range toks {
		toks[i] = f.mint(t, map[string]any{"sub": string(rune('a' + i))})
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 200 {
				tok := toks[(g+i)%len(toks)]
				c, err := f.v.VerifyAccessToken(context.Background(), tok)
				if err == nil && c.Subject() != string(rune('a'+(g+i)%len(toks))) {
					err = errors.New("claims of another token returned")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestKeyFits(t *testing.T) {
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		alg  string
		key  any
		want bool
	}{
		{"RS256", &rsa2048.PublicKey, true},
		{"PS512", &rsa2048.PublicKey, true},
		{"RS256", &rsa1024.PublicKey, false},
		{"RS256", &p256.PublicKey, false},
		{"ES256", &p256.PublicKey, true},
		{"ES256", &p384.PublicKey, false},
		{"ES384", &p384.PublicKey, true},
		{"ES512", &p521.PublicKey, true},
		{"ES512", &p256.PublicKey, false},
		{"ES256", ed, false},
		{"EdDSA", ed, true},
		{"EdDSA", &rsa2048.PublicKey, false},
		{"EdDSA", ed25519.PublicKey(ed[:16]), false},
		{"Ed25519", ed, true},
		{"Ed25519", &rsa2048.PublicKey, false},
		{"Ed25519", &p256.PublicKey, false},
		{"Ed25519", ed25519.PublicKey(ed[:16]), false},
		{"Ed448", ed, false},
		{"HS256", &rsa2048.PublicKey, false},
		{"RS256", nil, false},
	}
	for _, tc := range cases {
		if got := keyFits(tc.alg, tc.key); got != tc.want {
			t.Errorf("keyFits(%s, %T) = %v, want %v", tc.alg, tc.key, got, tc.want)
		}
	}
}

// A key published without "alg" is used only for the algorithms its type
// fits (keyFits, where Key checks a key's "alg" when it has one): a token
// naming ES256 under the kid of such an RSA key is refused for its
// algorithm, before any signature check. TestKeyFits checks the function;
// this checks that verification calls it.
func TestVerifyAccessToken_KeyWithoutAlgIsUsedOnlyForAlgorithmsItsTypeFits(t *testing.T) {
	issuerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(&issuerKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Set(jwk.KeyIDKey, "no-alg"); err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	doc, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), `"alg"`) {
		t.Fatalf("the key set names an alg: %s", doc)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(doc) }))
	t.Cleanup(ts.Close)
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.JWKSURL = ts.URL })
	if err := f.v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}

	tok := f.mint(t, nil, grpcauthtest.WithSigningKey(issuerKey, "PS256"), grpcauthtest.WithKidHeader("no-alg"))
	if _, err := f.verify(t, tok); err != nil {
		t.Fatalf("PS256 token of the RSA key without alg: %v, want it accepted", err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok = f.mint(t, nil, grpcauthtest.WithSigningKey(ec, "ES256"), grpcauthtest.WithKidHeader("no-alg"))
	if _, err := f.verify(t, tok); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("ES256 token under the RSA key's kid: %v, want ErrAlgorithm", err)
	}
}

// A NumericDate may be fractional (RFC 7519, 2). The fraction counts: with
// no clock skew, a token whose nbf is half a second away is not yet valid
// (RFC 7519, 4.1.5) and one whose exp is half a second away is still valid
// (4.1.4). Truncating to the second got both wrong.
func TestVerifyAccessToken_FractionalTimesCount(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.ClockSkew = -1 })
	now := float64(f.clk.Now().Unix())
	if _, err := f.verify(t, f.mint(t, map[string]any{"nbf": now + 0.5})); !errors.Is(err, ErrNotYetValid) {
		t.Errorf("nbf half a second ahead = %v, want ErrNotYetValid", err)
	}
	if _, err := f.verify(t, f.mint(t, map[string]any{"iat": now + 0.5})); !errors.Is(err, ErrNotYetValid) {
		t.Errorf("iat half a second ahead = %v, want ErrNotYetValid", err)
	}
	c, err := f.verify(t, f.mint(t, map[string]any{"exp": now + 0.5, "iat": now - 0.25}))
	if err != nil {
		t.Fatalf("exp half a second ahead = %v, want accepted", err)
	}
	if got, want := c.Expiry(), f.clk.Now().Add(500*time.Millisecond); got.Sub(want).Abs() > time.Microsecond {
		t.Errorf("Expiry() = %v, want %v", got, want)
	}
	f.clk.Advance(500 * time.Millisecond)
	if _, err := f.verify(t, f.mint(t, map[string]any{"exp": now + 0.5})); !errors.Is(err, ErrExpired) {
		t.Errorf("at exp = %v, want ErrExpired", err)
	}
}

// A caller that changes the fields of the *ClaimError it was given
// (errors.As hands out the pointer; an OnDecision hook could) changes no
// later refusal: each refusal has its own.
func TestVerify_ChangingARefusalsClaimErrorChangesNoLaterRefusal(t *testing.T) {
	f := newFixture(t, grpcauthtest.Config{}, nil)
	tok := f.mint(t, nil, grpcauthtest.WithHeader("typ", "logout+jwt"))
	for round := range 2 {
		_, err := f.verify(t, tok)
		var ce *ClaimError
		if !errors.As(err, &ce) || ce.Claim != "typ" || !strings.Contains(ce.Reason, "not an access token") {
			t.Fatalf("round %d: %v, want the typ refusal unchanged", round, err)
		}
		ce.Claim, ce.Reason = "changed", "changed"
	}
}
