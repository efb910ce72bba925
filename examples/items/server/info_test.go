package main

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/grpcauth/grpcauth"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// noTokens is a verifier for servers whose tests send no token.
type noTokens struct{}

func (noTokens) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return verifier.Claims{}, errors.New("test: no token expected")
}

// TestServerInfo_MethodWithoutARuleIsListedAsDenied: GetServerInfo lists a
// method that the Authenticator denies to every caller (no rule: here its
// descriptors' options are hidden, and only two methods are configured)
// as denied, never as a method any valid token may call (not public, no
// scopes), and the configured ones with their rules.
func TestServerInfo_MethodWithoutARuleIsListedAsDenied(t *testing.T) {
	const (
		svc  = "/items.v1.ItemService/"
		info = svc + "GetServerInfo"
		list = svc + "ListItems"
	)
	auth, err := grpcauth.New(grpcauth.Config{
		Verifier:    noTokens{},
		Descriptors: new(protoregistry.Files),
		Public:      []string{info},
		Rules:       map[string]*grpcauthv1.Rule{list: {Scopes: []string{"items:read"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(auth.UnaryServerInterceptor()))
	itemsv1.RegisterItemServiceServer(srv, &service{info: serverInfo("https://idp.example", "api://items", auth)})
	lis := bufconn.Listen(1 << 16)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	got, err := itemsv1.NewItemServiceClient(conn).GetServerInfo(t.Context(), &itemsv1.GetServerInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	methods := itemsv1.File_items_v1_items_proto.Services().ByName("ItemService").Methods()
	if len(got.GetMethods()) != methods.Len() {
		t.Fatalf("%d methods listed, want %d", len(got.GetMethods()), methods.Len())
	}
	for _, m := range got.GetMethods() {
		switch m.GetName() {
		case info:
			if !m.GetPublic() || m.GetDenied() {
				t.Errorf("%s: %v, want public", m.GetName(), m)
			}
		case list:
			if m.GetPublic() || m.GetDenied() || len(m.GetScopes()) != 1 || m.GetScopes()[0] != "items:read" {
				t.Errorf("%s: %v, want scopes [items:read]", m.GetName(), m)
			}
		default:
			if !m.GetDenied() || m.GetPublic() || len(m.GetScopes()) != 0 {
				t.Errorf("%s: %v, want denied", m.GetName(), m)
			}
		}
	}
}

// TestServerInfo_ListsConditionsAndStepUp: GetServerInfo's answer says
// that CreateItem has a condition (without publishing the expression) and
// what step-up PurgeItems asks for, so that a caller reading it does not
// take items:admin alone for enough.
func TestServerInfo_ListsConditionsAndStepUp(t *testing.T) {
	_, c := policyEnv(t)
	got, err := c.GetServerInfo(t.Context(), &itemsv1.GetServerInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*itemsv1.MethodInfo{}
	for _, m := range got.GetMethods() {
		byName[m.GetName()] = m
	}
	const svc = "/items.v1.ItemService/"
	create, purge, list := byName[svc+"CreateItem"], byName[svc+"PurgeItems"], byName[svc+"ListItems"]
	if !create.GetConditional() || list.GetConditional() {
		t.Errorf("conditional: CreateItem %v, ListItems %v; want true, false", create.GetConditional(), list.GetConditional())
	}
	if strings.Contains(got.String(), "request.owner") {
		t.Errorf("the answer publishes CreateItem's condition expression: %v", got)
	}
	if acr := purge.GetAcrValues(); len(acr) != 1 || acr[0] != "urn:grpcauth:example:mfa" || purge.GetMaxAgeSeconds() != 300 {
		t.Errorf("PurgeItems: acr_values %q, max_age_seconds %d; want [urn:grpcauth:example:mfa], 300", acr, purge.GetMaxAgeSeconds())
	}
	if len(list.GetAcrValues()) != 0 || list.GetMaxAgeSeconds() != 0 {
		t.Errorf("ListItems: %v, want no step-up", list)
	}
}

// TestServerInfo_ListsAnyOfSetsAndBindingRequirements: a method whose rule
// asks for one of several scope sets, a DPoP-bound or a certificate-bound
// token is listed with those requirements, never as a method any valid
// token may call.
func TestServerInfo_ListsAnyOfSetsAndBindingRequirements(t *testing.T) {
	const (
		svc  = "/items.v1.ItemService/"
		list = svc + "ListItems"
		get  = svc + "GetItem"
	)
	auth, err := grpcauth.New(grpcauth.Config{
		Verifier:    noTokens{},
		Descriptors: new(protoregistry.Files),
		Rules: map[string]*grpcauthv1.Rule{
			list: {AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"items:read"}}, {Scopes: []string{"items:admin", "items:audit"}}}, RequireDpop: true},
			get:  {Scopes: []string{"items:read"}, RequireCertificateBinding: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*itemsv1.MethodInfo{}
	for _, m := range serverInfo("https://idp.example", "api://items", auth).GetMethods() {
		byName[m.GetName()] = m
	}
	l, g := byName[list], byName[get]
	var sets []string
	for _, s := range l.GetAnyOf() {
		sets = append(sets, strings.Join(s.GetScopes(), " "))
	}
	if strings.Join(sets, "|") != "items:read|items:admin items:audit" || !l.GetRequireDpop() || l.GetRequireCertificateBinding() {
		t.Errorf("ListItems: %v; want any_of [items:read] [items:admin items:audit], require_dpop", l)
	}
	if len(g.GetAnyOf()) != 0 || g.GetRequireDpop() || !g.GetRequireCertificateBinding() {
		t.Errorf("GetItem: %v; want require_certificate_binding only", g)
	}
}

// TestServerInfo_ListsDryRunMethods: a method in dry run (named in
// DryRunMethods, or every method under DryRun), whose refusals are only
// logged, is listed as such, a method without a rule too; the others are
// listed as enforced.
func TestServerInfo_ListsDryRunMethods(t *testing.T) {
	const (
		svc  = "/items.v1.ItemService/"
		list = svc + "ListItems"
		get  = svc + "GetItem"
		del  = svc + "DeleteItem" // no rule: denied
	)
	rules := map[string]*grpcauthv1.Rule{list: {Scopes: []string{"items:read"}}, get: {Scopes: []string{"items:read"}}}
	for _, tt := range []struct {
		name   string
		cfg    grpcauth.Config
		dryRun map[string]bool // method -> want dry_run
	}{
		{"DryRunMethods", grpcauth.Config{DryRunMethods: []string{list, del}}, map[string]bool{list: true, get: false, del: true}},
		{"DryRun", grpcauth.Config{DryRun: true}, map[string]bool{list: true, get: true, del: true}},
		{"neither", grpcauth.Config{}, map[string]bool{list: false, get: false, del: false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Verifier, cfg.Descriptors, cfg.Rules = noTokens{}, new(protoregistry.Files), rules
			auth, err := grpcauth.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]*itemsv1.MethodInfo{}
			for _, m := range serverInfo("https://idp.example", "api://items", auth).GetMethods() {
				byName[m.GetName()] = m
			}
			for method, want := range tt.dryRun {
				if got := byName[method].GetDryRun(); got != want {
					t.Errorf("%s: dry_run %v, want %v (%v)", method, got, want, byName[method])
				}
			}
			if d := byName[del]; !d.GetDenied() {
				t.Errorf("%s: %v, want denied", del, d)
			}
		})
	}
}

// TestDevIssuer_SignsInAtEveryACRTheRulesAskFor: the development issuer
// can issue every acr a rule's step-up asks for (PurgeItems'), so that a
// person signing in again with the refusal's acr_values gets a token the
// rule accepts, and it keeps Okta's default first.
func TestDevIssuer_SignsInAtEveryACRTheRulesAskFor(t *testing.T) {
	d, err := startDevIssuer("127.0.0.1:0", "api://default", false, false, "http://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	supported := d.Metadata().ACRValuesSupported
	if len(supported) == 0 || supported[0] != grpcauthtest.DefaultACRValues()[0] {
		t.Errorf("acr_values_supported %q; want Okta's default %q first", supported, grpcauthtest.DefaultACRValues()[0])
	}
	_, c := policyEnv(t)
	info, err := c.GetServerInfo(t.Context(), &itemsv1.GetServerInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	for _, m := range info.GetMethods() {
		for _, acr := range m.GetAcrValues() {
			asked++
			if !slices.Contains(supported, acr) {
				t.Errorf("%s asks for acr %q; the development issuer supports %q", m.GetName(), acr, supported)
			}
		}
	}
	if asked == 0 {
		t.Error("no rule asks for an acr: the test checks nothing")
	}
}
