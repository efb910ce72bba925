package grpcauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// FuzzSignedDPoPClaimsThroughInterceptors is FuzzSignedClaimsThroughInterceptors
// for DPoP-bound tokens (RFC 9449): the payload's members follow a valid
// iss, aud, exp and a cnf whose jkt is the thumbprint of a DPoP key the
// test holds (a fuzzed cnf after it counts, as the last one does; "$JKT"
// in the payload stands for that thumbprint, so that odd cnf shapes may
// name the key), and each call sends the token with the DPoP scheme and,
// chosen by mode, a proof for the call (htm POST, htu
// http://bufnet/<method>, ath the token's hash) signed by that key, by
// another key, or none; with the server nonce, none or a stale one; or the
// execution's first proof again. The Authenticators share a replay cache
// and a nonce source (dpop.HMACNonces), on a DPoP clock that moves on by
// more than MaxAge each execution.
//
// On top of the checks of FuzzSignedClaimsThroughInterceptors (no panic;
// OK, Unauthenticated or PermissionDenied only, in dry run OK or
// Unauthenticated; no status, challenge, Decision.Err or log record holds
// the token's signature, nor now a proof's claims or signature; the claims
// accessors consistent): an OK call sent a proof, signed by the key whose
// thumbprint is the jkt of the token's cnf as encoding/json reads the
// signed payload (an object whose only member is jkt), and no proof is
// accepted twice, on either server; a USE_DPOP_NONCE refusal carries the
// current nonce. The replay cache cannot refuse here: its entries expire
// as the clock moves on, so it never holds more than one execution's
// proofs (17), far from its 100,000 entries and a key's share of 25,000,
// and so neither UNAVAILABLE nor RESOURCE_EXHAUSTED may come back.
//
// mode: bits 0-1 the proof (0, 1: the cnf key's; 2: another key's; 3:
// none), bit 2 the cnf key (ES256 or Ed25519; the other key is the other
// one), bits 3-4 the nonce (0, 1: the current one; 2: none; 3: one an hour
// old), bit 5 every call sends the execution's first proof.
//
//	go test -run '^$' -fuzz FuzzSignedDPoPClaimsThroughInterceptors -fuzztime 60s -parallel 1 .
func FuzzSignedDPoPClaimsThroughInterceptors(f *testing.F) {
	for i, s := range dpopClaimSeeds {
		f.Add(s.mode, s.payload)
		f.Add(byte(i)&0x3f, s.payload) // the other ways of sending it
	}
	for i, s := range claimSeeds {
		f.Add(byte(i)&0x3f, s)
	}
	var clock atomic.Int64 // the DPoP clock, in Unix nanoseconds
	clock.Store(fuzzNow.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	nonces, err := dpop.NewHMACNonces(nil, 0)
	if err != nil {
		f.Fatal(err)
	}
	replay := dpop.NewMemoryReplayCache(0, now)
	var keys [2]*grpcauthtest.DPoPKey
	for i, alg := range []string{"ES256", "Ed25519"} {
		if keys[i], err = grpcauthtest.NewDPoPKeyWithAlgorithm(alg); err != nil {
			f.Fatal(err)
		}
		keys[i].Now = now
	}
	fx := newClaimsFixture(f, func(c *grpcauth.Config) {
		c.DPoP = dpop.Config{Nonces: nonces, ReplayCache: replay, Now: now}
	})
	f.Fuzz(func(t *testing.T, mode byte, payload string) {
		clock.Add(int64(dpop.DefaultMaxAge + 2*time.Second))
		held, other := keys[mode>>2&1], keys[1-mode>>2&1]
		payload = strings.ReplaceAll(payload, "$JKT", held.Thumbprint())
		tok := fx.underTest(payload, `"cnf":{"jkt":"`+held.Thumbprint()+`"}`)
		jkt := boundJKT(tok)
		nonce := nonces.Nonce(now())
		proofNonce := nonce
		switch mode >> 3 & 3 {
		case 2:
			proofNonce = ""
		case 3:
			proofNonce = nonces.Nonce(now().Add(-time.Hour))
		}
		var (
			first    string
			sent     *grpcauthtest.DPoPKey // the key of the last call's proof, nil for none
			proof    string                // the last call's proof
			accepted = map[string]bool{}
		)
		set := func(ctx context.Context, method string) context.Context {
			sent, proof = nil, ""
			switch {
			case mode&3 == 3:
				return metadata.AppendToOutgoingContext(ctx, "authorization", "DPoP "+tok)
			case mode&3 == 2:
				sent = other
			default:
				sent = held
			}
			if proof = first; proof == "" || mode&0x20 == 0 {
				// dpop.Signer's proof, as a client makes it: htu as grpc-go
				// names a bufconn call to passthrough:///bufnet.
				p, err := sent.ProofWith(grpcauthtest.ProofOptions{Method: "POST", URL: "http://bufnet" + method, AccessToken: tok, Nonce: proofNonce})
				if err != nil {
					t.Error(err)
				}
				proof = p
				if first == "" {
					first = p
				}
			}
			_, rest, _ := strings.Cut(proof, ".") // its claims and signature; its header is the public key
			fx.addSecret(rest)
			return metadata.AppendToOutgoingContext(ctx, "authorization", "DPoP "+tok, grpcauth.MetadataDPoP, proof)
		}
		ctx := context.WithValue(t.Context(), callCredentialsKey{}, set)
		fx.run(t, ctx, func(call string, dry bool, st *status.Status, md metadata.MD) {
			if st.Code() != codes.OK {
				if reason(st) == grpcauth.ReasonUseDPoPNonce {
					if got := md.Get(grpcauth.MetadataDPoPNonce); len(got) != 1 || got[0] != nonce {
						t.Errorf("%s (dry run %v): USE_DPOP_NONCE with the nonces %q, want %q", call, dry, got, nonce)
					}
				}
				return
			}
			switch {
			case sent == nil:
				t.Errorf("%s (dry run %v): OK without a proof", call, dry)
			case sent.Thumbprint() != jkt:
				t.Errorf("%s (dry run %v): OK with a proof of the key %s, and the token's cnf jkt is %q", call, dry, sent.Thumbprint(), jkt)
			case accepted[proof]:
				t.Errorf("%s (dry run %v): a proof accepted twice", call, dry)
			}
			accepted[proof] = true
		})
	})
}

// boundJKT returns the jkt of the cnf of tok's payload as encoding/json
// reads it, when the cnf is an object whose only member is jkt, a string;
// else "", which no key has.
func boundJKT(tok string) string {
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Cnf map[string]json.RawMessage `json:"cnf"`
	}
	var jkt string
	if json.Unmarshal(payload, &claims) != nil || len(claims.Cnf) != 1 || json.Unmarshal(claims.Cnf["jkt"], &jkt) != nil {
		return ""
	}
	return jkt
}

