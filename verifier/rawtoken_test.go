package verifier

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/internal/jwxpanic/jwxpanictest"
)

// rawSigner signs header and payload texts as written, repeated member
// names included (a map, as Mint takes, cannot hold two), with an Ed25519
// key that f's verifier finds under kid "raw".
type rawSigner struct {
	f    *fixture
	priv ed25519.PrivateKey
}

// newRawSigner returns a rawSigner whose fixture's config is changed by
// mutate (when not nil), its key set loaded.
func newRawSigner(t testing.TB, mutate func(*Config)) *rawSigner {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{"keys": []json.RawMessage{exposedJWK(t, priv, "raw", false)}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(ts.Close)
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) {
		c.JWKSURL = ts.URL
		if mutate != nil {
			mutate(c)
		}
	})
	if err := f.v.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &rawSigner{f: f, priv: priv}
}

// sign returns the compact JWS of header and payload.
func (s *rawSigner) sign(header, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	input := enc([]byte(header)) + "." + enc([]byte(payload))
	return input + "." + enc(ed25519.Sign(s.priv, []byte(input)))
}

// A member repeated in a signed header or payload, with its name written
// alike or escaped, counts by its last value (RFC 7515, 4 and RFC 7519, 4)
// everywhere: in the verdict and in everything the Claims return, typed
// accessors and Raw alike, so that no second iss or exp is checked by one
// and read by the other. An aud after a string or array aud, and a name
// differing from iss only in case, are refused.
func TestVerifyAccessToken_RepeatedMemberCountsByItsLastValueEverywhere(t *testing.T) {
	s := newRawSigner(t, nil)
	now := s.f.clk.Now()
	iss, aud := s.f.cfg.Issuer, s.f.cfg.Audiences[0]
	later, past := now.Add(time.Hour).Unix(), now.Add(-time.Hour).Unix()
	good := fmt.Sprintf(`"iss":%q,"aud":%q,"exp":%d`, iss, aud, later)
	const hdr = `{"alg":"EdDSA","kid":"raw"}`
	v := s.f.verifierWith(t, func(c *Config) { c.MaxKeyWaiters = -1 }) // an unknown kid waits for no fetch
	ready(t, v)
	for _, tc := range []struct {
		name, header, payload string
		want                  error // nil: accepted, with good's iss, aud and exp
	}{
		{"another iss before the issuer's", hdr, `{"iss":"https://evil.example",` + good + `}`, nil},
		{"another iss after the issuer's", hdr, `{` + good + `,"iss":"https://evil.example"}`, ErrIssuer},
		{"another iss after, escaped", hdr, `{` + good + `,"\u0069ss":"https://evil.example"}`, ErrIssuer},
		{"a past exp before the valid one", hdr, fmt.Sprintf(`{"exp":%d,`, past) + good + `}`, nil},
		{"a past exp after the valid one", hdr, `{` + good + fmt.Sprintf(`,"exp":%d}`, past), ErrExpired},
		{"a past exp after, escaped", hdr, `{` + good + fmt.Sprintf(`,"\u0065xp":%d}`, past), ErrExpired},
		{"a null exp after the valid one", hdr, `{` + good + `,"exp":null}`, ErrClaims},
		{"an aud after the aud", hdr, `{` + good + `,"aud":["api://other"]}`, ErrMalformed},
		{"ISS beside iss", hdr, `{` + good + `,"ISS":"https://evil.example"}`, ErrMalformed},
		{"alg none after the alg", `{"alg":"EdDSA","kid":"raw","alg":"none"}`, `{` + good + `}`, ErrAlgorithm},
		{"the alg after alg none", `{"alg":"none","kid":"raw","alg":"EdDSA"}`, `{` + good + `}`, nil},
		{"another kid after the kid", `{"alg":"EdDSA","kid":"raw","kid":"other"}`, `{` + good + `}`, ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.VerifyAccessToken(context.Background(), s.sign(tc.header, tc.payload))
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rawIss, _ := c.Raw("iss")
			rawExp, _ := c.Raw("exp")
			if c.Issuer() != iss || string(rawIss) != fmt.Sprintf("%q", iss) {
				t.Errorf("Issuer() = %q, Raw(iss) = %s; want %q in both", c.Issuer(), rawIss, iss)
			}
			if c.Expiry().Unix() != later || string(rawExp) != fmt.Sprint(later) {
				t.Errorf("Expiry() = %v, Raw(exp) = %s; want %d in both", c.Expiry().Unix(), rawExp, later)
			}
			if names := c.Names(); !slices.Equal(names, []string{"aud", "exp", "iss"}) {
				t.Errorf("Names() = %q, want each name once", names)
			}
		})
	}
}

