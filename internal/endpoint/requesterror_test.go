package endpoint

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Every secret a request carries, in each form an echo of it may quote
// (as written, decoded, and as %q quotes the decoded one), reads
// [REDACTED] in the text of its failure; the public form parameters and
// the rest of the text stay.
func TestRequestErrorText_RedactsEverySecretTheRequestCarriedInEveryForm(t *testing.T) {
	const secret = `pa"ss+w/rd=é` // %q escapes '"' and 'é' is kept: one form each
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "refresh_token": {secret}}
	req, err := http.NewRequest(http.MethodPost, "https://idp.example/token?key="+url.QueryEscape(secret)+"&BAREWORDkey", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", url.QueryEscape(secret))
	req.Header.Set("DPoP", "PROOFmarker")
	echo := form.Encode() + " " + req.URL.RawQuery + " " + req.Header.Get("Authorization") + " PROOFmarker " + secret + " " + url.QueryEscape(secret)
	text := RequestErrorText(&url.Error{Op: "Post", URL: req.URL.String(), Err: errors.New("malformed MIME header line: " + strconv.Quote(echo))}, req)
	for _, s := range []string{"pa", "PROOFmarker", "BAREWORDkey", "idp.example"} {
		if strings.Contains(text, s) {
			t.Errorf("the text holds %q: %s", s, text)
		}
	}
	for _, s := range []string{"malformed MIME header line", "grant_type=client_credentials", "client_id=svc", Redacted} {
		if !strings.Contains(text, s) {
			t.Errorf("the text lacks %q: %s", s, text)
		}
	}
}

// A body that is not a form is a secret whole; an error whose text holds
// no secret is returned as it is, still wrapping what it wrapped.
func TestWithoutSecrets_OtherBodyWholeAndCleanErrorAsItIs(t *testing.T) {
	req, err := http.NewRequest(http.MethodPost, "https://idp.example/token", strings.NewReader(`{"assertion":"JSONsecret"}`))
	if err != nil {
		t.Fatal(err)
	}
	got := WithoutSecrets(errors.New(`malformed HTTP response "{\"assertion\":\"JSONsecret\"}"`), req).Error()
	if strings.Contains(got, "JSONsecret") || !strings.Contains(got, Redacted) {
		t.Errorf("got %q, want the body redacted", got)
	}
	cause := errors.New("connection refused")
	if err := WithoutSecrets(&url.Error{Op: "Post", URL: "https://idp.example/token", Err: cause}, req); err != cause {
		t.Errorf("got %v, want the cause as it is", err)
	}
}
