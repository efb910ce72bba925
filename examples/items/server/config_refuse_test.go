package main

import (
	"strings"
	"testing"
)

// TestLoadConfig_UnsafeOrNonsensicalSettingsAreRefused: each setting that
// would run the server unsafely, or not as written, is refused at start-up
// by an error that names the variable and repeats no secret of it.
func TestLoadConfig_UnsafeOrNonsensicalSettingsAreRefused(t *testing.T) {
	const okta = "https://example.okta.com/oauth2/default"
	tests := []struct {
		name    string
		env     map[string]string
		want    string // a substring of the error
		secrets []string
	}{
		{"issuer plain http beyond loopback", map[string]string{"ISSUER": "http://idp.example.com/oauth2/default"}, "server: ISSUER", nil},
		{"issuer without scheme", map[string]string{"ISSUER": "example.okta.com/oauth2/default"}, "server: ISSUER", nil},
		{"issuer with another scheme", map[string]string{"ISSUER": "ftp://example.okta.com/oauth2/default"}, "server: ISSUER", nil},
		{"issuer with userinfo", map[string]string{"ISSUER": "https://admin:hunter2@example.okta.com/oauth2/default"}, "server: ISSUER", []string{"hunter2", "admin"}},
		{"issuer with a query", map[string]string{"ISSUER": okta + "?api_key=s3cr3t"}, "server: ISSUER", []string{"s3cr3t"}},
		{"issuer with a fragment", map[string]string{"ISSUER": okta + "#s3cr3t"}, "server: ISSUER", []string{"s3cr3t"}},
		{"issuer that does not parse", map[string]string{"ISSUER": "https://example.okta.com:s3cr3t/x"}, "server: ISSUER", []string{"s3cr3t"}},
		{"jwks uri plain http beyond loopback", map[string]string{"ISSUER": okta, "JWKS_URI": "http://example.okta.com/keys"}, "server: JWKS_URI", nil},
		{"jwks uri with userinfo", map[string]string{"ISSUER": okta, "JWKS_URI": "https://u:hunter2@example.okta.com/keys"}, "server: JWKS_URI", []string{"hunter2"}},

		{"audience with an empty entry", map[string]string{"AUDIENCE": "api://a,,api://b"}, "server: AUDIENCE", nil},
		{"audience with a trailing comma", map[string]string{"ISSUER": okta, "AUDIENCE": "api://a,"}, "server: AUDIENCE", nil},
		{"scope claims with an empty entry", map[string]string{"SCOPE_CLAIMS": "scp,,scope"}, "server: SCOPE_CLAIMS", nil},
		{"scope claims of commas only", map[string]string{"SCOPE_CLAIMS": " , "}, "server: SCOPE_CLAIMS", nil},
		{"scope claims separated by spaces", map[string]string{"SCOPE_CLAIMS": "scp roles"}, "server: SCOPE_CLAIMS", nil},
		{"scope claim with a control character", map[string]string{"SCOPE_CLAIMS": "scp\x00"}, "server: SCOPE_CLAIMS", nil},
		{"client ids of commas only", map[string]string{"CLIENT_IDS": ","}, "server: CLIENT_IDS", nil},
		{"client ids with an empty entry", map[string]string{"CLIENT_IDS": "a,,b"}, "server: CLIENT_IDS", nil},
		{"client id with a control character", map[string]string{"CLIENT_IDS": "a\nb"}, "server: CLIENT_IDS", nil},
		{"require claims without a name", map[string]string{"REQUIRE_CLAIMS": "=access"}, "server: REQUIRE_CLAIMS", nil},
		{"require claims without a value", map[string]string{"REQUIRE_CLAIMS": "token_use="}, "server: REQUIRE_CLAIMS", nil},
		{"require claims naming a claim twice", map[string]string{"REQUIRE_CLAIMS": "token_use=access,token_use=id"}, "server: REQUIRE_CLAIMS", nil},
		{"require claims with an empty entry", map[string]string{"REQUIRE_CLAIMS": "token_use=access,"}, "server: REQUIRE_CLAIMS", nil},
		{"require claims name with a space", map[string]string{"REQUIRE_CLAIMS": "token use=access"}, "server: REQUIRE_CLAIMS", nil},

		{"address without a port", map[string]string{"ADDR": "127.0.0.1"}, "server: ADDR", nil},
		{"address with a port beyond 65535", map[string]string{"ADDR": "127.0.0.1:65536"}, "server: ADDR", nil},
		{"address with an overflowing port", map[string]string{"ADDR": "127.0.0.1:99999999999999999999"}, "server: ADDR", nil},
		{"address with a negative port", map[string]string{"ADDR": "127.0.0.1:-1"}, "server: ADDR", nil},
		{"address with a named port", map[string]string{"ISSUER": okta, "AUDIENCE": "api://default", "ADDR": "0.0.0.0:http"}, `server: ADDR "0.0.0.0:http": the port must be a number from 0 to 65535, not a name`, nil},
		{"loopback address with a named port", map[string]string{"ADDR": "localhost:http"}, `server: ADDR "localhost:http": the port must be a number from 0 to 65535, not a name`, nil},
		{"web address with a named port", map[string]string{"WEB_ADDR": "127.0.0.1:http-alt"}, "server: WEB_ADDR", nil},
		{"web address without a port", map[string]string{"WEB_ADDR": "localhost"}, "server: WEB_ADDR", nil},
		{"metrics address with a bad port", map[string]string{"ISSUER": okta, "METRICS_ADDR": "127.0.0.1:9464x"}, "server: METRICS_ADDR", nil},
		{"development issuer address with a bad port", map[string]string{"DEV_ISSUER_ADDR": "127.0.0.1:70000"}, "server: DEV_ISSUER_ADDR", nil},

		// Without ISSUER the development issuer runs, whose secrets are
		// published: its server stays on loopback.
		{"development issuer with the server on every interface", map[string]string{"ADDR": ":50051"}, "server: ADDR", nil},
		{"development issuer with the server on 0.0.0.0", map[string]string{"ADDR": "0.0.0.0:50051"}, "server: ADDR", nil},
		{"development issuer with the server on a host name", map[string]string{"ADDR": "items.internal:50051"}, "server: ADDR", nil},
		{"development issuer with the web page on every interface", map[string]string{"WEB_ADDR": "[::]:8080"}, "server: WEB_ADDR", nil},
		{"development issuer with metrics on every interface", map[string]string{"METRICS_ADDR": ":9464"}, "server: METRICS_ADDR", nil},
		{"development issuer beyond loopback", map[string]string{"DEV_ISSUER_ADDR": "0.0.0.0:50052"}, "server: DEV_ISSUER_ADDR", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(nil, env(tt.env))
			if err == nil {
				t.Fatalf("loadConfig = %+v, want an error with %q", cfg, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q repeats %q", err, s)
				}
			}
		})
	}
}

