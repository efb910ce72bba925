package grpcauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// mtlsEnv is a TLS server that verifies client certificates when given,
// with clients presenting certificate A, certificate B, and none.
type mtlsEnv struct {
	*env
	pki          *testPKI
	certA, certB tls.Certificate
	clientA      authtestv1.TestServiceClient
	clientB      authtestv1.TestServiceClient
	clientNone   authtestv1.TestServiceClient
}

// Authenticated requires certificate binding in these tests (by
// configuration; its option asks for any valid token).
func newMTLSEnv(t *testing.T, opts ...envOption) *mtlsEnv {
	t.Helper()
	return newMTLSEnvWith(t, nil, opts...)
}

// newMTLSEnvWith is newMTLSEnv with the server's TLS credentials wrapped
// by wrap, unless it is nil.
func newMTLSEnvWith(t *testing.T, wrap func(credentials.TransportCredentials) credentials.TransportCredentials, opts ...envOption) *mtlsEnv {
	t.Helper()
	pki := newPKI(t)
	m := &mtlsEnv{pki: pki, certA: pki.issue(t, "client-a", false), certB: pki.issue(t, "client-b", false)}
	opts = append([]envOption{func(c *Config, _ *verifier.Config) {
		c.Rules = map[string]*grpcauthv1.Rule{mAuth: {RequireCertificateBinding: true}}
	}}, opts...)
	serverCreds := pki.serverCreds(t)
	if wrap != nil {
		serverCreds = wrap(serverCreds)
	}
	m.env = newEnvWith(t, serverCreds, pki.clientCreds(&m.certA), opts...)
	m.clientA = m.client
	m.clientB = authtestv1.NewTestServiceClient(dial(t, m.addr, pki.clientCreds(&m.certB)))
	m.clientNone = authtestv1.NewTestServiceClient(dial(t, m.addr, pki.clientCreds(nil)))
	return m
}

// boundToken mints a token with scopes bound to cert.
func (m *mtlsEnv) boundToken(t *testing.T, cert tls.Certificate, scopes ...string) string {
	t.Helper()
	return m.token(t, map[string]any{"sub": "user-1", "cnf": map[string]any{"x5t#S256": CertificateThumbprint(cert.Leaf)}},
		grpcauthtest.WithScopes(scopes...))
}

// via makes call go through client c instead of the env's client.
func via(c authtestv1.TestServiceClient, call callKind) callKind {
	return func(ctx context.Context, _ *env) (*authtestv1.Caller, error) {
		return call(ctx, &env{client: c})
	}
}

func TestBinding_OverMutualTLS(t *testing.T) {
	m := newMTLSEnv(t)
	boundA := func(t *testing.T) string { return m.boundToken(t, m.certA, "test:read", "test:stream") }
	boundB := func(t *testing.T) string { return m.boundToken(t, m.certB, "test:read", "test:stream") }
	unbound := func(t *testing.T) string { return m.scoped(t, "test:read", "test:stream") }

	tests := []struct {
		name   string
		call   callKind
		token  func(t *testing.T) string
		want   codes.Code
		reason string
	}{
		{"bound to A, client A", via(m.clientA, callInherited), boundA, codes.OK, ""},
		{"bound to A, client A, stream", via(m.clientA, callBidiStream), boundA, codes.OK, ""},
		{"bound to B, client B", via(m.clientB, callInherited), boundB, codes.OK, ""},
		{"bound to A, client B", via(m.clientB, callInherited), boundA, codes.Unauthenticated, ReasonBindingMismatch},
		{"bound to A, client B, stream", via(m.clientB, callBidiStream), boundA, codes.Unauthenticated, ReasonBindingMismatch},
		{"bound to B, client A", via(m.clientA, callInherited), boundB, codes.Unauthenticated, ReasonBindingMismatch},
		{"bound to A, no client certificate", via(m.clientNone, callInherited), boundA, codes.Unauthenticated, ReasonBindingMismatch},
		{"bound to A, public method, client B", via(m.clientB, callPublic), boundA, codes.Unauthenticated, ReasonBindingMismatch},
		{"unbound, client A", via(m.clientA, callInherited), unbound, codes.OK, ""},
		{"unbound, no client certificate", via(m.clientNone, callInherited), unbound, codes.OK, ""},
		{"binding required, bound to A, client A", via(m.clientA, callAuthenticated), boundA, codes.OK, ""},
		{"binding required, bound to A, client B", via(m.clientB, callAuthenticated), boundA, codes.Unauthenticated, ReasonBindingMismatch},
		{"binding required, unbound, client A", via(m.clientA, callAuthenticated), unbound, codes.Unauthenticated, ReasonBindingRequired},
		{"binding required, unbound, no client certificate", via(m.clientNone, callAuthenticated), unbound, codes.Unauthenticated, ReasonBindingRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call(withAuth(t.Context(), bearer(tt.token(t))), m.env)
			checkStatus(t, err, tt.want, tt.reason)
			if tt.want == codes.OK && got.GetSubject() != "user-1" {
				t.Errorf("handler saw %v, want subject user-1", got)
			}
		})
	}
}

