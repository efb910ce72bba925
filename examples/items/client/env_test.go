package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
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
		{"an ADDR with an empty port", map[string]string{"ADDR": "items.example.com:"}, `ADDR "items.example.com:" is not HOST:PORT`},
		{"an ADDR without a host", map[string]string{"ADDR": ":50051"}, `ADDR ":50051" is not HOST:PORT`},
		{"an ADDR with port 0", map[string]string{"ADDR": "127.0.0.1:0"}, `ADDR "127.0.0.1:0" is not HOST:PORT`},
		{"an ADDR with a port too large", map[string]string{"ADDR": "127.0.0.1:65536"}, `ADDR "127.0.0.1:65536" is not HOST:PORT`},
		{"an ADDR that is a URL", map[string]string{"ADDR": "https://items.example.com"}, `ADDR "https://items.example.com" is not HOST:PORT`},
		{"a plaintext ISSUER off loopback", map[string]string{"ISSUER": "http://idp.example.com/oauth2/default"}, "ISSUER: client: URL http://idp.example.com/oauth2/default must be https"},
		{"a plaintext TOKEN_URL off loopback", map[string]string{"TOKEN_URL": "http://idp.example.com/token"}, "TOKEN_URL: client: URL http://idp.example.com/token must be https"},
		{"a TOKEN_URL without a host", map[string]string{"TOKEN_URL": "/v1/token"}, "TOKEN_URL: client: URL /v1/token has no host"},
		{"a TOKEN_URL with the secret in its user info", map[string]string{"TOKEN_URL": "https://0oa1:" + secret + "@idp.example.com/token"}, "TOKEN_URL: client: URL <URL with userinfo> holds user info"},
		{"an ISSUER with the secret in its query", map[string]string{"ISSUER": "http://idp.example.com/?client_secret=" + secret}, "ISSUER: client: URL http://idp.example.com/ must be https"},
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