// TestLoadConfig_SafeSettingsAreAccepted: what the checks of
// TestLoadConfig_UnsafeOrNonsensicalSettingsAreRefused must still let
// through.
func TestLoadConfig_SafeSettingsAreAccepted(t *testing.T) {
	const okta = "https://example.okta.com/oauth2/default"
	for _, e := range []map[string]string{
		{"ISSUER": "http://127.0.0.1:8080/realms/dev", "AUDIENCE": "items-api"},
		{"ISSUER": "http://localhost:8080/realms/dev", "AUDIENCE": "items-api"},
		{"ISSUER": "http://[::1]:8080/realms/dev", "AUDIENCE": "items-api"},
		{"ISSUER": "https://tenant.auth0.com/", "AUDIENCE": "https://items.example.com"},
		{"ISSUER": okta, "AUDIENCE": "api://default", "JWKS_URI": "https://example.okta.com/oauth2/default/v1/keys?api_key=abc"},
		{"ISSUER": okta, "AUDIENCE": "api://default", "ADDR": ":50051", "WEB_ADDR": "0.0.0.0:8080", "METRICS_ADDR": "10.0.0.5:9464"},
		{"ISSUER": okta, "AUDIENCE": "api://default", "ADDR": "[::]:50051"},
		{"ISSUER": okta, "AUDIENCE": "api://default", "DEV_ISSUER_ADDR": "0.0.0.0:1"}, // ignored, with a warning
		{"ADDR": "localhost:0", "WEB_ADDR": "[::1]:0", "METRICS_ADDR": "127.0.0.2:9464", "DEV_ISSUER_ADDR": "localhost:50052"},
		{"WEB_ADDR": "off"},
		{"SCOPE_CLAIMS": " scp , roles "},
		{"SCOPE_CLAIMS": "  "},
		{"CLIENT_IDS": "", "REQUIRE_CLAIMS": ""},
		{"REQUIRE_CLAIMS": "token_use=access, department=Sales Team"},
		{"AUDIENCE": "api://items, api://other"},
	} {
		if cfg, err := loadConfig(nil, env(e)); err != nil {
			t.Errorf("loadConfig(%q) = %+v, %v; want no error", e, cfg, err)
		}
	}
}

