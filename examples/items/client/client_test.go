package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/examples/items/internal/dev"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestLoadConfig(t *testing.T) {
	devIssuer := dev.IssuerURL(dev.IssuerAddr)
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string // fmt of the config; "" when an error is expected
		wantErr bool
	}{
		{
			name: "no settings: the development issuer's read-only client",
			want: fmt.Sprintf("{issuer:%s tokenURL: clientID:items-reader clientSecret:%s scopes:[] audience: resource: addr:127.0.0.1:50051 devIssuer:true authStyle:2 dpop:false typos:[]}", devIssuer, dev.Reader.Secret),
		},
		{
			name: "a development client by id alone",
			env:  map[string]string{"CLIENT_ID": dev.Admin.ID},
			want: fmt.Sprintf("{issuer:%s tokenURL: clientID:items-admin clientSecret:%s scopes:[] audience: resource: addr:127.0.0.1:50051 devIssuer:true authStyle:2 dpop:false typos:[]}", devIssuer, dev.Admin.Secret),
		},
		{
			name: "a real issuer with its client",
			env: map[string]string{
				"ISSUER": "https://example.okta.com/oauth2/default", "CLIENT_ID": "0oa1", "CLIENT_SECRET": "s3",
				"SCOPES": "items:read, items:write", "ADDR": "items.example.com:443",
				"TOKEN_URL": "https://example.okta.com/oauth2/default/v1/token",
			},
			want: "{issuer:https://example.okta.com/oauth2/default tokenURL:https://example.okta.com/oauth2/default/v1/token clientID:0oa1 clientSecret:s3 scopes:[items:read items:write] audience: resource: addr:items.example.com:443 devIssuer:false authStyle:2 dpop:false typos:[]}",
		},
		{
			// Only a discovered token_endpoint must keep an https issuer's
			// scheme (downgrade): one set by hand, a local proxy say, is
			// taken as checkURL allows it, plain http on loopback too.
			name: "an https issuer with a TOKEN_URL on loopback http, set by hand",
			env: map[string]string{
				"ISSUER": "https://example.okta.com/oauth2/default", "CLIENT_ID": "0oa1", "CLIENT_SECRET": "s3",
				"TOKEN_URL": "http://127.0.0.1:8080/v1/token",
			},
			want: "{issuer:https://example.okta.com/oauth2/default tokenURL:http://127.0.0.1:8080/v1/token clientID:0oa1 clientSecret:s3 scopes:[] audience: resource: addr:127.0.0.1:50051 devIssuer:false authStyle:2 dpop:false typos:[]}",
		},
		{
			name: "client_secret_post, as an Auth0 application set to Client Secret (Post)",
			env:  map[string]string{"AUTH_METHOD": "client_secret_post"},
			want: fmt.Sprintf("{issuer:%s tokenURL: clientID:items-reader clientSecret:%s scopes:[] audience: resource: addr:127.0.0.1:50051 devIssuer:true authStyle:1 dpop:false typos:[]}", devIssuer, dev.Reader.Secret),
		},
		{
			name: "a DPoP-bound token",
			env:  map[string]string{"TOKEN_TYPE": "dpop"},
			want: fmt.Sprintf("{issuer:%s tokenURL: clientID:items-reader clientSecret:%s scopes:[] audience: resource: addr:127.0.0.1:50051 devIssuer:true authStyle:2 dpop:true typos:[]}", devIssuer, dev.Reader.Secret),
		},
		{
			name:    "a token type the client does not implement",
			env:     map[string]string{"TOKEN_TYPE": "mtls"},
			wantErr: true,
		},
		{
			name:    "an authentication method the client does not implement",
			env:     map[string]string{"AUTH_METHOD": "private_key_jwt"},
			wantErr: true,
		},
		{
			name: "flags override the environment",
			env:  map[string]string{"ADDR": "127.0.0.1:1", "SCOPES": "a"},
			args: []string{"-addr", "127.0.0.1:2", "-scopes", "b c", "-audience", "https://api"},
			want: fmt.Sprintf("{issuer:%s tokenURL: clientID:items-reader clientSecret:%s scopes:[b c] audience:https://api resource: addr:127.0.0.1:2 devIssuer:true authStyle:2 dpop:false typos:[]}", devIssuer, dev.Reader.Secret),
		},
		{
			name: "RFC 8707 resource",
			env:  map[string]string{"RESOURCE": "https://items.example.com"},
			want: fmt.Sprintf("{issuer:%s tokenURL: clientID:items-reader clientSecret:%s scopes:[] audience: resource:https://items.example.com addr:127.0.0.1:50051 devIssuer:true authStyle:2 dpop:false typos:[]}", devIssuer, dev.Reader.Secret),
		},
		{
			// A development secret must never be sent to a real issuer.
			name:    "a real issuer without a client",
			env:     map[string]string{"ISSUER": "https://example.okta.com/oauth2/default", "CLIENT_ID": dev.Reader.ID},
			wantErr: true,
		},
		{
			name:    "a plaintext issuer off this machine",
			env:     map[string]string{"ISSUER": "http://idp.example.com/oauth2/default", "CLIENT_ID": "a", "CLIENT_SECRET": "b"},
			wantErr: true,
		},
		{
			name:    "a plaintext token endpoint off this machine",
			env:     map[string]string{"TOKEN_URL": "http://idp.example.com/token"},
			wantErr: true,
		},
		{name: "an unknown development client", env: map[string]string{"CLIENT_ID": "someone"}, wantErr: true},
		{
			name: "a development client with its secret",
			env:  map[string]string{"CLIENT_ID": dev.Writer.ID, "CLIENT_SECRET": dev.Writer.Secret},
			want: fmt.Sprintf("{issuer:%s tokenURL: clientID:items-writer clientSecret:%s scopes:[] audience: resource: addr:127.0.0.1:50051 devIssuer:true authStyle:2 dpop:false typos:[]}", devIssuer, dev.Writer.Secret),
		},
		{
			// A real secret must never be sent to the development issuer
			// (whatever listens on its loopback port) either.
			name:    "a real client without its issuer",
			env:     map[string]string{"CLIENT_ID": "0oa1", "CLIENT_SECRET": "real-secret"},
			wantErr: true,
		},
		{
			name:    "a development client with another secret",
			env:     map[string]string{"CLIENT_ID": dev.Reader.ID, "CLIENT_SECRET": "real-secret"},
			wantErr: true,
		},
		{
			// The development client's secret would go to that endpoint.
			name:    "a token endpoint without its issuer",
			env:     map[string]string{"TOKEN_URL": "https://example.okta.com/oauth2/default/v1/token"},
			wantErr: true,
		},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, env(tt.env), io.Discard)
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

