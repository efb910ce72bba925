package main

import (
	"errors"
	"flag"
	"fmt"
	"testing"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
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
			want: `{issuer: audiences:[api://default] jwksURI: addr:127.0.0.1:50051 devIssuerAddr:127.0.0.1:50052 scopeClaims:[] clientIDs:[] skipAudienceCheck:false requireClaims:map[] metricsAddr: webAddr:127.0.0.1:8080}`,
		},
		{
			name: "environment",
			env: map[string]string{
				"ISSUER": "https://example.okta.com/oauth2/default", "AUDIENCE": "api://items, api://other",
				"JWKS_URI": "https://example.okta.com/oauth2/default/v1/keys", "ADDR": "127.0.0.1:0",
				"SCOPE_CLAIMS": "scope,permissions", "CLIENT_IDS": "a,b", "REQUIRE_CLAIMS": "token_use=access",
				"METRICS_ADDR": "127.0.0.1:9464", "WEB_ADDR": "off",
			},
			want: `{issuer:https://example.okta.com/oauth2/default audiences:[api://items api://other] jwksURI:https://example.okta.com/oauth2/default/v1/keys addr:127.0.0.1:0 devIssuerAddr:127.0.0.1:50052 scopeClaims:[scope permissions] clientIDs:[a b] skipAudienceCheck:false requireClaims:map[token_use:access] metricsAddr:127.0.0.1:9464 webAddr:off}`,
		},
		{
			name: "flag overrides environment",
			env:  map[string]string{"ADDR": "127.0.0.1:1"},
			args: []string{"-addr", "127.0.0.1:2", "-audience", "api://flag"},
			want: `{issuer: audiences:[api://flag] jwksURI: addr:127.0.0.1:2 devIssuerAddr:127.0.0.1:50052 scopeClaims:[] clientIDs:[] skipAudienceCheck:false requireClaims:map[] metricsAddr: webAddr:127.0.0.1:8080}`,
		},
		{
			name: "skip audience check with client ids",
			env:  map[string]string{"SKIP_AUDIENCE_CHECK": "true", "CLIENT_IDS": "abc"},
			want: `{issuer: audiences:[api://default] jwksURI: addr:127.0.0.1:50051 devIssuerAddr:127.0.0.1:50052 scopeClaims:[] clientIDs:[abc] skipAudienceCheck:true requireClaims:map[] metricsAddr: webAddr:127.0.0.1:8080}`,
		},
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