// TestSettingWarnings_TyposAndIgnoredAudienceAreSaid: a variable the
// server does not read, one letter or spelling from one it does and that
// is unset, is a likely typo (AUDIENCES for AUDIENCE), said at start-up;
// so is an AUDIENCE that SKIP_AUDIENCE_CHECK makes the verifier ignore.
func TestSettingWarnings_TyposAndIgnoredAudienceAreSaid(t *testing.T) {
	const okta = "https://example.okta.com/oauth2/default"
	checkWarnings(t, ignoredSettings, []warningCase{
		{map[string]string{"ISSUER": okta, "AUDIENCE": "api://items", "SCOPE_CLAIMSS": "roles"}, "SCOPE_CLAIMSS is set, but the server reads SCOPE_CLAIMS"},
		{map[string]string{"AUDIENCES": "api://items"}, "AUDIENCES is set, but the server reads AUDIENCE"},
		{map[string]string{"ISSUR": ""}, "ISSUR is set, but the server reads ISSUER"},
		{map[string]string{"jwks_uri": "https://example.okta.com/keys"}, "jwks_uri is set, but the server reads JWKS_URI"},
		{map[string]string{"ISSUER": okta, "AUDIENCE": "api://items", "CLIENT_ID": "0oa1"}, "CLIENT_ID is set, but the server reads CLIENT_IDS"},
		{map[string]string{"ISSUER": okta, "AUDIENCE": "api://items", "SCOPE_CLAIM": "roles"}, "SCOPE_CLAIM is set, but the server reads SCOPE_CLAIMS"},
		{map[string]string{"ISSUER": okta, "AUDIENCE": "api://items", "JWKS_URL": "https://example.okta.com/keys"}, "JWKS_URL is set, but the server reads JWKS_URI"},
		{map[string]string{"ISSUER": okta, "AUDIENCE": "api://items", "REQUIRE_CLAIM": "a=b"}, "REQUIRE_CLAIM is set, but the server reads REQUIRE_CLAIMS"},
		{map[string]string{"ISSUER": okta, "AUDIENCE": "api://items", "METRICS_ADDRESS": "127.0.0.1:1"}, "METRICS_ADDRESS is set, but the server reads METRICS_ADDR"},
		// Both set: the other is someone else's (the client's CLIENT_ID).
		{map[string]string{"ISSUER": okta, "AUDIENCE": "api://items", "CLIENT_ID": "0oa1", "CLIENT_IDS": "0oa1"}, ""},
		{map[string]string{"ISSUER": okta, "AUDIENCE": "api://items"}, ""},
		{map[string]string{"ISSUER": okta, "AUDIENCE": "api://other", "SKIP_AUDIENCE_CHECK": "true", "CLIENT_IDS": "a"}, "AUDIENCE is ignored: SKIP_AUDIENCE_CHECK"},
		// The development issuer mints AUDIENCE's first entry: not ignored.
		{map[string]string{"AUDIENCE": "api://other", "SKIP_AUDIENCE_CHECK": "true", "CLIENT_IDS": "a"}, ""},
		{map[string]string{"ISSUER": okta, "SKIP_AUDIENCE_CHECK": "true", "CLIENT_IDS": "a"}, ""},
	})
}