// Without ISSUER, a CLIENT_ID the development issuer does not have is
// named, with the ones it has; the error does not ask for a secret "for
// this ISSUER", as none is set and no secret would help.
func TestLoadConfig_UnknownDevelopmentClientIsNamed(t *testing.T) {
	_, err := loadConfig(nil, env(map[string]string{"CLIENT_ID": "someone"}), io.Discard)
	if err == nil {
		t.Fatal("loadConfig succeeded, want an error")
	}
	for _, want := range []string{`"someone"`, dev.Reader.ID, dev.Writer.ID, dev.Admin.ID, "ISSUER"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "for this ISSUER") {
		t.Errorf("error %q speaks of an ISSUER, which is unset", err)
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:50051", true},
		{"127.9.9.9:1", true},
		{"[::1]:50051", true},
		{"localhost:50051", true},
		{"LOCALHOST:1", true},
		{"10.0.0.1:50051", false},
		{"[::ffff:10.0.0.1]:1", false},
		{"items.example.com:443", false},
		{"localhost.example.com:443", false},
		{"127.0.0.1", false}, // no port: not host:port at all
		{"", false},
	}
	for _, tt := range tests {
		if got := isLoopback(tt.addr); got != tt.want {
			t.Errorf("isLoopback(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// jwt returns an unsigned compact JWS with claims, enough for a payload
// reader.
func jwt(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(claims)) + "."
}

func TestTokenWarnings(t *testing.T) {
	tests := []struct {
		name  string
		token string
		cfg   config
		want  []string // substrings, one per warning
	}{
		{"JWT with the asked audience", jwt(`{"aud":"api://items"}`), config{audience: "api://items"}, nil},
		{"JWT, nothing asked", jwt(`{"aud":"api://default"}`), config{}, nil},
		{"resource among several audiences", jwt(`{"aud":["a","https://api"]}`), config{resource: "https://api"}, nil},
		{"audience not granted", jwt(`{"aud":"api://default"}`), config{audience: "api://items"}, []string{`AUDIENCE is "api://items" but the token's aud is "api://default"`}},
		{"aud with a combining mark", jwt(`{"aud":"api://items\u0338"}`), config{audience: "api://items"}, []string{`the token's aud is "api://items\u0338"`}},
		{"development issuer ignores the audience", jwt(`{"aud":"api://default"}`), config{audience: "api://items", devIssuer: true}, []string{"development issuer ignores it"}},
		{"opaque token without RESOURCE", "2YotnFZFEjr1zCsicMWpAA", config{}, []string{"not a JWT", "RESOURCE names the API"}},
		{"opaque token with RESOURCE", "2YotnFZFEjr1zCsicMWpAA", config{resource: "https://api"}, []string{"not a JWT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(tokenWarnings(tt.token, tt.cfg), "\n")
			if len(tt.want) == 0 && got != "" {
				t.Fatalf("warnings %q, want none", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("warnings %q lack %q", got, w)
				}
			}
		})
	}
	if w := tokenWarnings("2YotnFZFEjr1zCsicMWpAA", config{resource: "https://api"}); strings.Contains(strings.Join(w, ""), "RESOURCE names") {
		t.Errorf("warning %q suggests RESOURCE though it is set", w)
	}
}

func TestTokenURL(t *testing.T) {
	var issuer string
	mux := http.NewServeMux()
	mux.HandleFunc("/good/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":"https://token.example/t"}`, issuer+"/good")
	})
	mux.HandleFunc("/wrong/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"issuer":"https://evil.example","token_endpoint":"https://evil.example/t"}`)
	})
	mux.HandleFunc("/broken/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/garbage/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"issuer":`)
	})
	// A plaintext token endpoint on another host would get the client
	// secret in clear text.
	mux.HandleFunc("/plain/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":"http://idp.example.com/t"}`, issuer+"/plain")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	issuer = srv.URL
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	tests := []struct {
		path    string
		want    string
		wantErr bool
	}{
		{path: "/good", want: "https://token.example/t"},
		{path: "/none", want: srv.URL + "/none/v1/token"}, // 404: Okta's layout
		{path: "/wrong", wantErr: true},
		{path: "/broken", wantErr: true},
		{path: "/garbage", wantErr: true},
		{path: "/plain", wantErr: true},
	}
	for _, tt := range tests {
		got, err := tokenURL(context.Background(), hc, srv.URL+tt.path)
		if tt.wantErr {
			if err == nil || errors.Is(err, errNoDiscovery) {
				t.Errorf("%s: %q, %v; want an error", tt.path, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	withInfo := func(code codes.Code, msg string, info *errdetails.ErrorInfo) error {
		st, err := status.New(code, msg).WithDetails(info)
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	tests := []struct {
		err  error
		want string
	}{
		{status.Error(codes.NotFound, "item not found"), "item not found"},
		{withInfo(codes.Unauthenticated, "grpcauth: access token required",
			&errdetails.ErrorInfo{Domain: "grpcauth", Reason: "CREDENTIALS_MISSING"}),
			"grpcauth: access token required [CREDENTIALS_MISSING]"},
		{withInfo(codes.PermissionDenied, "grpcauth: access token lacks a required scope",
			&errdetails.ErrorInfo{Domain: "grpcauth", Reason: "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
				Metadata: map[string]string{"required_scopes": `[["items:admin","items:write"],["root"]]`}}),
			"needs items:admin + items:write or root [ACCESS_TOKEN_SCOPE_INSUFFICIENT]"},
		{withInfo(codes.PermissionDenied, "denied",
			&errdetails.ErrorInfo{Domain: "example.com", Reason: "OTHER"}),
			"denied"},
		// A step-up refusal says what a sign-in must bring, its
		// well-formed acr_values and max_age only, or that it names
		// nothing a sign-in could ask for.
		{withInfo(codes.Unauthenticated, "grpcauth: stronger authentication required",
			&errdetails.ErrorInfo{Domain: "grpcauth", Reason: "INSUFFICIENT_USER_AUTHENTICATION",
				Metadata: map[string]string{"acr_values": "urn:a:mfa phr", "max_age": "300"}}),
			"needs a stronger or more recent sign-in: acr urn:a:mfa or phr, signed in at most 300 s ago [INSUFFICIENT_USER_AUTHENTICATION]"},
		{withInfo(codes.Unauthenticated, "grpcauth: stronger authentication required",
			&errdetails.ErrorInfo{Domain: "grpcauth", Reason: "INSUFFICIENT_USER_AUTHENTICATION",
				Metadata: map[string]string{"acr_values": `a"b`, "max_age": "60"}}),
			"needs a stronger or more recent sign-in: signed in at most 60 s ago [INSUFFICIENT_USER_AUTHENTICATION]"},
		{withInfo(codes.Unauthenticated, "grpcauth: stronger authentication required",
			&errdetails.ErrorInfo{Domain: "grpcauth", Reason: "INSUFFICIENT_USER_AUTHENTICATION",
				Metadata: map[string]string{"acr_values": `a"b`, "max_age": "-1"}}),
			"needs a stronger or more recent sign-in, but names no acr_values or max_age a sign-in could ask for: signing in again would not change the answer [INSUFFICIENT_USER_AUTHENTICATION]"},
		{withInfo(codes.Unauthenticated, "grpcauth: stronger authentication required",
			&errdetails.ErrorInfo{Domain: "grpcauth", Reason: "INSUFFICIENT_USER_AUTHENTICATION"}),
			"needs a stronger or more recent sign-in, but names no acr_values or max_age a sign-in could ask for: signing in again would not change the answer [INSUFFICIENT_USER_AUTHENTICATION]"},
		// A hostile server's terminal escapes are printed as text.
		{status.Error(codes.NotFound, "gone\x1b[2J\rok"), `"gone\x1b[2J\rok"`},
		{withInfo(codes.Unauthenticated, "no",
			&errdetails.ErrorInfo{Domain: "grpcauth", Reason: "X\u202eY"}),
			`"no [X\u202eY]"`},
		// A byte that is not UTF-8 (0x9b is CSI to a terminal reading
		// 8-bit controls) is printed as text too.
		{status.Error(codes.NotFound, "gone\x9b2J"), `"gone\x9b2J"`},
	}
	for _, tt := range tests {
		if got := describe(tt.err); got != tt.want {
			t.Errorf("describe(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// redirectingAS is an authorization server, as a RoundTripper, whose token
// endpoint https://idp.example.com/token answers status (a 307 or 308, so
// the body and, to a subdomain, the Authorization header go along) with
// Location location, and which records the requests that arrive anywhere
// else.
type redirectingAS struct {
	status     int
	location   string
	redirected []*http.Request
}

func (a *redirectingAS) RoundTrip(req *http.Request) (*http.Response, error) {
	h := http.Header{}
	status := http.StatusOK
	body := `{"access_token":"at","token_type":"Bearer","expires_in":3600}`
	if req.URL.String() == "https://idp.example.com/token" {
		status, body = a.status, ""
		h.Set("Location", a.location)
	} else {
		a.redirected = append(a.redirected, req)
		h.Set("Content-Type", "application/json")
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

// A 307 or 308 from the token endpoint sends the client secret on to its
// Location (in the body, or in the Authorization header to the same host
// or a subdomain): the token request follows no redirect to plain http off
// this machine, nor to another origin.
func TestHTTPClient_TokenRequestFollowsNoRedirectOffItsOrigin(t *testing.T) {
	for _, tt := range []struct {
		name     string
		status   int
		location string
		style    oauth2.AuthStyle
	}{
		{"307 to plain http, secret in the header", http.StatusTemporaryRedirect, "http://idp.example.com/token", oauth2.AuthStyleInHeader},
		{"308 to another https origin, secret in the body", http.StatusPermanentRedirect, "https://collector.example.net/token", oauth2.AuthStyleInParams},
		{"307 to a subdomain, secret in the header", http.StatusTemporaryRedirect, "https://eu.idp.example.com/token", oauth2.AuthStyleInHeader},
	} {
		t.Run(tt.name, func(t *testing.T) {
			as := &redirectingAS{status: tt.status, location: tt.location}
			cc := clientcredentials.Config{ClientID: "0oa1", ClientSecret: "real-secret", TokenURL: "https://idp.example.com/token", AuthStyle: tt.style}
			if _, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, newHTTPClient(as))); err == nil {
				t.Error("got a token through the redirect")
			}
			for _, r := range as.redirected {
				t.Errorf("token request sent on to %s (Authorization %q)", r.URL, r.Header.Get("Authorization"))
			}
		})
	}
}

// An authorization server that ignores the token request's DPoP proof
// answers a bearer token; TOKEN_TYPE=dpop then stops with an error saying
// so, instead of a report where every call is Unauthenticated.
func TestRun_DPoPStopsWhenTheIssuerDoesNotBindTheToken(t *testing.T) {
	proofs := make(chan string, 1)
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case proofs <- r.Header.Get("DPoP"):
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at","token_type":"Bearer","expires_in":3600}`)
	}))
	defer as.Close()
	cfg, err := loadConfig(nil, env(map[string]string{
		"ISSUER": as.URL, "TOKEN_URL": as.URL + "/token", "CLIENT_ID": "0oa1", "CLIENT_SECRET": "s3",
		"TOKEN_TYPE": "dpop", "ADDR": "127.0.0.1:1",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = run(context.Background(), cfg, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not a DPoP-bound one") {
		t.Errorf("run = %v, want an error about the unbound token", err)
	}
	if out.Len() != 0 {
		t.Errorf("run printed a report:\n%s", out.String())
	}
	if p := <-proofs; strings.Count(p, ".") != 2 {
		t.Errorf("token request DPoP header = %q, want a proof", p)
	}
}

// An authorization server's text reaches the terminal as text too: the
// token type the report prints, and an error body in the error main
// prints.
func TestRun_AuthorizationServerTextIsPrintedAsText(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"token type", `{"access_token":"at","token_type":"Bearer\u001b[2J","expires_in":3600}`, http.StatusOK},
		{"error body", "forbidden\x1b]0;owned\a", http.StatusUnauthorized}, // x/oauth2 quotes a JSON error's fields, not a body it cannot read
		{"granted scope", `{"access_token":"at","token_type":"Bearer","expires_in":3600,"scope":"items:read\u3164items:admi\u0301n"}`, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status == http.StatusOK {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer as.Close()
			cfg, err := loadConfig(nil, env(map[string]string{
				"ISSUER": as.URL, "TOKEN_URL": as.URL + "/token", "CLIENT_ID": "0oa1", "CLIENT_SECRET": "s3", "ADDR": "127.0.0.1:1",
			}), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, stderr strings.Builder
			if err := run(ctx, cfg, &out, io.Discard); err != nil {
				printError(&stderr, err)
			}
			if printed := out.String() + stderr.String(); printed == "" || strings.ContainsAny(printed, "\x1b\a\u3164\u0301") {
				t.Errorf("printed %q, want text without terminal controls or invisible characters", printed)
			}
		})
	}
}

// The token endpoint a discovery document names is printed in the
// report's first line: as text too, though checkURL accepts it, since a
// URL may hold a C1 control (U+009B is CSI to a terminal reading 8-bit
// controls) in its path.
func TestRun_DiscoveredTokenEndpointIsPrintedAsText(t *testing.T) {
	var as *httptest.Server
	as = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/.well-known/openid-configuration" {
			fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, as.URL, as.URL+"/token\u009b2J")
			return
		}
		io.WriteString(w, `{"access_token":"at","token_type":"Bearer","expires_in":3600}`)
	}))
	defer as.Close()
	cfg, err := loadConfig(nil, env(map[string]string{"ISSUER": as.URL, "CLIENT_ID": "0oa1", "CLIENT_SECRET": "s3", "ADDR": "127.0.0.1:1"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out strings.Builder
	_ = run(ctx, cfg, &out, io.Discard) // the server at ADDR is not there: only the first line matters
	if first, _, _ := strings.Cut(out.String(), "\n"); !strings.Contains(first, "/token") || strings.Contains(first, "\u009b") {
		t.Errorf("first line %q, want the token endpoint without its C1 control", first)
	}
}

// hostileServer answers GetServerInfo and ListItems with terminal escapes
// in the fields the report prints.
type hostileServer struct {
	itemsv1.UnimplementedItemServiceServer
}

func (hostileServer) GetServerInfo(context.Context, *itemsv1.GetServerInfoRequest) (*itemsv1.GetServerInfoResponse, error) {
	return &itemsv1.GetServerInfoResponse{Issuer: "https://idp\x1b[2J", Audience: "api\r", Methods: []*itemsv1.MethodInfo{
		{Name: "/items.v1.ItemService/Evil\x1b[2J", Scopes: []string{"items:read\a"}},
	}}, nil
}

func (hostileServer) ListItems(context.Context, *itemsv1.ListItemsRequest) (*itemsv1.ListItemsResponse, error) {
	return &itemsv1.ListItemsResponse{Items: []*itemsv1.Item{{Id: "item-1\x1b]0;owned\a"}}}, nil
}

// A server's answers to calls it allows reach the report as text too: an
// issuer, an audience, an item id, or a method's name or scopes in the
// rules GetServerInfo lists, with terminal escapes cannot clear the
// screen or rewrite earlier lines.
func TestCallAll_ServerTextOfAllowedCallsIsPrintedAsText(t *testing.T) {
	conn := serveItems(t, hostileServer{})
	var out strings.Builder
	_ = callAll(context.Background(), conn, grpc.EmptyCallOption{}, "items-reader", &out) // the other methods are Unimplemented
	for _, want := range []string{`"issuer https://idp\x1b[2J, audience api\r"`, `"item-1\x1b]0;owned\a"`, `"Evil\x1b[2J"`, `"items:read\a"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %s:\n%s", want, out.String())
		}
	}
	if strings.ContainsAny(out.String(), "\x1b\r\a") {
		t.Errorf("report carries the server's control characters:\n%q", out.String())
	}
}

// serveItems serves srv on an in-process listener, with opts, and returns
// a client connection to it; both are closed when the test ends.
func serveItems(t *testing.T, srv itemsv1.ItemServiceServer, opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 16)
	s := grpc.NewServer(opts...)
	itemsv1.RegisterItemServiceServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// floodServer answers with strings of half a mebibyte, terminal escapes in
// them, in every field the report prints, a status message and ErrorInfo
// as long, and GetServerInfo lists thousands of methods.
type floodServer struct {
	itemsv1.UnimplementedItemServiceServer
}

// flood is half a mebibyte of text with a terminal escape at its start.
var flood = "\x1b[2J" + strings.Repeat("x", 1<<19)

func (floodServer) GetServerInfo(context.Context, *itemsv1.GetServerInfoRequest) (*itemsv1.GetServerInfoResponse, error) {
	info := &itemsv1.GetServerInfoResponse{Issuer: flood, Audience: flood}
	info.Methods = append(info.Methods, &itemsv1.MethodInfo{Name: flood, Scopes: []string{flood}})
	for i := range 10000 {
		info.Methods = append(info.Methods, &itemsv1.MethodInfo{Name: fmt.Sprintf("/items.v1.ItemService/M%d", i), Scopes: []string{"a\x1b[2J"}})
	}
	return info, nil
}

func (floodServer) ListItems(context.Context, *itemsv1.ListItemsRequest) (*itemsv1.ListItemsResponse, error) {
	return &itemsv1.ListItemsResponse{Items: []*itemsv1.Item{{Id: flood}}}, nil
}

func (floodServer) GetItem(context.Context, *itemsv1.GetItemRequest) (*itemsv1.GetItemResponse, error) {
	return &itemsv1.GetItemResponse{Item: &itemsv1.Item{Id: "1", Name: flood, CreatedBy: flood}}, nil
}

func (floodServer) CreateItem(context.Context, *itemsv1.CreateItemRequest) (*itemsv1.CreateItemResponse, error) {
	st, err := status.New(codes.PermissionDenied, flood).WithDetails(&errdetails.ErrorInfo{Domain: "grpcauth", Reason: flood,
		Metadata: map[string]string{"required_scopes": `[["` + strings.Repeat("s", 1<<20) + `"]]`}})
	if err != nil {
		return nil, err
	}
	return nil, st.Err()
}

// A server that answers with strings up to gRPC's 4 MiB receive limit
// cannot flood the terminal: each string of the server's the report
// prints is cut to maxField bytes, with a note of its length, every
// printed text to maxPrinted, and the rules list maxMethods methods and
// says how many more there were. Control characters are escaped still.
func TestCallAll_ServerTextIsCutShort(t *testing.T) {
	conn := serveItems(t, floodServer{})
	var out strings.Builder
	_ = callAll(context.Background(), conn, grpc.EmptyCallOption{}, "items-reader", &out) // the other methods are Unimplemented
	printed := out.String()
	if len(printed) > 64<<10 {
		t.Errorf("the report is %d bytes long, want at most 64 KiB", len(printed))
	}
	for _, want := range []string{fmt.Sprintf("(%d bytes in all)", len(flood)), "(9969 more methods not shown)"} {
		if !strings.Contains(printed, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(printed, "\x1b") {
		t.Error("the report carries the server's control characters")
	}
}

// A server's text is printed as it is only when every character of it is
// plainly visible; otherwise it is quoted, and what would not show, or
// would change how its neighbours show, is escaped: controls, format and
// bidi characters (which strconv.IsPrint refuses), and the combining
// marks and invisible letters that it passes (and strconv.Quote leaves
// as they are).
func TestPrintable_QuotesWhatIsNotPlainlyVisible(t *testing.T) {
	for _, tt := range []struct{ name, s, want string }{
		{"ASCII", "items:read + items:write", "items:read + items:write"},
		{"precomposed accent", "café", "café"},
		{"other scripts", "項目 עברית Ελληνικά", "項目 עברית Ελληνικά"},
		{"nonspacing mark in Devanagari", "हिंदी", `"हि\u0902दी"`}, // U+093F and U+0940 are spacing marks (Mc), the nasal sign U+0902 is not
		{"emoji", "\U0001f600", "\U0001f600"},
		{"escape sequence", "a\x1b[2Jb", `"a\x1b[2Jb"`},
		{"zero-width space", "ad\u200bmin", `"ad\u200bmin"`},
		{"zero-width joiner", "a\u200db", `"a\u200db"`},
		{"word joiner", "a\u2060b", `"a\u2060b"`},
		{"byte order mark", "\ufeffa", `"\ufeffa"`},
		{"soft hyphen", "ad\u00admin", `"ad\u00admin"`},
		{"left-to-right mark", "a\u200eb", `"a\u200eb"`},
		{"right-to-left override", "\u202egnp.exe", `"\u202egnp.exe"`},
		{"bidi isolates", "a\u2066b\u2067c\u2068d\u2069", `"a\u2066b\u2067c\u2068d\u2069"`},
		{"Arabic letter mark", "a\u061cb", `"a\u061cb"`},
		{"tag character", "a\U000e0041", `"a\U000e0041"`},
		{"no-break space", "a\u00a0b", `"a\u00a0b"`},
		{"line separator", "a\u2028b", `"a\u2028b"`},
		{"combining acute", "cafe\u0301", `"cafe\u0301"`},
		{"combining overlay", "admin\u0338", `"admin\u0338"`},
		{"enclosing mark", "1\u20dd", `"1\u20dd"`},
		{"combining grapheme joiner", "a\u034fb", `"a\u034fb"`},
		{"variation selector", "a\ufe0f", `"a\ufe0f"`},
		{"Hangul filler", "a\u3164b", `"a\u3164b"`},
		{"Hangul choseong filler", "a\u115fb", `"a\u115fb"`},
		{"halfwidth Hangul filler", "a\uffa0b", `"a\uffa0b"`},
		{"Khmer inherent vowel", "a\u17b4b", `"a\u17b4b"`},
		{"blank braille pattern", "a\u2800b", `"a\u2800b"`},
		{"musical null notehead", "a\U0001d159b", `"a\U0001d159b"`},
		{"visible text kept in quotes", "café \u200b\"\\", `"café \u200b\"\\"`},
		{"not UTF-8", "a\xffé\u0301", `"a\xffé\u0301"`},
	} {
		got := printable(tt.s)
		if got != tt.want {
			t.Errorf("%s: printable(%+q) = %s, want %s", tt.name, tt.s, got, tt.want)
			continue
		}
		if got != tt.s {
			if u, err := strconv.Unquote(got); err != nil || u != tt.s {
				t.Errorf("%s: printable(%+q) = %s, which unquotes to %+q (%v)", tt.name, tt.s, got, u, err)
			}
		}
	}
}

// Whatever a server sends, printable answers only plainly visible
// characters (visible), and either the text itself, cut to maxPrinted, or
// that text quoted.
func FuzzPrintable_AnswersOnlyVisibleText(f *testing.F) {
	for _, s := range []string{"items", "\x1b[2J", "a\u202eb", "cafe\u0301", "\u3164", "\xff\x9b", `"\`, strings.Repeat("é", 1100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := printable(s)
		for _, r := range got {
			if !visible(r) {
				t.Fatalf("printable(%+q) = %+q holds %U, which is not visible", s, got, r)
			}
		}
		want := clip(s, maxPrinted)
		if got == want {
			return
		}
		if u, err := strconv.Unquote(got); err != nil || u != want {
			t.Fatalf("printable(%+q) = %+q: neither the text nor its quoting (it unquotes to %+q, %v)", s, got, u, err)
		}
	})
}

// clip cuts a string longer than its limit without splitting a UTF-8
// sequence, and says how long the string was.
func TestClip_CutsAtARuneBoundary(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc ... (4 bytes in all)"},
		{"ééé", 3, "é ... (6 bytes in all)"},
		{"€€", 2, " ... (6 bytes in all)"},
		// Nor a backslash escape of quoted text (%q, strconv.Quote).
		{`ab\x1bcd`, 4, "ab ... (8 bytes in all)"},
		{`ab\x1bcd`, 6, `ab\x1b ... (8 bytes in all)`},
		{`a\u202e`, 6, "a ... (7 bytes in all)"},
		{`a\U0001f600`, 10, "a ... (11 bytes in all)"},
		{`a\nb`, 2, "a ... (4 bytes in all)"},
		{`a\\b`, 2, "a ... (4 bytes in all)"},
		{`a\\b`, 3, `a\\ ... (4 bytes in all)`},
		{`a\\\x1b`, 5, `a\\ ... (7 bytes in all)`},
	} {
		if got := clip(tt.s, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// splitEscape matches a backslash escape cut short, as a clip of quoted
// text would leave it (the texts checked hold no backslash of their own).
var splitEscape = regexp.MustCompile(`\\(x[0-9a-f]?|u[0-9a-f]{0,3}|U[0-9a-f]{0,7})([^0-9a-f]|$)`)

// escapeServer refuses CreateItem with a status message and an ErrorInfo
// reason each of 300 escape characters: their quoted text is longer than
// maxPrinted.
type escapeServer struct {
	itemsv1.UnimplementedItemServiceServer
}

func (escapeServer) CreateItem(context.Context, *itemsv1.CreateItemRequest) (*itemsv1.CreateItemResponse, error) {
	esc := strings.Repeat("\x1b", 300)
	st, err := status.New(codes.PermissionDenied, esc).WithDetails(&errdetails.ErrorInfo{Domain: "grpcauth", Reason: esc})
	if err != nil {
		return nil, err
	}
	return nil, st.Err()
}

// A refusal whose text, quoted, is longer than maxPrinted is printed quoted
// once and whole (each of its strings cut to maxField first), not cut
// again after quoting, which would split an escape and drop the closing
// quote.
func TestCallAll_LongQuotedDetailIsPrintedWhole(t *testing.T) {
	conn := serveItems(t, escapeServer{})
	var out strings.Builder
	_ = callAll(context.Background(), conn, grpc.EmptyCallOption{}, "items-reader", &out) // the other methods are Unimplemented
	var line string
	for l := range strings.Lines(out.String()) {
		if strings.HasPrefix(l, "CreateItem") {
			line = strings.TrimRight(l, " \n")
		}
	}
	i := strings.IndexByte(line, '"')
	if i < 0 {
		t.Fatalf("the CreateItem line is not quoted: %q", line)
	}
	text, err := strconv.Unquote(line[i:])
	if err != nil || !strings.Contains(text, "(300 bytes in all)") || splitEscape.MatchString(line) {
		t.Errorf("the CreateItem detail %s is not one whole quoted text of the server's cut strings (%v)", line[i:], err)
	}
}

// An error quoting a server's text (%q) that is longer than maxPrinted is
// cut without splitting an escape.
func TestPrintError_CutsNoEscapeOfQuotedText(t *testing.T) {
	for n := range 4 {
		var b strings.Builder
		printError(&b, fmt.Errorf("client: the server names %s%q", strings.Repeat("x", n), strings.Repeat("\x1b", 1000)))
		if !strings.Contains(b.String(), "bytes in all)") || splitEscape.MatchString(b.String()) {
			t.Errorf("printError printed %q: want it cut, no escape split", b.String())
		}
	}
}

// A status message that is not UTF-8 reaches the report as text: grpc-go
// percent-decodes grpc-message without checking it, and a server not
// written with grpc-go may send any byte (0x9b is CSI to a terminal that
// reads 8-bit controls).
func TestCallAll_StatusMessageThatIsNotUTF8IsPrintedAsText(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", "7")
		w.Header().Set("Grpc-Message", "denied%9B2J")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	conn, err := grpc.NewClient("passthrough:///"+srv.Listener.Addr().String(),
		grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "example.com")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out strings.Builder
	_ = callAll(context.Background(), conn, grpc.EmptyCallOption{}, "items-reader", &out)
	if !strings.Contains(out.String(), `"denied\x9b2J"`) || strings.Contains(out.String(), "\x9b") {
		t.Errorf("report lacks the status message as text, or carries its byte 0x9b:\n%q", out.String())
	}
}

// runFailing runs the client with the environment vars, and returns what
// it prints of its error, which it must fail with, and the error.
func runFailing(t *testing.T, vars map[string]string) (printed string, err error) {
	t.Helper()
	return runFailingWith(t, vars, func(*config) {})
}

// runFailingWith is runFailing with the loaded config changed by edit.
func runFailingWith(t *testing.T, vars map[string]string, edit func(*config)) (printed string, err error) {
	t.Helper()
	cfg, err := loadConfig(nil, env(vars), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	edit(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = run(ctx, cfg, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("run succeeded, want the token request's error")
	}
	var stderr strings.Builder
	printError(&stderr, err)
	return stderr.String(), err
}

// A token endpoint that echoes the request it refuses (a proxy's error
// page, a debugging endpoint) does not put the client secret on the
// terminal, in any form the request carried it (as it is, URL-escaped in
// the form, or in the Basic header), nor as a JSON error body escapes it
// (encoding/json's \u0026 for '&', PHP's \/ for '/'), and a long answer
// that is no OAuth 2.0 error is cut short.
func TestRun_TokenEndpointErrorPrintsNoSecret(t *testing.T) {
	const id, secret = "0oa1", "s3cr3t/+=&x"
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	const goJSON, phpJSON = `s3cr3t/+=\u0026x`, `s3cr3t\/+=&x` // as encoding/json and PHP write it in JSON
	echo := func(w http.ResponseWriter, r *http.Request) string {
		body, _ := io.ReadAll(r.Body)
		return fmt.Sprintf("request %s, authorization %s", body, r.Header.Get("Authorization"))
	}
	for _, tc := range []struct {
		name, method string
		answer       func(w http.ResponseWriter, r *http.Request)
	}{
		{"echoed form", "client_secret_post", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, echo(w, r)+strings.Repeat(" padding", 1<<14))
		}},
		{"echoed header", "client_secret_basic", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, echo(w, r)+strings.Repeat(" padding", 1<<14))
		}},
		{"secret in error_description", "client_secret_post", func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"unknown secret %s"}`, r.PostForm.Get("client_secret"))
		}},
		{"echoed in JSON by encoding/json", "client_secret_post", func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"error": "invalid_request", "request": r.PostForm})
		}},
		{"echoed in JSON with \\/", "client_secret_post", func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"invalid_request","client_secret":"%s"}`, strings.ReplaceAll(r.PostForm.Get("client_secret"), "/", `\/`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := httptest.NewServer(http.HandlerFunc(tc.answer))
			defer as.Close()
			printed, err := runFailing(t, map[string]string{
				"ISSUER": as.URL, "TOKEN_URL": as.URL + "/token", "CLIENT_ID": id, "CLIENT_SECRET": secret,
				"AUTH_METHOD": tc.method, "ADDR": "127.0.0.1:1",
			})
			for _, form := range []string{secret, url.QueryEscape(secret), basic, goJSON, phpJSON} {
				if strings.Contains(printed, form) {
					t.Errorf("printed %q, which holds the secret as %q", printed, form)
				}
			}
			if len(printed) > 2<<10 {
				t.Errorf("printed %d bytes of the answer, want it cut short", len(printed))
			}
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Fatalf("run = %v, want it to wrap the *oauth2.RetrieveError", err)
			}
			// What errors.As finds holds no secret either: no field the
			// endpoint chose, nor the request (its form, its header).
			if re.Response == nil || re.Response.Request != nil {
				t.Errorf("the RetrieveError's response is %v, want one without its request", re.Response)
			}
			found := fmt.Sprintf("%+v %s %s %s %v", err, re.Body, re.ErrorDescription, re.Response.Status, re.Response.Header)
			for _, form := range []string{secret, url.QueryEscape(secret), basic, goJSON, phpJSON} {
				if strings.Contains(found, form) {
					t.Errorf("the unwrapped RetrieveError holds the secret as %q: %s", form, found)
				}
			}
		})
	}
}

