package main

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

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

// A failed token request whose error is no *oauth2.RetrieveError has its
// text cut to maxPrintedBody bytes, as an answer that is no OAuth 2.0
// error has its body cut: net/http's error for a status line it cannot
// parse quotes the line whole (here 8 KiB, up to 1 MiB), with the echoed
// request and its secret masked. Before, the whole text was the error's.
func TestRun_LongTokenRequestErrorIsCutShort(t *testing.T) {
	const id, secret = "0oa1", "s3cr3t/+=&x"
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echotest.RawAnswer(w, "HTTP/1.1|"+strings.ReplaceAll(echotest.Echo(r), " ", "|")+strings.Repeat("|padding", 1<<10)+"\r\n\r\n")
	}))
	defer as.Close()
	printed, err := runFailing(t, map[string]string{
		"ISSUER": as.URL, "TOKEN_URL": as.URL + "/token", "CLIENT_ID": id, "CLIENT_SECRET": secret,
		"AUTH_METHOD": "client_secret_post", "ADDR": "127.0.0.1:1",
	})
	var te *tokenError
	if !errors.As(err, &te) {
		t.Fatalf("run = %v, want a *tokenError", err)
	}
	if _, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		t.Fatalf("run = %v, want an error that is no *oauth2.RetrieveError", err)
	}
	note := regexp.MustCompile(` \.\.\. \(\d+ bytes in all\)$`).FindString(te.text)
	if note == "" || len(te.text)-len(note) > maxPrintedBody || !strings.Contains(te.text, "malformed HTTP response") {
		t.Errorf("token error's text is %d bytes, %.80q ... %q; want net/http's error cut to %d bytes and a note of its length", len(te.text), te.text, te.text[max(0, len(te.text)-60):], maxPrintedBody)
	}
	for _, form := range []string{secret, url.QueryEscape(secret)} {
		if strings.Contains(printed, form) {
			t.Errorf("printed %q, which holds the secret as %q", printed, form)
		}
	}
}

// newTokenError masks the client secret before it cuts a long text, so
// that the cut leaves no piece of a secret it splits.
func TestTokenError_SecretTheCutSplitsIsMasked(t *testing.T) {
	cfg := config{clientID: "svc", clientSecret: "s3cr3t-value"}
	for _, at := range []int{maxPrintedBody - 6, maxPrintedBody - 1, maxPrintedBody} {
		err := newTokenError(errors.New(strings.Repeat("x", at)+cfg.clientSecret+strings.Repeat("y", 1<<10)), cfg)
		if text := err.Error(); strings.Contains(text, "s3cr") || !strings.Contains(text, "bytes in all)") {
			t.Errorf("secret at byte %d: token error's text ends %q, want it cut, with no piece of the secret", at, text[max(0, len(text)-60):])
		}
	}
}