// A TLS 1.3 session resumed from a ticket carries no Certificate message:
// the binding holds because crypto/tls restores the client certificate of
// the session's full handshake into PeerCertificates.
func TestBinding_ResumedTLSSessionKeepsItsClientCertificate(t *testing.T) {
	m := newMTLSEnv(t)
	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		token  func(t *testing.T) string
		want   codes.Code
		reason string
	}{
		{"bound to A, resumed by client A", &m.certA, func(t *testing.T) string { return m.boundToken(t, m.certA, "test:read") }, codes.OK, ""},
		{"bound to B, resumed by client A", &m.certA, func(t *testing.T) string { return m.boundToken(t, m.certB, "test:read") }, codes.Unauthenticated, ReasonBindingMismatch},
		{"bound to A, resumed without a client certificate", nil, func(t *testing.T) string { return m.boundToken(t, m.certA, "test:read") }, codes.Unauthenticated, ReasonBindingMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := m.pki.clientConfig(tc.cert)
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			unbound := m.scoped(t, "test:read")
			// The first connection's call lets the client take the ticket.
			first := authtestv1.NewTestServiceClient(dial(t, m.addr, credentials.NewTLS(cfg)))
			if _, err := first.Inherited(withAuth(t.Context(), bearer(unbound)), &authtestv1.InheritedRequest{}); err != nil {
				t.Fatal(err)
			}
			var p peer.Peer
			second := authtestv1.NewTestServiceClient(dial(t, m.addr, credentials.NewTLS(cfg)))
			_, err := second.Inherited(withAuth(t.Context(), bearer(tc.token(t))), &authtestv1.InheritedRequest{}, grpc.Peer(&p))
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); !ok || !ti.State.DidResume {
				t.Fatalf("the second connection did not resume the session (%T)", p.AuthInfo)
			}
			checkStatus(t, err, tc.want, tc.reason)
		})
	}
}

// ownAuthInfoCreds are gRPC's TLS server credentials whose AuthInfo is a
// type of their own embedding credentials.TLSInfo, as credentials that add
// to it (a verified identity, a connection handle) return it: by value, or
// by pointer when ptr is set.
type ownAuthInfoCreds struct {
	credentials.TransportCredentials
	ptr bool
}

// ownTLSAuthInfo is ownAuthInfoCreds' AuthInfo.
type ownTLSAuthInfo struct {
	credentials.TLSInfo
	Identity string
}

func (c ownAuthInfoCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, ai, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		return nil, nil, err
	}
	own := ownTLSAuthInfo{TLSInfo: ai.(credentials.TLSInfo), Identity: "client"}
	if c.ptr {
		return conn, &own, nil
	}
	return conn, own, nil
}

func (c ownAuthInfoCreds) Clone() credentials.TransportCredentials {
	return ownAuthInfoCreds{c.TransportCredentials.Clone(), c.ptr}
}

// wrapAuthInfo returns a wrapper for newMTLSEnvWith giving the server
// ownAuthInfoCreds.
func wrapAuthInfo(ptr bool) func(credentials.TransportCredentials) credentials.TransportCredentials {
	return func(c credentials.TransportCredentials) credentials.TransportCredentials {
		return ownAuthInfoCreds{c, ptr}
	}
}

