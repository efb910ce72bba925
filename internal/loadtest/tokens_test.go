package loadtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// The scopes of items.v1.ItemService (see examples/items/proto).
const (
	scopeRead  = "items:read"
	scopeWrite = "items:write"
	scopeAdmin = "items:admin"
)

// method is one RPC the callers make, with the rule its .proto declares,
// written out here independently of grpcauth so that the expected outcome
// is not computed by the code under test.
type method struct {
	name   string
	public bool
	scopes []string // all required
	stream bool
	call   func(ctx context.Context, c itemsv1.ItemServiceClient) error
}

var methods = []method{
	{name: "GetServerInfo", public: true, call: func(ctx context.Context, c itemsv1.ItemServiceClient) error {
		_, err := c.GetServerInfo(ctx, &itemsv1.GetServerInfoRequest{})
		return err
	}},
	{name: "ListItems", scopes: []string{scopeRead}, call: func(ctx context.Context, c itemsv1.ItemServiceClient) error {
		_, err := c.ListItems(ctx, &itemsv1.ListItemsRequest{})
		return err
	}},
	{name: "GetItem", scopes: []string{scopeRead}, call: func(ctx context.Context, c itemsv1.ItemServiceClient) error {
		_, err := c.GetItem(ctx, &itemsv1.GetItemRequest{Id: "item-1"})
		return err
	}},
	{name: "CreateItem", scopes: []string{scopeWrite}, call: func(ctx context.Context, c itemsv1.ItemServiceClient) error {
		_, err := c.CreateItem(ctx, &itemsv1.CreateItemRequest{Name: "new"})
		return err
	}},
	{name: "DeleteItem", scopes: []string{scopeWrite}, call: func(ctx context.Context, c itemsv1.ItemServiceClient) error {
		_, err := c.DeleteItem(ctx, &itemsv1.DeleteItemRequest{Id: "item-1"})
		return err
	}},
	{name: "WatchItems", scopes: []string{scopeRead}, stream: true, call: func(ctx context.Context, c itemsv1.ItemServiceClient) error {
		s, err := c.WatchItems(ctx, &itemsv1.WatchItemsRequest{})
		if err != nil {
			return err
		}
		for range 4 { // the server sends two messages, then ends the stream
			if _, err := s.Recv(); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
		return fmt.Errorf("WatchItems sent more than it should")
	}},
	{name: "ImportItems", scopes: []string{scopeWrite}, stream: true, call: func(ctx context.Context, c itemsv1.ItemServiceClient) error {
		s, err := c.ImportItems(ctx)
		if err != nil {
			return err
		}
		for i := range 3 {
			if err := s.Send(&itemsv1.ImportItemsRequest{Name: fmt.Sprint("imported-", i)}); err != nil {
				break // rejected: CloseAndRecv returns the status
			}
		}
		_, err = s.CloseAndRecv()
		return err
	}},
}

// verdict is a call's status code and ErrorInfo reason ("" for OK).
type verdict struct {
	code   codes.Code
	reason string
}

func (v verdict) String() string {
	if v.reason == "" {
		return v.code.String()
	}
	return v.code.String() + "/" + v.reason
}

// kind is a class of credential.
type kind int

const (
	kindValid          kind = iota // signed by the current key, for the right issuer and audience
	kindExpired                    // expired two hours ago, every scope
	kindForgedKey                  // the current kid, signed by another key of the same type
	kindAlgNone                    // "alg": "none", empty signature
	kindHS256PublicKey             // HS256 keyed with the issuer's public key (algorithm confusion)
	kindWrongAudience              // minted for another API of the same issuer
	kindWrongIssuer                // iss of another issuer
	kindTampered                   // a read-only token whose payload was edited to grant every scope
	kindGarbage                    // not a JWT at all
	kindBasic                      // Basic credentials instead of a bearer token
	kindMissing                    // no authorization metadata
	numKinds
)

var kindNames = [numKinds]string{"valid", "expired", "forged key", "alg none", "HS256 with public key", "wrong audience", "wrong issuer", "tampered payload", "garbage", "basic auth", "missing"}

func (k kind) String() string { return kindNames[k] }

// credential is what one call sends, and what it deserves.
type credential struct {
	kind   kind
	header string   // the authorization value; "" sends none
	scopes []string // of a kindValid token
}

// deserves is the outcome a call of m with c must get, from the rules in
// docs/interceptors.md and the package documentation of grpcauth.
func (c credential) deserves(m method) verdict {
	switch c.kind {
	case kindMissing:
		if m.public {
			return verdict{codes.OK, ""}
		}
		return verdict{codes.Unauthenticated, grpcauth.ReasonCredentialsMissing}
	case kindValid:
		if m.public || containsAll(c.scopes, m.scopes) {
			return verdict{codes.OK, ""}
		}
		return verdict{codes.PermissionDenied, grpcauth.ReasonScopeInsufficient}
	case kindExpired:
		return verdict{codes.Unauthenticated, grpcauth.ReasonTokenExpired}
	case kindBasic:
		return verdict{codes.Unauthenticated, grpcauth.ReasonTokenTypeUnsupported}
	default:
		return verdict{codes.Unauthenticated, grpcauth.ReasonTokenInvalid}
	}
}

func containsAll(have, want []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

// scopeSets are the scopes of the valid tokens: every combination the rules
// distinguish, plus look-alikes that exact matching must refuse.
var scopeSets = [][]string{
	{},
	{scopeRead},
	{scopeWrite},
	{scopeRead, scopeWrite},
	{scopeWrite, scopeAdmin},
	{scopeRead, scopeWrite, scopeAdmin},
	{scopeAdmin},
	{"items:read:all", "items", "items:writer", "ITEMS:READ"},
}

var allScopes = []string{scopeRead, scopeWrite, scopeAdmin}

// generation is the credentials minted while one signing key is current.
// Callers hold mu for reading during each call; the rotation driver takes it
// for writing to retire the generation, which waits for every call still
// using it, so that the key can then be removed without any call of this
// generation in flight.
type generation struct {
	kid    string
	creds  []credential
	byKind [numKinds][]credential

	mu      sync.RWMutex
	retired bool
}

// newGeneration mints the credentials of the issuer's current key kid.
// attacker is a private key of the issuer's key type that the issuer does
// not know.
func newGeneration(iss *grpcauthtest.Issuer, kid string, attacker crypto.Signer) (*generation, error) {
	g := &generation{kid: kid}
	bearer := func(k kind, scopes []string, claims map[string]any, opts ...grpcauthtest.MintOption) error {
		tok, err := iss.Mint(claims, opts...)
		if err != nil {
			return fmt.Errorf("mint %v: %w", k, err)
		}
		g.creds = append(g.creds, credential{kind: k, header: "Bearer " + tok, scopes: scopes})
		return nil
	}
	all := grpcauthtest.WithScopes(allScopes...)
	var errs []error
	for i, scopes := range scopeSets {
		for _, shape := range []grpcauthtest.Shape{grpcauthtest.ShapeOkta, grpcauthtest.ShapeRFC9068} {
			for n := range 2 {
				sub := fmt.Sprintf("client-%d-%v-%d", i, shape, n)
				errs = append(errs, bearer(kindValid, scopes, map[string]any{"sub": sub},
					grpcauthtest.WithShape(shape), grpcauthtest.WithScopes(scopes...)))
			}
		}
	}
	now := time.Now()
	errs = append(errs,
		bearer(kindExpired, nil, map[string]any{"iat": now.Add(-3 * time.Hour), "exp": now.Add(-2 * time.Hour)}, all),
		bearer(kindForgedKey, nil, nil, all, grpcauthtest.WithSigningKey(attacker, iss.Algorithm()), grpcauthtest.WithKidHeader(kid)),
		bearer(kindAlgNone, nil, nil, all, grpcauthtest.Unsigned(), grpcauthtest.WithKidHeader(kid)),
		bearer(kindWrongAudience, nil, map[string]any{"aud": "api://another-api"}, all),
		bearer(kindWrongIssuer, nil, map[string]any{"iss": "https://evil.example/oauth2/default"}, all),
	)
	pub, err := x509.MarshalPKIXPublicKey(iss.PublicKey(kid))
	errs = append(errs, err)
	if err == nil {
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
		errs = append(errs, bearer(kindHS256PublicKey, nil, nil, all, grpcauthtest.WithSigningKey(secret, "HS256"), grpcauthtest.WithKidHeader(kid)))
	}
	readOnly, err := iss.Mint(nil, grpcauthtest.WithScopes(scopeRead))
	errs = append(errs, err)
	if err == nil {
		tampered, err := widenScopes(readOnly)
		errs = append(errs, err)
		g.creds = append(g.creds, credential{kind: kindTampered, header: "Bearer " + tampered})
	}
	for _, junk := range []string{"garbage", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.AA", strings.Repeat("A", 5000), ".."} {
		g.creds = append(g.creds, credential{kind: kindGarbage, header: "Bearer " + junk})
	}
	g.creds = append(g.creds,
		credential{kind: kindBasic, header: "Basic dXNlcjpwYXNzd29yZA=="},
		credential{kind: kindMissing},
	)
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for _, c := range g.creds {
		g.byKind[c.kind] = append(g.byKind[c.kind], c)
	}
	for k, cs := range g.byKind {
		if len(cs) == 0 {
			return nil, fmt.Errorf("no %v credential minted", kind(k))
		}
	}
	return g, nil
}

// widenScopes returns token with its payload edited to grant every scope,
// keeping its header and signature.
func widenScopes(token string) (string, error) {
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		return "", err
	}
	claims["scp"] = allScopes
	if b, err = json.Marshal(claims); err != nil {
		return "", err
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, "."), nil
}

// attackerKey returns a fresh private key of the type alg signs with.
func attackerKey(alg string) (crypto.Signer, error) {
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return rsa.GenerateKey(rand.Reader, 2048)
	case alg == "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case alg == "ES384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case alg == "ES512":
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case alg == "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("no attacker key for %q", alg)
}
