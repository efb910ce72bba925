package verifier_test

import (
	"errors"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestMulti_ClientIDsAreEachIssuersOwn: each issuer's ClientIDs apply to
// its tokens only, through the MultiVerifier as with that issuer's
// Verifier alone, also when the token is served from the cache. A token
// of an issuer with ClientIDs whose cid and azp name different clients
// names no client and is refused; the same shape from an issuer without
// ClientIDs is accepted and names no client (Claims.ClientID is empty),
// and the other issuer's allow-list does not reach it.
func TestMulti_ClientIDsAreEachIssuersOwn(t *testing.T) {
	a, b, m := newTwoIssuerMulti(t, newClock(), func(c *verifier.Config) { c.ClientIDs = []string{"app"} }, func(*verifier.Config) {})
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		iss    *grpcauthtest.Issuer
		claims map[string]any
		want   string // the client id, or "refused" for a client_id ClaimError
	}{
		{"A, an allowed client", a, map[string]any{"cid": "app"}, "app"},
		{"A, cid and azp name different clients", a, map[string]any{"cid": "app", "azp": "other"}, "refused"},
		{"A, another client", a, map[string]any{"cid": "other"}, "refused"},
		{"B, cid and azp name different clients", b, map[string]any{"cid": "app", "azp": "other"}, ""},
		{"B, a client not on A's list", b, map[string]any{"cid": "other"}, "other"},
	} {
		tok := mintOn(t, tc.iss, tc.claims)
		for _, pass := range []string{"first", "second (cached when accepted)"} {
			c, err := m.VerifyAccessToken(ctx, tok)
			var ce *verifier.ClaimError
			switch {
			case tc.want == "refused":
				if !errors.As(err, &ce) || ce.Claim != "client_id" {
					t.Errorf("%s, %s verification: %v, want a client_id ClaimError", tc.name, pass, err)
				}
			case err != nil:
				t.Errorf("%s, %s verification: %v, want accepted", tc.name, pass, err)
			case c.ClientID() != tc.want:
				t.Errorf("%s, %s verification: ClientID() = %q, want %q", tc.name, pass, c.ClientID(), tc.want)
			}
		}
	}
}
