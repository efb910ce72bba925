package grpcauthtest

import (
	"net/url"
	"slices"
	"testing"
)

// FuzzParseAuthorize checks the authorization request parser on arbitrary
// queries: a request it accepts names a registered client and redirect URI,
// response_type code and an S256 challenge; a refusal it would redirect
// carries a registered redirect URI too, so no input can send the browser
// anywhere else.
func FuzzParseAuthorize(f *testing.F) {
	cfg := Config{PublicClients: []PublicClient{{ID: "web", RedirectURIs: []string{"http://127.0.0.1:8080/", "http://localhost/cb?x=1"}}}}
	if err := cfg.checkAuthorize(map[string]bool{}); err != nil {
		f.Fatal(err)
	}
	a := newAuthorizer(&cfg)
	ok := "response_type=code&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2F&state=s&scope=items%3Aread" +
		"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
	f.Add(ok)
	f.Add(ok + "&state=again")
	f.Add("response_type=code&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fx&code_challenge=abc&code_challenge_method=plain")
	f.Add("response_type=token&client_id=web&redirect_uri=http%3A%2F%2Flocalhost%2Fcb%3Fx%3D1")
	f.Add("client_id=evil&redirect_uri=https%3A%2F%2Fevil.example%2F")
	f.Add("%zz=%&scope=%22")
	f.Add(ok + "&acr_values=urn%3Aokta%3Aloa%3A2fa%3Aany+phr&max_age=300&prompt=login+consent")
	f.Add(ok + "&acr_values=%22x&max_age=-1&prompt=none")
	f.Add(ok + "&response_mode=fragment")
	f.Add(ok + "&response_mode=query&request_uri=urn%3Ax&request=e30")
	f.Fuzz(func(t *testing.T, query string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		req, e := a.parseAuthorize(v)
		if e != nil {
			if e.code == "" || e.desc == "" {
				t.Fatalf("refusal without code or description: %+v", e)
			}
			if !e.redirect {
				return
			}
		}
		if req == nil || req.client == nil || !slices.Contains(req.client.RedirectURIs, req.redirectURI) {
			t.Fatalf("query %q: request %+v would redirect to an unregistered URI", query, req)
		}
		if e == nil && (v.Get("response_type") != "code" || v.Get("code_challenge_method") != "S256" || !validChallenge(req.challenge)) {
			t.Fatalf("query %q accepted without code, S256 and a valid challenge", query)
		}
		if e == nil && (req.acr == "") != (len(splitScope(v.Get("acr_values"))) == 0) || req.acr != "" && !slices.Contains(cfg.ACRValues, req.acr) {
			t.Fatalf("query %q: acr %q, want one of %v exactly when acr_values lists a value", query, req.acr, cfg.ACRValues)
		}
	})
}
