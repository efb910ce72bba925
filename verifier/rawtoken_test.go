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
	"strings"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// rawSigner signs header and payload texts as written, repeated member
// names included (a map, as Mint takes, cannot hold two), with an Ed25519
// key that f's verifier finds under kid "raw".
type rawSigner struct {
	f    *fixture
	priv ed25519.PrivateKey
}

func newRawSigner(t *testing.T) *rawSigner {
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
	f := newFixture(t, grpcauthtest.Config{}, func(c *Config) { c.JWKSURL = ts.URL })
	ready(t, f.v)
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
	s := newRawSigner(t)
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

// A part of a token decodes only from its one canonical base64url text:
// a last character whose unused low bits are set (decoding to the same
// bytes under a lenient decoder) is malformed in the header, the payload
// and the signature alike, so no second string of a signed token verifies.
func TestVerifyAccessToken_NonCanonicalBase64IsMalformed(t *testing.T) {
	s := newRawSigner(t)
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
