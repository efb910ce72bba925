package verifier

import (
	"testing"

	"github.com/grpcauth/grpcauth/internal/jwt"
)

// TestClaims_HasRegisteredAgreesWithTheMemberIndex checks that Has answers
// for registered names (cnf included) from the presence recorded while
// decoding exactly as the member index would: top-level members only,
// escaped names unescaped, null values present.
func TestClaims_HasRegisteredAgreesWithTheMemberIndex(t *testing.T) {
	for _, payload := range []string{
		`{}`,
		`{"cnf":{"jkt":"x"}}`,
		`{"\u0063nf":{"jkt":"x"},"s\u0075b":"a"}`,
		`{"x":{"cnf":1,"iss":"i"},"y":["cnf"]}`,
		`{"cnf":null,"aud":null,"exp":null}`,
		`{"iss":"a","iss":"b","scope":"r w","nonce":"n","client_id":"c"}`,
		`{"iss":"i","sub":"s","jti":"j","aud":["a"],"exp":1,"nbf":1,"iat":1,"cid":"c","client_id":"c","azp":"a","nonce":"n","scp":[],"scope":"","cnf":{}}`,
	} {
		c, err := ParseClaims([]byte(payload))
		if err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		for _, name := range jwt.RegisteredNames {
			_, indexed := c.s.get(name)
			if got := c.Has(name); got != indexed {
				t.Errorf("%s: Has(%q) = %v, the member index says %v", payload, name, got, indexed)
			}
		}
	}
}