// TLS credentials that return an AuthInfo of their own embedding
// credentials.TLSInfo describe a TLS connection all the same: its client
// certificate binds tokens as with gRPC's own TLS credentials.
func TestBinding_TLSCredentialsWithTheirOwnAuthInfo(t *testing.T) {
	for _, ptr := range []bool{false, true} {
		t.Run(fmt.Sprintf("pointer %v", ptr), func(t *testing.T) {
			// Transport security, not the loopback, admits the token.
			m := newMTLSEnvWith(t, wrapAuthInfo(ptr), func(c *Config, _ *verifier.Config) { c.TransportSecurity = TransportSecureOnly })
			boundA := m.boundToken(t, m.certA, "test:read")
			for _, tt := range []struct {
				name   string
				client authtestv1.TestServiceClient
				want   codes.Code
				reason string
			}{
				{"bound to A, client A", m.clientA, codes.OK, ""},
				{"bound to A, client B", m.clientB, codes.Unauthenticated, ReasonBindingMismatch},
				{"bound to A, no client certificate", m.clientNone, codes.Unauthenticated, ReasonBindingMismatch},
			} {
				t.Run(tt.name, func(t *testing.T) {
					_, err := via(tt.client, callAuthenticated)(withAuth(t.Context(), bearer(boundA)), m.env)
					checkStatus(t, err, tt.want, tt.reason)
				})
			}
		})
	}
}

// On such a connection a DPoP proof's htu is https, as on any TLS
// connection (docs/dpop.md).
func TestBinding_DPoPOverTLSCredentialsWithTheirOwnAuthInfoIsHTTPS(t *testing.T) {
	pki := newPKI(t)
	key := newDPoPKey(t, "ES256")
	e := newEnvWith(t, ownAuthInfoCreds{pki.serverCreds(t), false}, pki.clientCreds(nil), func(c *Config, _ *verifier.Config) { c.Now = func() time.Time { return t0 } })
	tok := e.token(t, map[string]any{"sub": "user-1"}, grpcauthtest.WithScopes("test:read"), grpcauthtest.WithDPoPKey(key.PublicKey()))
	for _, tt := range []struct {
		scheme string
		want   codes.Code
	}{{"https", codes.OK}, {"http", codes.Unauthenticated}} {
		proof, err := key.Proof("POST", tt.scheme+"://"+e.addr+mInherited, tok)
		if err != nil {
			t.Fatal(err)
		}
		_, err = callInherited(dpopCtx(t.Context(), "DPoP "+tok, proof), e)
		if status.Code(err) != tt.want {
			t.Errorf("htu scheme %s over TLS: %v, want %v", tt.scheme, err, tt.want)
		}
	}
}

// AuthInfo types for TestPeerTLS_AuthInfoEmbeddingTLSInfo.
type (
	tlsInfoByPointer  struct{ *credentials.TLSInfo }
	tlsInfoNested     struct{ ownTLSAuthInfo }
	tlsInfoHidden     struct{ ownTLSAuthInfo }
	tlsInfoUnexported struct {
		tlsInfoHidden // unexported, but the TLSInfo it promotes is exported
	}
	tlsInfoAmbiguous struct { // Go promotes neither TLSInfo
		ownTLSAuthInfo
		tlsInfoByPointer
	}
	tlsInfoNamed struct {
		credentials.CommonAuthInfo
		TLSInfo credentials.TLSInfo // a field, not embedded
	}
)

func (tlsInfoNamed) AuthType() string     { return "tls" }
func (tlsInfoAmbiguous) AuthType() string { return "tls" }