// A signed header with a b64 member (RFC 7797) is malformed, with or
// without crit naming it: jwx, and so programs downstream, would take the
// payload of b64 false as the unencoded bytes the signature covers, a
// reading that differs from the verifier's.
func TestVerifyAccessToken_B64HeaderIsMalformed(t *testing.T) {
	s := newRawSigner(t, nil)
	payload := fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d}`, s.f.cfg.Issuer, s.f.cfg.Audiences[0], s.f.clk.Now().Add(time.Hour).Unix())
	if _, err := s.f.verify(t, s.sign(`{"alg":"EdDSA","kid":"raw"}`, payload)); err != nil {
		t.Fatalf("the token without b64: %v", err)
	}
	for _, hdr := range []string{
		`{"alg":"EdDSA","kid":"raw","b64":false}`,
		`{"alg":"EdDSA","kid":"raw","b64":true}`,
		`{"alg":"EdDSA","kid":"raw","\u0062\u0036\u0034":false}`,
		`{"alg":"EdDSA","kid":"raw","B64":false}`,
	} {
		if _, err := s.f.verify(t, s.sign(hdr, payload)); !errors.Is(err, ErrMalformed) {
			t.Errorf("header %s: err = %v, want ErrMalformed", hdr, err)
		}
	}
}

// A part of a token decodes only from its one canonical base64url text:
// a last character whose unused low bits are set (decoding to the same
// bytes under a lenient decoder) is malformed in the header, the payload
// and the signature alike, so no second string of a signed token verifies.
func TestVerifyAccessToken_NonCanonicalBase64IsMalformed(t *testing.T) {
	s := newRawSigner(t, nil)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	// Pad each text with white space until its encoding ends in a
	// character with unused bits (a length that is not a multiple of 3).
	pad := func(text string) string {
		for len(text)%3 == 0 {
			text += " "
		}
		return text
	}
	good := s.sign(pad(`{"alg":"EdDSA","kid":"raw"}`), pad(fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d}`,
		s.f.cfg.Issuer, s.f.cfg.Audiences[0], s.f.clk.Now().Add(time.Hour).Unix())))
	if _, err := s.f.verify(t, good); err != nil {
		t.Fatalf("the canonical token: %v", err)
	}
	parts := strings.Split(good, ".")
	for i, name := range []string{"header", "payload", "signature"} {
		t.Run(name, func(t *testing.T) {
			part := parts[i]
			if len(part)%4 < 2 {
				t.Fatalf("%s of %d characters has no unused bits", name, len(part))
			}
			last := strings.IndexByte(alphabet, part[len(part)-1])
			bad := slices.Clone(parts)
			bad[i] = part[:len(part)-1] + string(alphabet[last|1]) // the lowest bit is unused at either length
			if _, err := s.f.verify(t, strings.Join(bad, ".")); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s with its unused bits set: err = %v, want ErrMalformed", name, err)
			}
		})
	}
}

