package main

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/internal/endpoint/echotest"
)

// A token endpoint, or a proxy, that echoes the token request into a
// status or header line net/http cannot parse, whose error quotes it,
// gets the client secret printed in no form, with a bearer or a DPoP
// token request; nor the DPoP proof.
func TestRun_TokenRequestEchoedIntoALineNetHTTPQuotesPrintsNoSecret(t *testing.T) {
	const id, secret = "0oa1", "s3cr3t/+=&x"
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	for _, line := range echotest.Lines {
		for _, method := range []string{"client_secret_post", "client_secret_basic"} {
			for _, typ := range []string{"bearer", "dpop"} {
				t.Run(line.String()+"/"+method+"/"+typ, func(t *testing.T) {
					var proof string
					echo := echotest.Handler(line)
					as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						proof = r.Header.Get("DPoP")
						echo.ServeHTTP(w, r)
					}))
					defer as.Close()
					printed, _ := runFailing(t, map[string]string{
						"ISSUER": as.URL, "TOKEN_URL": as.URL + "/token", "CLIENT_ID": id, "CLIENT_SECRET": secret,
						"AUTH_METHOD": method, "TOKEN_TYPE": typ, "ADDR": "127.0.0.1:1",
					})
					if !strings.Contains(printed, "malformed") {
						t.Errorf("printed %q, want net/http's error", printed)
					}
					forms := []string{secret, url.QueryEscape(secret), basic}
					if typ == "dpop" {
						if proof == "" {
							t.Fatal("the DPoP token request carried no proof")
						}
						forms = append(forms, proof)
					}
					for _, form := range forms {
						if strings.Contains(printed, form) {
							t.Errorf("printed %q, which holds %.30q", printed, form)
						}
					}
				})
			}
		}
	}
}