// peerTLS finds a credentials.TLSInfo embedded in another AuthInfo type by
// value or pointer, directly or through another embedded struct, and keeps
// its rules: a handshake not complete proves no certificate. A nil pointer
// on the way, or a field that is not an embedded credentials.TLSInfo, is no
// TLS, and no panic.
func TestPeerTLS_AuthInfoEmbeddingTLSInfo(t *testing.T) {
	cert := newPKI(t).issue(t, "client", false).Leaf
	done := credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	done.State.PeerCertificates, done.State.HandshakeComplete = []*x509.Certificate{cert}, true
	incomplete := done
	incomplete.State.HandshakeComplete = false
	tests := []struct {
		name      string
		ai        credentials.AuthInfo
		wantTLS   bool
		wantCerts bool
	}{
		{"embedded by value", ownTLSAuthInfo{TLSInfo: done}, true, true},
		{"pointer to a type embedding it", &ownTLSAuthInfo{TLSInfo: done}, true, true},
		{"embedded by pointer", tlsInfoByPointer{&done}, true, true},
		{"embedded through another embedded struct", tlsInfoNested{ownTLSAuthInfo{TLSInfo: done}}, true, true},
		{"embedded, handshake not complete", ownTLSAuthInfo{TLSInfo: incomplete}, true, false},
		{"embedded nil pointer", tlsInfoByPointer{}, false, false},
		{"typed nil pointer to a type embedding it", (*ownTLSAuthInfo)(nil), false, false},
		{"through an unexported embedded struct", tlsInfoUnexported{tlsInfoHidden{ownTLSAuthInfo{TLSInfo: done}}}, true, true},
		{"promoted by two embedded structs at one depth", tlsInfoAmbiguous{ownTLSAuthInfo{TLSInfo: done}, tlsInfoByPointer{&done}}, false, false},
		{"a field named TLSInfo, not embedded", tlsInfoNamed{TLSInfo: done}, false, false},
		{"nil", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := peer.NewContext(t.Context(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, AuthInfo: tt.ai})
			certs, isTLS := peerTLS(ctx)
			if isTLS != tt.wantTLS || (len(certs) == 1 && certs[0] == cert) != tt.wantCerts {
				t.Errorf("peerTLS = %d certificates, %v; want TLS %v, certificate %v", len(certs), isTLS, tt.wantTLS, tt.wantCerts)
			}
		})
	}
	for name, ctx := range map[string]context.Context{"no peer": t.Context(), "nil peer": peer.NewContext(t.Context(), nil)} {
		if certs, isTLS := peerTLS(ctx); certs != nil || isTLS {
			t.Errorf("%s: peerTLS = %d certificates, %v; want none, false", name, len(certs), isTLS)
		}
	}
}

func TestBinding_BoundTokenOverPlaintextIsRefused(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, map[string]any{"sub": "user-1", "cnf": map[string]any{"x5t#S256": CertificateThumbprint(newPKI(t).issue(t, "c", false).Leaf)}},
		grpcauthtest.WithScopes("test:read"))
	_, err := callInherited(withAuth(t.Context(), bearer(tok)), e)
	checkStatus(t, err, codes.Unauthenticated, ReasonBindingMismatch)
}

