package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// secret is a client secret the tests look for in every error and in the
// usage text.
const secret = "s3cr3t-never-printed"

// realClient is a real issuer with its client, to which each case adds
// the setting under test.
func realClient(kv map[string]string) map[string]string {
	env := map[string]string{"ISSUER": "https://idp.example.com/oauth2/default", "CLIENT_ID": "0oa1", "CLIENT_SECRET": secret}
	for k, v := range kv {
		env[k] = v
	}
	return env
}

func TestLoadConfig_BadSettingIsRefusedNamingItsVariable(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"a lone comma in SCOPES asks for no scope", map[string]string{"SCOPES": ","}, `SCOPES "," has an empty entry`},
		{"a trailing comma in SCOPES", map[string]string{"SCOPES": "items:read,"}, `SCOPES "items:read," has an empty entry`},
		{"two commas in a row in SCOPES", map[string]string{"SCOPES": "items:read,,items:write"}, `SCOPES "items:read,,items:write" has an empty entry`},
		{"an ADDR without a port", map[string]string{"ADDR": "items.example.com"}, `ADDR "items.example.com" is not HOST:PORT`},
		{"an ADDR with an empty port", map[string]string{"ADDR": "items.example.com:"}, `ADDR "items.example.com:": the port must be a number from 1 to 65535`},
		{"an ADDR without a host", map[string]string{"ADDR": ":50051"}, `ADDR ":50051" has no host`},
		{"an ADDR with port 0", map[string]string{"ADDR": "127.0.0.1:0"}, `ADDR "127.0.0.1:0": the port must be a number from 1 to 65535`},
		{"an ADDR with a port too large", map[string]string{"ADDR": "127.0.0.1:65536"}, `ADDR "127.0.0.1:65536": the port must be a number from 1 to 65535`},
		{"an ADDR with a named port", map[string]string{"ADDR": "items.example.com:https"}, `ADDR "items.example.com:https": the port must be a number from 1 to 65535, not a name`},
		{"an ADDR that is a URL", map[string]string{"ADDR": "https://items.example.com"}, `ADDR "https://items.example.com" is not HOST:PORT`},
		{"a RESOURCE that is not an absolute URI", map[string]string{"RESOURCE": "items.example.com/api"}, "client: RESOURCE items.example.com/api is not an absolute URI"},
		{"a RESOURCE with a fragment", map[string]string{"RESOURCE": "https://items.example.com/#" + secret}, "client: RESOURCE https://items.example.com/#… has a fragment"},
		{"a RESOURCE with an empty fragment", map[string]string{"RESOURCE": "https://items.example.com/#"}, "has a fragment"},
		{"a RESOURCE that does not parse", map[string]string{"RESOURCE": "https://items.example.com:" + secret + "/"}, "client: RESOURCE is not a URI"},
		{"a plaintext ISSUER off loopback", map[string]string{"ISSUER": "http://idp.example.com/oauth2/default"}, "ISSUER: URL http://idp.example.com/oauth2/default must be https"},
		{"a plaintext TOKEN_URL off loopback", map[string]string{"TOKEN_URL": "http://idp.example.com/token"}, "TOKEN_URL: URL http://idp.example.com/token must be https"},
		{"a TOKEN_URL without a host", map[string]string{"TOKEN_URL": "/v1/token"}, "TOKEN_URL: URL /v1/token has no host"},
		{"a TOKEN_URL with the secret in its user info", map[string]string{"TOKEN_URL": "https://0oa1:" + secret + "@idp.example.com/token"}, "TOKEN_URL: URL <URL with userinfo> holds user info"},
		{"an ISSUER with the secret in its query", map[string]string{"ISSUER": "http://idp.example.com/?client_secret=" + secret}, "ISSUER: URL http://idp.example.com/ must be https"},
		{"an https ISSUER with the secret in its query", map[string]string{"ISSUER": "https://idp.example.com/oauth2/default?client_secret=" + secret}, "client: ISSUER https://idp.example.com/oauth2/default?…: an issuer identifier has no query or fragment"},
		{"an ISSUER with a fragment", map[string]string{"ISSUER": "https://idp.example.com/oauth2/default#" + secret}, "client: ISSUER https://idp.example.com/oauth2/default#…: an issuer identifier has no query or fragment"},
		{"an ISSUER with an empty query", map[string]string{"ISSUER": "http://127.0.0.1:50052/oauth2/default?"}, "client: ISSUER http://127.0.0.1:50052/oauth2/default?…: an issuer identifier has no query or fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var usage strings.Builder
			cfg, err := loadConfig(nil, env(realClient(tt.env)), &usage)
			if err == nil {
				t.Fatalf("loadConfig = %+v, want an error holding %q", cfg, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("loadConfig error = %q, want it to hold %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error()+usage.String(), secret) {
				t.Errorf("loadConfig printed the client secret: error %q, usage %q", err, usage.String())
			}
		})
	}
}

