package jwt

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// oktaPayload is a typical Okta access token's payload (~600 bytes).
var oktaPayload = []byte(`{"ver":1,"jti":"AT.fTrW1XvFq3c6Qk6e7m1bBOhxRFRR0R8Sx2-ZvtFcz1s.oar1k2l3m4n5o6p7q8r9s0t","iss":"https://dev-123456.okta.com/oauth2/default","aud":"api://default","iat":1800000000,"exp":1800003600,"cid":"0oa1abcdefGHIJKLM5d7","uid":"00u1abcdefGHIJKLM5d7","scp":["openid","profile","email","items:read"],"auth_time":1800000000,"sub":"alice.example@example.com","groups":["Everyone","items-users"]}`)

// v1Claims is Claims as encoding/json (v1) would decode it, for the
// comparison in BenchmarkParseClaims: the same members, with v1's
// RawMessage and float64 in place of the v2 methods.
type v1Claims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	ID        string          `json:"jti"`
	Audience  json.RawMessage `json:"aud"`
	Expiry    float64         `json:"exp"`
	NotBefore float64         `json:"nbf"`
	IssuedAt  float64         `json:"iat"`
	Cid       string          `json:"cid"`
	ClientID  string          `json:"client_id"`
	Azp       string          `json:"azp"`
	Nonce     string          `json:"nonce"`
	Scp       json.RawMessage `json:"scp"`
	Scope     json.RawMessage `json:"scope"`
}

// BenchmarkParseClaims times ParseClaims (the pre-pass and
// encoding/json/v2) on a typical Okta payload, and encoding/json (v1)
// decoding the same members into a plain struct, without the pre-pass, for
// the ratio in docs/verifier.md:
//
//	go test -run '^$' -bench BenchmarkParseClaims -benchmem ./internal/jwt/
func BenchmarkParseClaims(b *testing.B) {
	b.Run("ParseClaims", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseClaims(oktaPayload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-v1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c v1Claims
			if err := json.Unmarshal(oktaPayload, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A valid payload that validJSON reads before the decoder (a name over
	// 64 bytes), with 15,000 strings, escaped or not: its cost per string
	// must stay that of the decoder's.
	for _, s := range []string{`""`, `"\u0041"`} {
		long := []byte(`{"` + strings.Repeat("n", 65) + `":[` + strings.Repeat(s+",", 14999) + s + `]}`)
		b.Run("long-name-15000-strings-"+strconv.Itoa(len(s)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseClaims(long); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMembers times Members over payloads of 1,000 and 8,000 short
// members: the cost per member stays the same, since it reads the payload
// once (the member index it builds used to search the whole payload for
// every name and value, quadratic in the members).
//
//	go test -run '^$' -bench BenchmarkMembers -benchmem ./internal/jwt/
func BenchmarkMembers(b *testing.B) {
	for _, n := range []int{1000, 8000} {
		var sb strings.Builder
		sb.WriteString(`{"iss":"https://issuer.example"`)
		for i := range n {
			fmt.Fprintf(&sb, `,"m%d":"v%d"`, i, i)
		}
		sb.WriteString("}")
		data := sb.String()
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Members(data, func(string, string) {}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n+1), "ns/member")
		})
	}
}
