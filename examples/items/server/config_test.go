package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string // fmt of the config; "" when an error is expected
		wantErr bool
	}{
		{
			name: "defaults",
			want: `{issuer: audiences:[api://default] jwksURI: addr:127.0.0.1:50051 devIssuerAddr:127.0.0.1:50052 scopeClaims:[] clientIDs:[] skipAudienceCheck:false requireClaims:map[] requireProfile:false metricsAddr: webAddr:127.0.0.1:8080 devDPoPNonces:false typos:[] devIssuerAddrSet:false}`,
		},
		{
			name: "environment",
			env: map[string]string{
				"ISSUER": "https://example.okta.com/oauth2/default", "AUDIENCE": "api://items, api://other",
				"JWKS_URI": "https://example.okta.com/oauth2/default/v1/keys", "ADDR": "127.0.0.1:0",
				"SCOPE_CLAIMS": "scope,permissions", "CLIENT_IDS": "a,b", "REQUIRE_CLAIMS": "token_use=access",
				"METRICS_ADDR": "127.0.0.1:9464", "WEB_ADDR": "off",
			},
			want: `{issuer:https://example.okta.com/oauth2/default audiences:[api://items api://other] jwksURI:https://example.okta.com/oauth2/default/v1/keys addr:127.0.0.1:0 devIssuerAddr:127.0.0.1:50052 scopeClaims:[scope permissions] clientIDs:[a b] skipAudienceCheck:false requireClaims:map[token_use:access] requireProfile:false metricsAddr:127.0.0.1:9464 webAddr:off devDPoPNonces:false typos:[] devIssuerAddrSet:false}`,
		},
		{
			name: "flag overrides environment",
			env:  map[string]string{"ADDR": "127.0.0.1:1"},
			args: []string{"-addr", "127.0.0.1:2", "-audience", "api://flag"},
			want: `{issuer: audiences:[api://flag] jwksURI: addr:127.0.0.1:2 devIssuerAddr:127.0.0.1:50052 scopeClaims:[] clientIDs:[] skipAudienceCheck:false requireClaims:map[] requireProfile:false metricsAddr: webAddr:127.0.0.1:8080 devDPoPNonces:false typos:[] devIssuerAddrSet:false}`,
		},
		{
			// Not "" for net.Listen, a random port on every interface.
			name: "listen addresses given empty as flags are their defaults, as in the environment",
			env:  map[string]string{"ADDR": "", "WEB_ADDR": ""},
			args: []string{"-addr", "", "-dev-issuer-addr", "", "-web-addr", ""},
			want: `{issuer: audiences:[api://default] jwksURI: addr:127.0.0.1:50051 devIssuerAddr:127.0.0.1:50052 scopeClaims:[] clientIDs:[] skipAudienceCheck:false requireClaims:map[] requireProfile:false metricsAddr: webAddr:127.0.0.1:8080 devDPoPNonces:false typos:[] devIssuerAddrSet:true}`,
		},
		{
			name: "skip audience check with client ids",
			env:  map[string]string{"SKIP_AUDIENCE_CHECK": "true", "CLIENT_IDS": "abc"},
			want: `{issuer: audiences:[api://default] jwksURI: addr:127.0.0.1:50051 devIssuerAddr:127.0.0.1:50052 scopeClaims:[] clientIDs:[abc] skipAudienceCheck:true requireClaims:map[] requireProfile:false metricsAddr: webAddr:127.0.0.1:8080 devDPoPNonces:false typos:[] devIssuerAddrSet:false}`,
		},
		{
			name: "RFC 9068 profile",
			env:  map[string]string{"REQUIRE_ACCESS_TOKEN_PROFILE": "true"},
			want: `{issuer: audiences:[api://default] jwksURI: addr:127.0.0.1:50051 devIssuerAddr:127.0.0.1:50052 scopeClaims:[] clientIDs:[] skipAudienceCheck:false requireClaims:map[] requireProfile:true metricsAddr: webAddr:127.0.0.1:8080 devDPoPNonces:false typos:[] devIssuerAddrSet:false}`,
		},
		{
			name: "development issuer with DPoP nonces",
			env:  map[string]string{"DEV_DPOP_NONCES": "true"},
			want: `{issuer: audiences:[api://default] jwksURI: addr:127.0.0.1:50051 devIssuerAddr:127.0.0.1:50052 scopeClaims:[] clientIDs:[] skipAudienceCheck:false requireClaims:map[] requireProfile:false metricsAddr: webAddr:127.0.0.1:8080 devDPoPNonces:true typos:[] devIssuerAddrSet:false}`,
		},
		{name: "DPoP nonces with a real issuer", env: map[string]string{"DEV_DPOP_NONCES": "true", "ISSUER": "https://example.okta.com/oauth2/default"}, wantErr: true},
		{name: "DPoP nonces not a bool", env: map[string]string{"DEV_DPOP_NONCES": "on"}, wantErr: true},
		{name: "RFC 9068 profile not a bool", env: map[string]string{"REQUIRE_ACCESS_TOKEN_PROFILE": "on"}, wantErr: true},
		{name: "skip audience check without client ids", env: map[string]string{"SKIP_AUDIENCE_CHECK": "1"}, wantErr: true},
		{name: "skip audience check not a bool", env: map[string]string{"SKIP_AUDIENCE_CHECK": "yes please", "CLIENT_IDS": "a"}, wantErr: true},
		{name: "empty audience list", env: map[string]string{"AUDIENCE": " , "}, wantErr: true},
		{name: "require claims without value", env: map[string]string{"REQUIRE_CLAIMS": "token_use"}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, env(tt.env))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("loadConfig = %+v, want an error", cfg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%+v", cfg); got != tt.want {
				t.Errorf("config\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLoadConfig_HelpIsNotAnError(t *testing.T) {
	_, err := loadConfig([]string{"-h"}, env(nil))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestVerifierConfig_SkipAudienceCheckDropsAudiences(t *testing.T) {
	cfg, err := loadConfig(nil, env(map[string]string{"SKIP_AUDIENCE_CHECK": "true", "CLIENT_IDS": "abc"}))
	if err != nil {
		t.Fatal(err)
	}
	vc := cfg.verifierConfig("https://cognito-idp.eu-west-1.amazonaws.com/pool")
	if !vc.SkipAudienceCheck || vc.Audiences != nil || len(vc.ClientIDs) != 1 {
		t.Errorf("verifier config: skip %v, audiences %v, client ids %v", vc.SkipAudienceCheck, vc.Audiences, vc.ClientIDs)
	}
}

func TestVerifierConfig_RequireAccessTokenProfile(t *testing.T) {
	for _, v := range []string{"", "false", "true"} {
		cfg, err := loadConfig(nil, env(map[string]string{"REQUIRE_ACCESS_TOKEN_PROFILE": v}))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.verifierConfig("https://idp.example").RequireAccessTokenProfile; got != (v == "true") {
			t.Errorf("REQUIRE_ACCESS_TOKEN_PROFILE=%q: RequireAccessTokenProfile = %v", v, got)
		}
	}
}

func TestDevIssuerWarnings_OnlyWhenAudienceListsMoreThanItMints(t *testing.T) {
	checkWarnings(t, devIssuerWarnings, []warningCase{
		{nil, ""},
		{map[string]string{"AUDIENCE": "api://items"}, ""},
		{map[string]string{"AUDIENCE": "api://items,api://other"}, `mints aud "api://items" only; AUDIENCE also accepts "api://other"`},
		{map[string]string{"AUDIENCE": "a,b", "SKIP_AUDIENCE_CHECK": "true", "CLIENT_IDS": "c"}, ""},
	})
}

// warningCase is an environment and a substring of the warnings wanted
// for it, "" for none.
type warningCase struct {
	env  map[string]string
	want string
}

// checkWarnings checks that warnings, for the configuration loaded from
// each case's environment, are as the case wants.
func checkWarnings(t *testing.T, warnings func(config) []string, cases []warningCase) {
	t.Helper()
	for _, tt := range cases {
		cfg, err := loadConfig(nil, env(tt.env))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(warnings(cfg), "\n")
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%v: warnings %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestLoadConfig_JWKSURIWithoutIssuerIsAnError(t *testing.T) {
	// Without ISSUER the server would start the development issuer and
	// verify its tokens against the real issuer's keys: a server that
	// looks configured for Okta but accepts nothing, or, worse, an
	// operator who believes it is.
	for _, in := range []struct {
		env  map[string]string
		args []string
	}{
		{env: map[string]string{"JWKS_URI": "https://example.okta.com/oauth2/default/v1/keys"}},
		{args: []string{"-jwks-uri", "https://example.okta.com/oauth2/default/v1/keys"}},
	} {
		cfg, err := loadConfig(in.args, env(in.env))
		if err == nil || !strings.Contains(err.Error(), "ISSUER") {
			t.Errorf("loadConfig(%v, %v) = %+v, %v; want an error naming ISSUER", in.args, in.env, cfg, err)
		}
	}
}

// ISSUER or AUDIENCE set to nothing (a deployment template whose variable
// is missing, say) is a mistake, not a request for the default: an empty
// ISSUER would start the development issuer, with its published secrets,
// where a real one was meant, and an empty AUDIENCE would accept the
// tokens of api://default, another API's audience at the same Okta
// authorization server.
func TestLoadConfig_IssuerOrAudienceSetButEmptyIsAnError(t *testing.T) {
	for _, in := range []struct {
		env  map[string]string
		args []string
		name string // the setting the error must name
	}{
		{env: map[string]string{"ISSUER": ""}, name: "ISSUER"},
		{env: map[string]string{"ISSUER": "  "}, name: "ISSUER"},
		{args: []string{"-issuer", ""}, name: "ISSUER"},
		{args: []string{"-issuer="}, name: "ISSUER"},
		{env: map[string]string{"ISSUER": "https://example.okta.com/oauth2/default", "AUDIENCE": ""}, name: "AUDIENCE"},
		{env: map[string]string{"ISSUER": "https://example.okta.com/oauth2/default"}, args: []string{"-audience="}, name: "AUDIENCE"},
	} {
		cfg, err := loadConfig(in.args, env(in.env))
		if err == nil || !strings.Contains(err.Error(), in.name) {
			t.Errorf("loadConfig(%q, %q) = %+v, %v; want an error naming %s", in.args, in.env, cfg, err, in.name)
		}
	}
}

// An Okta org authorization server's keys load, then every call is
// refused: the server says why at start-up.
func TestIssuerWarnings_OktaOrgAuthorizationServer(t *testing.T) {
	for issuer, warn := range map[string]bool{
		"https://dev-123456.okta.com":                   true,
		"https://dev-123456.okta.com/":                  true,
		"https://Dev-123456.OKTA.com":                   true,
		"https://acme.oktapreview.com":                  true,
		"https://acme.okta-emea.com":                    true,
		"https://agency.okta-gov.com":                   true,
		"https://unit.okta.mil":                         true,
		"https://dev-123456.okta.com/oauth2/default":    false,
		"https://dev-123456.okta.com/oauth2/default/":   false,
		"https://dev-123456.okta.com/oauth2/aus1abcdef": false,
		"https://acme.okta-emea.com/oauth2/default":     false,
		"https://acme.oktapreview.com/oauth2/default":   false,
		"https://okta.com":                              false,
		"https://evil-okta.com":                         false,
		"https://dev-123456.okta.com.example.net":       false,
		"https://login.acme.com":                        false, // a custom URL domain: cannot tell
		"https://tenant.auth0.com/":                     false,
		"https://login.example.com":                     false,
		"http://127.0.0.1:50052/oauth2/default":         false,
	} {
		got := strings.Join(issuerWarnings(issuer), "\n")
		if (got != "") != warn || warn && !strings.Contains(got, "/oauth2/default") {
			t.Errorf("%s: warnings %q, want a warning: %v", issuer, got, warn)
		}
	}
	// The suggestion is the org's default custom authorization server,
	// whatever slashes ISSUER ends with.
	if got := strings.Join(issuerWarnings("https://dev-1.okta.com//"), ""); !strings.Contains(got, "such as https://dev-1.okta.com/oauth2/default") {
		t.Errorf("warning %q, want it to suggest https://dev-1.okta.com/oauth2/default", got)
	}
}

// TestIgnoredSettings_DevIssuerAddressWithARealIssuerIsSaid: DEV_ISSUER_ADDR
// given (in the environment or as a flag) while ISSUER is set is accepted
// but said to be ignored, set to its default value or to nothing too; not
// given, or without ISSUER (when the development issuer listens there),
// nothing is said.
func TestIgnoredSettings_DevIssuerAddressWithARealIssuerIsSaid(t *testing.T) {
	const okta = "https://example.okta.com/oauth2/default"
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"moved, with ISSUER", map[string]string{"DEV_ISSUER_ADDR": "127.0.0.1:9999", "ISSUER": okta, "AUDIENCE": "api://default"}, nil, 1},
		{"moved by flag, with ISSUER", map[string]string{"ISSUER": okta, "AUDIENCE": "api://default"}, []string{"-dev-issuer-addr", "127.0.0.1:9999"}, 1},
		{"set to its default, with ISSUER", map[string]string{"DEV_ISSUER_ADDR": "127.0.0.1:50052", "ISSUER": okta, "AUDIENCE": "api://default"}, nil, 1},
		{"set to its default by flag, with ISSUER", map[string]string{"ISSUER": okta, "AUDIENCE": "api://default"}, []string{"-dev-issuer-addr", "127.0.0.1:50052"}, 1},
		{"set empty, with ISSUER", map[string]string{"DEV_ISSUER_ADDR": "", "ISSUER": okta, "AUDIENCE": "api://default"}, nil, 1},
		{"not set, with ISSUER", map[string]string{"ISSUER": okta, "AUDIENCE": "api://default"}, nil, 0},
		{"set to its default, without ISSUER", map[string]string{"DEV_ISSUER_ADDR": "127.0.0.1:50052"}, nil, 0},
		{"moved, without ISSUER", map[string]string{"DEV_ISSUER_ADDR": "127.0.0.1:9999"}, nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := ignoredSettings(cfg); len(got) != tt.want {
				t.Errorf("ignoredSettings = %q, want %d warnings", got, tt.want)
			}
		})
	}
}