func TestLoadConfig_ScopesSeparatedBySpacesOrCommasAreKept(t *testing.T) {
	for _, tt := range []struct{ scopes, want string }{
		{"", "[]"},
		{"   ", "[]"},
		{"items:read", "[items:read]"},
		{"items:read, items:write", "[items:read items:write]"},
		{" items:read items:write ", "[items:read items:write]"},
		{"items:read items:write,items:admin", "[items:read items:write items:admin]"},
	} {
		cfg, err := loadConfig(nil, env(realClient(map[string]string{"SCOPES": tt.scopes})), &strings.Builder{})
		if err != nil {
			t.Errorf("SCOPES=%q: %v", tt.scopes, err)
			continue
		}
		if got := fmt.Sprint(cfg.scopes); got != tt.want {
			t.Errorf("SCOPES=%q: scopes %s, want %s", tt.scopes, got, tt.want)
		}
	}
}

// The flag package prints each flag's default in the usage text, on -h
// and after a bad flag: a default read from CLIENT_SECRET would be printed
// there.
func TestLoadConfig_UsagePrintsNoClientSecret(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"-no-such-flag"}, {"-addr"}} {
		var usage strings.Builder
		_, err := loadConfig(args, env(realClient(nil)), &usage)
		if err == nil {
			t.Fatalf("loadConfig(%q) = nil error, want a flag error", args)
		}
		if !strings.Contains(usage.String(), "-client-secret") {
			t.Fatalf("loadConfig(%q) printed no usage: %q", args, usage.String())
		}
		if strings.Contains(usage.String()+err.Error(), secret) {
			t.Errorf("loadConfig(%q) printed the client secret:\n%s", args, usage.String())
		}
		if args[0] == "-h" && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("loadConfig(-h) = %v, want flag.ErrHelp", err)
		}
	}
}