// TestIssuerSlashWarnings_KnownProvidersTrailingSlash: an issuer differs
// from the token's iss by a trailing slash is refused token after token;
// for providers whose form is known the server says so at start-up.
func TestIssuerSlashWarnings_KnownProvidersTrailingSlash(t *testing.T) {
	for issuer, want := range map[string]string{
		"https://tenant.auth0.com":                                 "ends with a slash",
		"https://tenant.eu.auth0.com":                              "ends with a slash",
		"https://tenant.auth0.com/":                                "",
		"https://dev-1.okta.com/oauth2/default/":                   "has no trailing slash",
		"https://dev-1.okta.com/oauth2/default":                    "",
		"https://sso.example.com/realms/items/":                    "has no trailing slash",
		"https://sso.example.com/realms/items":                     "",
		"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/": "has no trailing slash",
		"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X":  "",
		"https://login.microsoftonline.com/tid/v2.0/":              "has no trailing slash",
		"https://login.microsoftonline.com/tid/v2.0":               "",
		"https://idp.example.com/":                                 "", // unknown: cannot tell
		"https://idp.example.com":                                  "",
	} {
		got := strings.Join(issuerSlashWarnings(issuer), "\n")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: warnings %q, want %q", issuer, got, want)
		}
	}
}

// TestLoadConfig_RealIssuerWithoutAudienceIsRefused: with ISSUER the
// server refuses to start without AUDIENCE (RFC 9068, section 4: a
// resource server checks that aud names it), with an error naming the
// variable, rather than check api://default, Okta's default authorization
// server's audience, which every API on it shares and other providers
// never issue. SKIP_AUDIENCE_CHECK with CLIENT_IDS is the explicit way
// out; the development issuer needs no setting.
func TestLoadConfig_RealIssuerWithoutAudienceIsRefused(t *testing.T) {
	const okta = "https://example.okta.com/oauth2/default"
	for _, tt := range []struct {
		env  map[string]string
		args []string
	}{
		{env: map[string]string{"ISSUER": okta}},
		{args: []string{"-issuer", okta}},
		{env: map[string]string{"ISSUER": okta, "CLIENT_IDS": "0oa1"}},
	} {
		cfg, err := loadConfig(tt.args, env(tt.env))
		if err == nil || !strings.Contains(err.Error(), "server: AUDIENCE is unset") {
			t.Errorf("loadConfig(%q, %v) = %+v, %v; want an error naming AUDIENCE", tt.args, tt.env, cfg, err)
		}
	}
	for _, e := range []map[string]string{
		nil, // the development issuer: api://default, the aud it mints
		{"ISSUER": okta, "AUDIENCE": "api://default"},
		{"ISSUER": okta, "SKIP_AUDIENCE_CHECK": "true", "CLIENT_IDS": "0oa1"},
	} {
		if cfg, err := loadConfig(nil, env(e)); err != nil {
			t.Errorf("loadConfig(%v) = %+v, %v; want no error", e, cfg, err)
		}
	}
}

// TestScopeClaimWarnings_PermissionsIsSaid: SCOPE_CLAIMS naming
// permissions widens an Auth0 user's token to every permission the user
// holds, so it is said at start-up; the default and scp,roles are not.
func TestScopeClaimWarnings_PermissionsIsSaid(t *testing.T) {
	const auth0 = "https://example.auth0.com/"
	checkWarnings(t, scopeClaimWarnings, []warningCase{
		{map[string]string{"ISSUER": auth0, "AUDIENCE": "https://items.example.com", "SCOPE_CLAIMS": "scope,permissions"}, "SCOPE_CLAIMS names permissions"},
		{map[string]string{"ISSUER": auth0, "AUDIENCE": "https://items.example.com"}, ""},
		{map[string]string{"SCOPE_CLAIMS": "scp,roles"}, ""},
	})
}