// reason is st's ErrorInfo reason, or "".
func reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(interface{ GetReason() string }); ok {
			return info.GetReason()
		}
	}
	return ""
}

// dpopClaimSeeds are DPoP-bound payloads as issuers write them, and odd
// shapes of cnf, each with a way of sending it (see the target's mode).
var dpopClaimSeeds = []struct {
	mode    byte
	payload string
}{
	// Okta: DPoP-bound access token (cnf added by the issuer, here before).
	{0, `{"ver":1,"jti":"AT.x","iat":1893553445,"cid":"client-1","uid":"00u1","scp":["test:read","test:write","openid"],"auth_time":1893553445,"sub":"alice","acr":"urn:example:mfa","amr":["pwd","mfa"]}`},
	// Okta with the cnf of its own, and an Ed25519 key.
	{4, `{"ver":1,"jti":"AT.y","cid":"client-1","scp":["test:read","test:stream"],"sub":"alice","cnf":{"jkt":"$JKT"}}`},
	// Auth0
	{0, `{"sub":"auth0|alice","azp":"client-1","scope":"test:read test:stream test:write","gty":"client-credentials","permissions":["test:admin"],"cnf":{"jkt":"$JKT"},"iat":1893553445}`},
	// Keycloak
	{8, `{"typ":"Bearer","azp":"client-1","sid":"s","acr":"phr","realm_access":{"roles":["offline_access"]},"scope":"openid test:read test:admin","sub":"alice","auth_time":1893553400,"tenant":"acme","cnf":{"jkt":"$JKT"}}`},
	// The same, sent each way: another key's proof, none, no nonce, a stale
	// nonce, the first proof on every call.
	{2, `{"sub":"alice","scp":["test:read","test:write"]}`},
	{3, `{"sub":"alice","scp":["test:read","test:write"]}`},
	{0x10, `{"sub":"alice","scp":["test:read","test:write"]}`},
	{0x18, `{"sub":"alice","scp":["test:read","test:write"]}`},
	{0x20, `{"sub":"alice","scp":["test:read","test:write","test:stream"]}`},
	{0x24, `{"sub":"alice","scp":["test:read","test:write","test:stream"]}`},
	// cnf of other shapes.
	{0, `{"sub":"alice","cnf":"$JKT","scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":["$JKT"],"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":[{"jkt":"$JKT"}],"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":null,"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":null},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":1},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":1e400},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":["$JKT"]},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":{"jkt":"$JKT"}},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":""},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"$JKT="},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"$JKT$JKT"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":" $JKT"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4J"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"$JKT","x5t#S256":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"x5t#S256":"$JKT"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"$JKT","jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"$JKT","kid":"k"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"JKT":"$JKT"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"\u006akt":"$JKT"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"\u0024JKT"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"x","jkt":"$JKT"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"$JKT","jkt":"x"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","\u0063nf":{"jkt":"x"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"$JKT"},"cnf":{"jkt":"$JKT"},"scp":["test:read"]}`},
	{0, `{"sub":"alice","Cnf":{"jkt":"x"},"CNF":null,"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"$JKT"` + strings.Repeat(`,"x":1`, 100) + `},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"$JKT","x":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]},"scp":["test:read"]}`},
	{0, `{"sub":"alice","cnf":{"jkt":"` + strings.Repeat("A", 4096) + `"},"scp":["test:read"]}`},
}