// FuzzSignedToken signs fuzzed header and payload texts with a key of the
// set, so that tokens get past the signature: whatever VerifyAccessToken
// accepts, encoding/json (v1), which programs downstream run on the same
// token, reads alike. Its header names the key's alg and kid and has no
// crit or b64; its payload's iss, aud, exp, nbf and iat pass the checks (the
// default skew of one minute); and each member's value (the last of a
// repeated name) is the Claims' Raw, with no other name in Names. In the
// payload, ISS and AUD stand for the configured issuer and audience. A
// panic the signature check recovers into a refusal fails the target.
func FuzzSignedToken(f *testing.F) {
	// No cache, so that every input is parsed; an unknown kid waits for no
	// fetch (the clock never moves on to allow one).
	s := newRawSigner(f, func(c *Config) { c.Cache.Disabled = true; c.MaxKeyWaiters = -1 })
	iss, aud, now := s.f.cfg.Issuer, s.f.cfg.Audiences[0], float64(s.f.clk.Now().Unix())
	for _, seed := range [][2]string{
		{`{"alg":"EdDSA","kid":"raw"}`, `{"iss":"ISS","aud":"AUD","exp":1800003600}`},
		{`{"alg":"EdDSA","kid":"raw","typ":"JWT"}`, `{"iss":"x","iss":"ISS","aud":["a","AUD"],"exp":1.8000036e9,"nbf":0,"scp":"a b","\u0069at":1}`},
		{`{"alg":"EdDSA","kid":"raw","b64":false}`, `{"iss":"ISS","aud":"AUD","exp":1800003600}`},
		{`{"alg":"EdDSA","kid":"raw"}`, `{"iss":"ISS","aud":["AUD","a\/b"],"exp":1800003600,"sub":"s\u00e9","jti":"j","scp":["a","b\/c"," d"],"scope":"x  y\tz"}`},
		{`{"alg":"none","kid":"raw","alg":"EdDSA","kid":"raw"}`, `{"iss":"ISS","aud":null,"aud":"AUD","exp":18000036e2,"x":{"iss":1},"ISS":1}`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, header, payload string) {
		payload = strings.ReplaceAll(strings.ReplaceAll(payload, "ISS", iss), "AUD", aud)
		c, err := s.f.v.VerifyAccessToken(context.Background(), s.sign(header, payload))
		if err != nil {
			jwxpanictest.FailOnRecovered(t, err)
			return
		}
		var h, p map[string]json.RawMessage
		if err := json.Unmarshal([]byte(header), &h); err != nil {
			t.Fatalf("accepted a header encoding/json refuses: %v", err)
		}
		if alg := string(h["alg"]); alg != `"EdDSA"` && alg != `"Ed25519"` || string(h["kid"]) != `"raw"` || h["crit"] != nil || h["b64"] != nil {
			t.Fatalf("accepted a header with alg %s, kid %s, crit %s, b64 %s", h["alg"], h["kid"], h["crit"], h["b64"])
		}
		if err := json.Unmarshal([]byte(payload), &p); err != nil {
			t.Fatalf("accepted a payload encoding/json refuses: %v", err)
		}
		var gotIss string
		var gotAud any
		if json.Unmarshal(p["iss"], &gotIss) != nil || gotIss != iss {
			t.Fatalf("accepted iss %s", p["iss"])
		}
		if json.Unmarshal(p["aud"], &gotAud) != nil || gotAud != any(aud) && !slices.Contains(asSlice(gotAud), any(aud)) {
			t.Fatalf("accepted aud %s", p["aud"])
		}
		for _, name := range []string{"exp", "nbf", "iat"} {
			raw, ok := p[name]
			if !ok && name != "exp" || string(raw) == "null" && name != "exp" {
				continue
			}
			// Seconds, compared as float64 (s.f.clk reads whole seconds).
			sec, err := strconv.ParseFloat(string(raw), 64)
			if err != nil || name == "exp" && sec+60 <= now || name != "exp" && sec > now+60 {
				t.Fatalf("accepted %s %s at %v", name, raw, now)
			}
		}
		for name, v := range p {
			if raw, ok := c.Raw(name); !ok || string(raw) != string(v) {
				t.Fatalf("Raw(%q) = %s, encoding/json reads %s", name, raw, v)
			}
		}
		if names := c.Names(); len(names) != len(p) {
			t.Fatalf("Names() = %q, encoding/json reads %d names", names, len(p))
		}
		// The registered strings, audience and scopes (substrings of the
		// claims' payload copy where written without escapes) are what
		// encoding/json decodes.
		for _, r := range []struct{ name, got string }{{"iss", c.Issuer()}, {"sub", c.Subject()}, {"jti", c.ID()}} {
			var want string
			json.Unmarshal(p[r.name], &want) // absent or null: ""
			if r.got != want {
				t.Fatalf("%s = %q, encoding/json reads %s", r.name, r.got, p[r.name])
			}
		}
		var wantAud []string
		if json.Unmarshal(p["aud"], &wantAud) != nil {
			var one string
			json.Unmarshal(p["aud"], &one)
			wantAud = []string{one}
		}
		if got := c.Audience(); !slices.Equal(got, wantAud) {
			t.Fatalf("Audience() = %q, encoding/json reads %s", got, p["aud"])
		}
		var wantScopes []string
		for _, name := range DefaultScopeClaims() {
			var one string
			var list []string
			if json.Unmarshal(p[name], &one) == nil {
				list = strings.Split(one, " ")
			} else {
				json.Unmarshal(p[name], &list)
			}
			for _, sc := range list {
				if IsScopeToken(sc) {
					wantScopes = append(wantScopes, sc)
				}
			}
		}
		slices.Sort(wantScopes)
		if got, want := c.Scopes(), slices.Compact(wantScopes); !slices.Equal(got, want) {
			t.Fatalf("Scopes() = %q, encoding/json reads %q (scp %s, scope %s)", got, want, p["scp"], p["scope"])
		}
	})
}

// asSlice returns v as a slice, nil when it is not one.
func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