func TestBinding_CnfForms(t *testing.T) {
	pki := newPKI(t)
	cert := pki.issue(t, "client", false).Leaf
	thumb := CertificateThumbprint(cert)
	tlsPeer := withPeer(bearerCtx("tok"), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1},
		credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}, State: tls.ConnectionState{HandshakeComplete: true}})
	withCert := func(certs ...*x509.Certificate) context.Context {
		ti := credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
		ti.State.PeerCertificates, ti.State.HandshakeComplete = certs, true
		return withPeer(bearerCtx("tok"), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, ti)
	}
	withCertPtr := func(cert *x509.Certificate) context.Context {
		ti := &credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
		ti.State.PeerCertificates, ti.State.HandshakeComplete = []*x509.Certificate{cert}, true
		return withPeer(bearerCtx("tok"), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, ti)
	}
	// handshakeIncomplete is a TLS state an adapter built by hand, with the
	// certificate but not HandshakeComplete: nothing proved the client
	// holds the certificate's key. From another host it is no transport
	// security (TestTransport_TLSHandshakeNotCompleteIsNoTransportSecurity);
	// on loopback it passes as local, and binding must still refuse it.
	handshakeIncomplete := func(cert *x509.Certificate) context.Context {
		ti := credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
		ti.State.PeerCertificates = []*x509.Certificate{cert}
		return withPeer(bearerCtx("tok"), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, ti)
	}
	other := pki.issue(t, "other", false).Leaf

	tests := []struct {
		name   string
		cnf    any // nil: no cnf claim
		ctx    context.Context
		want   codes.Code
		reason string
	}{
		{"no cnf", nil, tlsPeer, codes.OK, ""},
		{"matching thumbprint", map[string]any{"x5t#S256": thumb}, withCert(cert), codes.OK, ""},
		{"matching leaf, chain follows", map[string]any{"x5t#S256": thumb}, withCert(cert, pki.ca), codes.OK, ""},
		{"TLSInfo by pointer", map[string]any{"x5t#S256": thumb}, withCertPtr(cert), codes.OK, ""},
		{"thumbprint of the CA, not the leaf", map[string]any{"x5t#S256": CertificateThumbprint(pki.ca)}, withCert(cert, pki.ca), codes.Unauthenticated, ReasonBindingMismatch},
		{"other certificate", map[string]any{"x5t#S256": thumb}, withCert(other), codes.Unauthenticated, ReasonBindingMismatch},
		{"handshake not complete, on loopback", map[string]any{"x5t#S256": thumb}, handshakeIncomplete(cert), codes.Unauthenticated, ReasonBindingMismatch},
		{"handshake not complete, on loopback, unbound token", nil, handshakeIncomplete(cert), codes.OK, ""},
		{"TLS without client certificate", map[string]any{"x5t#S256": thumb}, tlsPeer, codes.Unauthenticated, ReasonBindingMismatch},
		{"nil leaf in a hand-built state", map[string]any{"x5t#S256": thumb}, withCert(nil, cert), codes.Unauthenticated, ReasonBindingMismatch},
		{"plaintext loopback", map[string]any{"x5t#S256": thumb}, bearerCtx("tok"), codes.Unauthenticated, ReasonBindingMismatch},
		{"padded thumbprint", map[string]any{"x5t#S256": thumb + "="}, withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
		{"thumbprint with its padding bits set", map[string]any{"x5t#S256": withPadBits(thumb)}, withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
		{"standard base64 alphabet", map[string]any{"x5t#S256": "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0"}, withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
		{"hex thumbprint", map[string]any{"x5t#S256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}, withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
		{"SHA-1 length", map[string]any{"x5t#S256": "qZk-NkcGgWq6PiVxeFDCbJzQ2J0"}, withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
		{"empty thumbprint", map[string]any{"x5t#S256": ""}, withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
		{"thumbprint not a string", map[string]any{"x5t#S256": 42}, withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
		{"cnf a string", thumb, withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
		{"cnf an array", []string{thumb}, withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
		{"cnf empty", map[string]any{}, withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
		{"cnf DPoP jkt, Bearer scheme", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, withCert(cert), codes.Unauthenticated, ReasonDPoPBindingMismatch},
		{"cnf jwk", map[string]any{"jwk": map[string]any{"kty": "EC"}}, withCert(cert), codes.Unauthenticated, ReasonTokenTypeUnsupported},
		{"cnf x5t#S256 and jkt", map[string]any{"x5t#S256": thumb, "jkt": "x"}, withCert(cert), codes.Unauthenticated, ReasonTokenTypeUnsupported},
		// Member names match exactly, as encoding/json matches map keys
		// (its case folding is for struct fields).
		{"cnf X5T#S256, another case", map[string]any{"X5T#S256": thumb}, withCert(cert), codes.Unauthenticated, ReasonTokenTypeUnsupported},
		{"cnf JKT, another case", map[string]any{"JKT": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, withCert(cert), codes.Unauthenticated, ReasonTokenTypeUnsupported},
		{"cnf x5t#S256 and X5T#S256", map[string]any{"x5t#S256": thumb, "X5T#S256": thumb}, withCert(cert), codes.Unauthenticated, ReasonTokenTypeUnsupported},
		// Of a repeated member the last counts, as of a repeated claim.
		{"cnf x5t#S256 twice, the last matching", json.RawMessage(`{"x5t#S256":"` + CertificateThumbprint(other) + `","x5t#S256":"` + thumb + `"}`), withCert(cert), codes.OK, ""},
		{"cnf x5t#S256 twice, the first matching", json.RawMessage(`{"x5t#S256":"` + thumb + `","x5t#S256":"` + CertificateThumbprint(other) + `"}`), withCert(cert), codes.Unauthenticated, ReasonBindingMismatch},
		{"cnf null", json.RawMessage(`null`), withCert(cert), codes.Unauthenticated, ReasonTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := map[string]any{"sub": "user-1", "scp": []string{"test:read"}}
			if tt.cnf != nil {
				claims["cnf"] = tt.cnf
			}
			c, err := verifier.NewClaims(claims)
			if err != nil {
				t.Fatal(err)
			}
			var rec recorder
			a := mustNew(t, Config{Verifier: staticVerifier{claims: c}, OnDecision: rec.record})
			got, err := callUnary(a, tt.ctx, mInherited)
			checkStatus(t, err, tt.want, tt.reason)
			if tt.want == codes.OK && got != c {
				t.Errorf("handler saw %v, want the verified claims", got)
			}
			if d := rec.last(t); tt.want != codes.OK && (d.Claims != c || d.Err == nil) {
				t.Errorf("decision = %+v, want the claims and a cause", d)
			}
		})
	}
}

// The members of a cnf no binding uses are named in Decision.Err, which
// is logged: many long names are clipped to 256 bytes and their length.
func TestBinding_UnsupportedCnfMembersAreClippedInTheError(t *testing.T) {
	cnf := map[string]any{}
	for i := range 100 {
		cnf[fmt.Sprintf("%03d%s", i, strings.Repeat("m", 500))] = "x"
	}
	c, err := verifier.NewClaims(map[string]any{"sub": "user-1", "scp": []string{"test:read"}, "cnf": cnf})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	a := mustNew(t, Config{Verifier: staticVerifier{claims: c}, OnDecision: rec.record})
	_, err = callUnary(a, bearerCtx("tok"), mInherited)
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenTypeUnsupported)
	if e := rec.last(t).Err.Error(); !strings.Contains(e, `"000mmmm`) || !strings.Contains(e, "bytes)") || len(e) > 600 {
		t.Errorf("Err is %d bytes (%.80q…), want the members clipped to 256 bytes and their length", len(e), e)
	}
}

// withPadBits returns thumb, the unpadded base64url encoding of a SHA-256
// digest, with the two low bits of its last character set: those bits
// encode none of the digest, so a lenient decoder reads the same digest.
func withPadBits(thumb string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, thumb[len(thumb)-1])
	return thumb[:len(thumb)-1] + alphabet[i|3:i|3+1]
}

// A thumbprint has one encoding: another string that a lenient decoder
// reads as the same digest (its last character's padding bits set) is
// malformed, in the compact form and through encoding/json alike, for
// both confirmation members.
func TestCnfThumbprint_RefusesNonCanonicalEncoding(t *testing.T) {
	const thumb = "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
	for _, member := range []string{x5tS256Key, jktKey} {
		for _, form := range []string{`{"%s":"%s"}`, `{ "%s" : "%s" }`} {
			if _, _, err := cnfThumbprint([]byte(fmt.Sprintf(form, member, thumb))); err != nil {
				t.Fatalf("%s: canonical thumbprint refused: %v", fmt.Sprintf(form, member, thumb), err)
			}
			raw := fmt.Sprintf(form, member, withPadBits(thumb))
			if _, _, err := cnfThumbprint([]byte(raw)); !errors.Is(err, errMalformedCnf) {
				t.Errorf("%s: err = %v, want %v", raw, err, errMalformedCnf)
			}
		}
	}
}

func TestCertificateThumbprint_IsBase64URLOfSHA256OfDER(t *testing.T) {
	// SHA-256("abc") = ba7816bf 8f01cfea ... f20015ad (FIPS 180-2 example).
	got := CertificateThumbprint(&x509.Certificate{Raw: []byte("abc")})
	if want := "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"; got != want {
		t.Errorf("CertificateThumbprint = %q, want %q", got, want)
	}
}

func TestRequirement_ReportsCertificateBinding(t *testing.T) {
	a := mustNew(t, Config{Rules: map[string]*grpcauthv1.Rule{mAuth: {RequireCertificateBinding: true, Scopes: []string{"x"}}}})
	req, err := a.Requirement(mAuth)
	if err != nil || !req.RequireCertificateBinding || req.Public {
		t.Errorf("Requirement(%s) = %+v, %v; want RequireCertificateBinding", mAuth, req, err)
	}
	if req, _ := a.Requirement(mInherited); req.RequireCertificateBinding {
		t.Errorf("Requirement(%s) = %+v; want no binding", mInherited, req)
	}
}
