package connectauth_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestConnect_BearerRefusalsCarryTheWWWAuthenticateHeader checks that the
// RFC 6750 challenges reach a Connect-protocol caller, a browser's fetch
// among them, as the HTTP WWW-Authenticate header of the 401 or 403
// response: bare Bearer without a token (section 3.1), insufficient_scope
// with the method's scopes for a token that lacks one.
func TestConnect_BearerRefusalsCarryTheWWWAuthenticateHeader(t *testing.T) {
	f := newFixture(t)
	srv := serveTLS(t, connectMux(f))
	for _, tc := range []struct {
		name   string
		auth   string
		status int
		want   string
	}{
		{"no token", "", http.StatusUnauthorized, "Bearer"},
		{"scope missing", "Bearer " + f.token(t, "test:read"), http.StatusForbidden,
			`Bearer error="insufficient_scope", error_description="access token lacks a required scope", scope="test:read test:write"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/authtest.v1.TestService/AllOf", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			setAuth(req.Header, tc.auth)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != tc.want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.want)
			}
		})
	}
}
