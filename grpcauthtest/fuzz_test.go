package grpcauthtest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// FuzzTokenEndpoint sends arbitrary bodies, Authorization and Content-Type
// headers to the token endpoint. Every answer must be a well-formed RFC 6749
// response: a token that verifies against the JWKS, or a known error code
// with the status that goes with it.
func FuzzTokenEndpoint(f *testing.F) {
	iss := grpcauthtest.NewIssuer(f, grpcauthtest.Config{Clients: testClients})
	tr := &http.Transport{}
	f.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	const form = "application/x-www-form-urlencoded"
	basicSvc := "Basic c3ZjOnMzY3JldA==" // svc:s3cret
	f.Add("grant_type=client_credentials", basicSvc, form)
	f.Add("grant_type=client_credentials&scope=items%3Aread", basicSvc, form)
	f.Add("grant_type=client_credentials&client_id=svc&client_secret=s3cret", "", form)
	f.Add("grant_type=client_credentials&client_id=svc&client_secret=s3cret", basicSvc, form)
	f.Add("grant_type=password&username=a&password=b", basicSvc, form)
	f.Add("grant_type=client_credentials&scope=admin", basicSvc, form+"; charset=utf-8")
	f.Add("%zz=%", "Basic !!!", "text/plain")
	f.Add("grant_type=client_credentials&grant_type=client_credentials", "Bearer x", form)

	allowed := map[string]int{
		"invalid_request": 0, "invalid_client": http.StatusUnauthorized,
		"unsupported_grant_type": http.StatusBadRequest, "invalid_scope": http.StatusBadRequest,
	}
	f.Fuzz(func(t *testing.T, body, authz, ctype string) {
		req, err := http.NewRequest(http.MethodPost, iss.TokenURL(), strings.NewReader(body))
		if err != nil {
			t.Skip()
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := client.Do(req)
		if err != nil {
			t.Skip() // the client refused the header values
		}
		defer resp.Body.Close()
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("status %d without Cache-Control: no-store", resp.StatusCode)
		}
		dec := json.NewDecoder(resp.Body)
		if resp.StatusCode == http.StatusOK {
			var ok grpcauthtest.TokenResponse
			if err := dec.Decode(&ok); err != nil {
				t.Fatal(err)
			}
			if _, err := jwt.Parse([]byte(ok.AccessToken), jwt.WithKey(jwa.RS256, iss.PublicKey(iss.KeyID()))); err != nil {
				t.Fatalf("issued token does not verify: %v", err)
			}
			return
		}
		var e grpcauthtest.TokenError
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("status %d, body not JSON: %v", resp.StatusCode, err)
		}
		checkErrorDescription(t, e.Description)
		want, known := allowed[e.Code]
		if !known || (want != 0 && resp.StatusCode != want) {
			t.Fatalf("status %d with error %q", resp.StatusCode, e.Code)
		}
		if e.Code == "invalid_request" && resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("invalid_request with status %d", resp.StatusCode)
		}
	})
}