func TestLoadConfig_ClientSecretFlagOverridesTheVariable(t *testing.T) {
	cfg, err := loadConfig([]string{"-client-secret", "from-flag"}, env(realClient(nil)), &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.clientSecret != "from-flag" {
		t.Errorf("clientSecret = %q, want the flag's", cfg.clientSecret)
	}
	cfg, err = loadConfig(nil, env(realClient(nil)), &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.clientSecret != secret {
		t.Errorf("clientSecret = %q, want CLIENT_SECRET's", cfg.clientSecret)
	}
}

// TestLoadConfig_ResourceIsAnAbsoluteURIWithoutFragment: RFC 8707 allows
// any absolute URI as a resource indicator, a query too; RESOURCE is
// sent as given.
func TestLoadConfig_ResourceIsAnAbsoluteURIWithoutFragment(t *testing.T) {
	for _, r := range []string{"https://items.example.com", "https://items.example.com/api?v=1", "urn:example:items", "api://items"} {
		cfg, err := loadConfig(nil, env(realClient(map[string]string{"RESOURCE": r})), &strings.Builder{})
		if err != nil || cfg.resource != r {
			t.Errorf("RESOURCE %q: resource %q, %v; want it kept", r, cfg.resource, err)
		}
	}
}

// TestLoadConfig_MisspeltVariableIsWarnedAbout: a variable the client
// does not read, one character or its case from one it reads that is
// unset, is a likely typo (ISSUR for ISSUER: the development issuer would
// be used), warned about as the server warns (settings.Typos).
func TestLoadConfig_MisspeltVariableIsWarnedAbout(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ISSUR": "https://idp.example.com/oauth2/default"}, "ISSUR is set, but the client reads ISSUER, which is unset"},
		{realClient(map[string]string{"SCOPE": "items:read"}), "SCOPE is set, but the client reads SCOPES"},
		{realClient(map[string]string{"token_type": "dpop"}), "token_type is set, but the client reads TOKEN_TYPE"},
		{realClient(map[string]string{"TOKEN_URL": "https://idp.example.com/token", "TOKEN_URI": "x"}), ""},
	} {
		cfg, err := loadConfig(nil, env(tt.env), &strings.Builder{})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(cfg.typos, "\n"); (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%v: typos %q, want %q", tt.env, got, tt.want)
		}
	}
}

// TestRun_MisspeltVariableIsWarnedAboutFirst: run says a likely misspelt
// variable on its warning output before it requests a token, so that the
// warning stands next to what the misspelling caused.
func TestRun_MisspeltVariableIsWarnedAboutFirst(t *testing.T) {
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer as.Close()
	cfg, err := loadConfig(nil, env(map[string]string{
		"ISSUER": as.URL, "TOKEN_URL": as.URL + "/token", "CLIENT_ID": "0oa1", "CLIENT_SECRET": "s3", "SCOPE": "items:read",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var warn strings.Builder
	if err := run(context.Background(), cfg, io.Discard, &warn); err == nil {
		t.Fatal("run = nil error, want the token request refused")
	}
	if want := "client: warning: SCOPE is set, but the client reads SCOPES, which is unset"; !strings.HasPrefix(warn.String(), want) {
		t.Errorf("warnings %q, want them to start with %q", warn.String(), want)
	}
}

// TestRun_TokenURLIsPrintedWithoutItsQuery: the token endpoint in the
// report's first line, and in the error of a failed token request, is
// shown without its query, which may carry a secret (an API key), a "?…"
// marking what was left out; whether it came from TOKEN_URL or from the
// discovery document, and in net/http's error too, which quotes the URL
// it could not reach.
func TestRun_TokenURLIsPrintedWithoutItsQuery(t *testing.T) {
	const key = "k3y-never-printed"
	for _, tc := range []struct {
		name     string
		byHand   bool // TOKEN_URL, not discovery
		tokenOK  bool
		down     bool // the endpoint is not there: net/http's error quotes the URL
		wantText string
	}{
		{"discovered, token issued", false, true, false, "/token?…"},
		{"set by hand, token issued", true, true, false, "/token?…"},
		{"set by hand, token refused", true, false, false, "/token?…"},
		{"set by hand, endpoint down", true, false, true, "/token?…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var as *httptest.Server
			as = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.URL.Path == "/.well-known/openid-configuration":
					fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, as.URL, as.URL+"/token?api_key="+key)
				case tc.tokenOK:
					io.WriteString(w, `{"access_token":"at","token_type":"Bearer","expires_in":3600}`)
				default:
					w.WriteHeader(http.StatusUnauthorized)
					io.WriteString(w, `{"error":"invalid_client"}`)
				}
			}))
			defer as.Close()
			if tc.down {
				as.Close()
			}
			vars := map[string]string{"ISSUER": as.URL, "CLIENT_ID": "0oa1", "CLIENT_SECRET": "s3", "ADDR": "127.0.0.1:1"}
			if tc.byHand {
				vars["TOKEN_URL"] = as.URL + "/token?api_key=" + key
			}
			cfg, err := loadConfig(nil, env(vars), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, stderr strings.Builder
			if err := run(ctx, cfg, &out, &stderr); err != nil { // the server at ADDR is not there
				printError(&stderr, err)
			}
			printed := out.String() + stderr.String()
			if !strings.Contains(printed, as.URL+tc.wantText) || strings.Contains(printed, key) {
				t.Errorf("printed %q, want the token URL as %s%s, without %s", printed, as.URL, tc.wantText, key)
			}
		})
	}
}
