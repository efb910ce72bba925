package browsertest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A page of another origin that posts the development issuer's login form
// itself (RFC 6749 §10.12's cross-site request forgery: a sign-in without
// the person's click) gets the issuer's 403 and no code, both from another
// port of the issuer's loopback address (same-site, another origin) and
// from localhost (another site).
func TestBrowser_LoginFormPostedFromAnotherOriginGetsNoCode(t *testing.T) {
	srv := startServer(t)
	tab, _ := newBrowser(t)
	p := &page{t: t, tab: tab, url: srv.webURL}

	resp, err := http.Get(srv.webURL + "config.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		ClientID              string `json:"client_id"`
		RedirectURI           string `json:"redirect_uri"`
	}
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil || cfg.AuthorizationEndpoint == "" {
		t.Fatalf("config.json: %+v, %v; want the development issuer's authorization endpoint", cfg, err)
	}
	sum := sha256.Sum256([]byte("a verifier the attacker keeps"))
	fields := map[string]string{
		"response_type": "code", "client_id": cfg.ClientID, "redirect_uri": cfg.RedirectURI,
		"state": "forged", "code_challenge": base64.RawURLEncoding.EncodeToString(sum[:]),
		"code_challenge_method": "S256", "user": "admin",
	}
	form := template.Must(template.New("").Parse(`<!doctype html><form method="post" action="{{.Action}}">
{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}</form>
<script>document.forms[0].submit()</script>`))
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = form.Execute(w, struct {
			Action string
			Fields map[string]string
		}{cfg.AuthorizationEndpoint, fields})
	}))
	t.Cleanup(attacker.Close)

	for name, u := range map[string]string{
		"another port of 127.0.0.1": attacker.URL,
		"localhost":                 strings.Replace(attacker.URL, "127.0.0.1", "localhost", 1),
	} {
		// The issuer's refusal is text (shown in a pre); the page, had
		// the code come, marks its body ready.
		p.do("open the page of "+name, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(`pre, body[data-ready]`)))
		at := get(p, "read the address", chromedp.Evaluate[string](`location.href`))
		text := get(p, "read the page", chromedp.Evaluate[string](`document.body.innerText`))
		if !strings.HasPrefix(at, cfg.AuthorizationEndpoint) || !strings.Contains(text, "posted from another origin") {
			t.Errorf("login form posted from %s: the browser is at %s showing %q; want the issuer's 403 (no code)", name, at, text)
		}
	}
}