// A failed token request's error unwraps to nothing that holds the
// client secret (errors.As finds no *url.Error whose text quotes it), and
// errors.Is still finds what the request's error is (its context's end
// here). Before, Unwrap returned the request's error as it was.
func TestTokenError_UnwrapsToNoSecretAndIsStillFindsTheCause(t *testing.T) {
	cfg := config{clientID: "svc", clientSecret: "s3cr3t-value"}
	orig := &url.Error{Op: "Post", URL: "https://idp.example/token", Err: fmt.Errorf("echo %q: %w", "client_secret=s3cr3t-value", context.DeadlineExceeded)}
	err := fmt.Errorf("client: getting a token: %w", newTokenError(orig, cfg))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false, want true", err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		t.Errorf("errors.As found the request's *url.Error: %v", ue)
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s := fmt.Sprintf("%+v", e); strings.Contains(s, "s3cr3t") {
			t.Errorf("an error of the chain holds the secret: %s", s)
		}
	}
}

// needs says every requirement GetServerInfo lists for a method, in the
// report's words: a caller reading the rules never takes a method for
// open to any valid token when it asks for more, nor a dry-run method for
// an enforced one.
func TestNeeds_SaysEveryRequirementOfTheRule(t *testing.T) {
	for _, tt := range []struct {
		m    *itemsv1.MethodInfo
		want string
	}{
		{&itemsv1.MethodInfo{Public: true}, "nothing: public"},
		{&itemsv1.MethodInfo{Denied: true}, "denied: the server has no usable rule"},
		{&itemsv1.MethodInfo{}, "any valid token"},
		{&itemsv1.MethodInfo{Scopes: []string{"items:read", "items:write"}}, "items:read + items:write"},
		{&itemsv1.MethodInfo{Scopes: []string{"items:write"}, Conditional: true}, "items:write; a condition on the request"},
		{&itemsv1.MethodInfo{Scopes: []string{"items:admin"}, AcrValues: []string{"mfa", "hwk"}, MaxAgeSeconds: 300},
			"items:admin; step-up: acr mfa or hwk; signed in at most 300 s ago"},
		{&itemsv1.MethodInfo{Scopes: []string{"items:read"}, AnyOf: []*itemsv1.ScopeSet{{Scopes: []string{"a"}}, {Scopes: []string{"b", "c"}}}},
			"items:read; one of a or b + c"},
		{&itemsv1.MethodInfo{AnyOf: []*itemsv1.ScopeSet{{Scopes: []string{"a"}}}, RequireDpop: true}, "one of a; a DPoP-bound token"},
		{&itemsv1.MethodInfo{Scopes: []string{"a"}, RequireCertificateBinding: true}, "a; a certificate-bound token"},
	} {
		if got := needs(tt.m); got != tt.want {
			t.Errorf("needs(%v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

// A method in dry run still needs a valid token (grpcauth never relaxes
// authentication in dry run): needs says so, rather than that the method's
// refusals are only logged, which reads as open to anyone. A public
// method, which dry run does not change, reads as public and as in dry
// run, which relaxes nothing there: neither fact is hidden.
func TestNeeds_DryRunMethodStillNeedsAValidToken(t *testing.T) {
	for _, tt := range []struct {
		m    *itemsv1.MethodInfo
		want string
	}{
		{&itemsv1.MethodInfo{Scopes: []string{"items:read"}, DryRun: true}, "items:read; dry run: any valid token passes, refusals only logged"},
		{&itemsv1.MethodInfo{Denied: true, DryRun: true}, "denied: the server has no usable rule; dry run: any valid token passes, refusals only logged"},
		{&itemsv1.MethodInfo{RequireDpop: true, DryRun: true}, "any valid token; a DPoP-bound token; dry run: any valid token passes, refusals only logged"},
		{&itemsv1.MethodInfo{Public: true, DryRun: true}, "nothing: public; dry run: nothing to relax on a public method"},
	} {
		if got := needs(tt.m); got != tt.want {
			t.Errorf("needs(%v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

// A MethodInfo from a newer server may carry a requirement this client's
// items.proto does not have yet (dry_run was one): needs says that there
// is more than it can read, rather than showing the method as asking for
// less than the server enforces.
func TestNeeds_FieldsThisClientCannotReadAreSaid(t *testing.T) {
	for _, known := range []*itemsv1.MethodInfo{
		{Name: "/items.v1.ItemService/ListItems", Scopes: []string{"items:read"}},
		{Name: "/items.v1.ItemService/GetServerInfo", Public: true},
	} {
		b, err := proto.Marshal(known)
		if err != nil {
			t.Fatal(err)
		}
		b = protowire.AppendVarint(protowire.AppendTag(b, 99, protowire.VarintType), 1) // a field of a newer items.proto
		m := new(itemsv1.MethodInfo)
		if err := proto.Unmarshal(b, m); err != nil {
			t.Fatal(err)
		}
		want := needs(known) + "; more this client cannot read (the server is newer)"
		if got := needs(m); got != want {
			t.Errorf("needs(%v with field 99) = %q, want %q", known, got, want)
		}
	}
}

// claimsVerifier accepts every token with its claims.
type claimsVerifier struct{ claims verifier.Claims }

func (v claimsVerifier) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return v.claims, nil
}

// The longest acr_values grpcauth lets a rule take (2048 bytes, joined by
// spaces; a byte more is an invalid rule) comes back in a real step-up
// refusal, and the client says what it asks for, not that it names
// nothing.
func TestDescribe_LongestACRValuesOfARuleAreNamed(t *testing.T) {
	const purge = "/items.v1.ItemService/PurgeItems"
	var vals []string
	for i := range 127 {
		vals = append(vals, fmt.Sprintf("a%014d", i)) // 15 bytes, and a space
	}
	vals = append(vals, strings.Repeat("z", 2048-len(strings.Join(vals, " "))-1))
	claims, err := verifier.NewClaims(map[string]any{"sub": "u", "exp": float64(time.Now().Add(time.Hour).Unix())})
	if err != nil {
		t.Fatal(err)
	}
	newAuth := func(acr []string) (*grpcauth.Authenticator, error) {
		return grpcauth.New(grpcauth.Config{
			Verifier: claimsVerifier{claims},
			Rules:    map[string]*grpcauthv1.Rule{purge: {AcrValues: acr}},
			Logger:   slog.New(slog.DiscardHandler),
		})
	}
	if _, err := newAuth(append(slices.Clone(vals[:len(vals)-1]), vals[len(vals)-1]+"z")); !errors.Is(err, grpcauth.ErrInvalidRule) {
		t.Fatalf("grpcauth.New with acr_values of 2049 bytes: %v, want ErrInvalidRule (is its bound still 2048?)", err)
	}
	auth, err := newAuth(vals)
	if err != nil {
		t.Fatal(err)
	}
	conn := serveItems(t, itemsv1.UnimplementedItemServiceServer{}, grpc.UnaryInterceptor(auth.UnaryServerInterceptor()))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer tok")
	_, err = itemsv1.NewItemServiceClient(conn).PurgeItems(ctx, &itemsv1.PurgeItemsRequest{})
	want := "needs a stronger or more recent sign-in: acr " + strings.Join(vals, " or ")
	if got := why(err); !strings.HasPrefix(got, want) {
		t.Errorf("the refusal %v reads %q; want it to name the rule's acr_values", status.Convert(err).Message(), clip(got, 200))
	}
}

// A cut of quoted text (strconv.Quote, as %q writes it), wherever it
// falls, leaves whole escapes: closed with a quote, what is left unquotes.
// The cut splits no UTF-8 sequence either.
func FuzzClip_QuotedTextKeepsWholeEscapes(f *testing.F) {
	for _, s := range []string{"\x1b[2J", "a\\b\\\\c", "\u202e\U0001f600é", "\xff\x9b", strings.Repeat("\\", 9)} {
		f.Add(s, 5)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		q := strconv.Quote(s)
		if n < 1 || n >= len(q) {
			return
		}
		c := clip(q, n)
		kept, ok := strings.CutSuffix(c, fmt.Sprintf(" ... (%d bytes in all)", len(q)))
		if !ok || len(kept) > n || !strings.HasPrefix(q, kept) {
			t.Fatalf("clip(%q, %d) = %q: not a prefix of at most %d bytes and the note", q, n, c, n)
		}
		if kept == "" {
			return
		}
		if _, err := strconv.Unquote(kept + `"`); err != nil || !utf8.ValidString(kept) {
			t.Fatalf("clip(%q, %d) kept %q, which splits an escape or a UTF-8 sequence (%v)", q, n, kept, err)
		}
	})
}

// The hint to start the example server follows an error only when the
// development issuer, which that server runs, did not answer: an error it
// answered with (invalid_scope for a scope the client may not have) means
// the server is running, and the hint would send the person after the
// wrong cause.
func TestReportError_StartServerHintOnlyWhenTheIssuerDidNotAnswer(t *testing.T) {
	answering := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_scope","error_description":"scope not allowed for this client"}`)
	}))
	defer answering.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing listens there now
	// Another program on the issuer's port.
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	for _, tc := range []struct {
		name, issuer string
		wantHint     bool
		wantText     string
	}{
		{"issuer answered with an error", answering.URL, false, "invalid_scope"},
		{"issuer unreachable", gone.URL, true, "getting a token"},
		{"another program answered 404", other.URL, true, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{
				"ISSUER": tc.issuer, "TOKEN_URL": tc.issuer + "/v1/token", "CLIENT_ID": dev.Reader.ID, "CLIENT_SECRET": dev.Reader.Secret, "ADDR": "127.0.0.1:1",
			}
			// As without ISSUER, at a test address.
			_, err := runFailingWith(t, vars, func(c *config) { c.devIssuer = true })
			var b strings.Builder
			reportError(&b, err, config{devIssuer: true})
			if got := strings.Contains(b.String(), startServerHint); got != tc.wantHint || !strings.Contains(b.String(), tc.wantText) {
				t.Errorf("printed %q: want %q, with the start-server hint %v", b.String(), tc.wantText, tc.wantHint)
			}
		})
	}
	// Calls that failed after the token name their own cause.
	var b strings.Builder
	reportError(&b, errUnexpected, config{devIssuer: true})
	if strings.Contains(b.String(), startServerHint) {
		t.Errorf("printed %q after the calls: want no start-server hint", b.String())
	}
	// Another issuer's errors never get it.
	b.Reset()
	reportError(&b, errors.New("client: discovery: connection refused"), config{})
	if strings.Contains(b.String(), startServerHint) {
		t.Errorf("printed %q with ISSUER set: want no start-server hint", b.String())
	}
}
