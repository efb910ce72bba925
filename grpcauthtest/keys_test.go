package grpcauthtest_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

func TestJWKS_HoldsOnlyPublicKeysWithKidAlgUse(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA", "Ed25519"} {
		t.Run(alg, func(t *testing.T) {
			iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: alg})
			if _, err := iss.RotateKey(); err != nil {
				t.Fatal(err)
			}
			resp, body := get(t, iss.JWKSURL())
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "max-age=300" {
				t.Errorf("Cache-Control %q, want max-age=300", cc)
			}
			var doc struct{ Keys []map[string]any }
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Keys) != 2 {
				t.Fatalf("%d keys, want 2", len(doc.Keys))
			}
			for _, k := range doc.Keys {
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := k[private]; ok {
						t.Errorf("key %v has private member %q", k["kid"], private)
					}
				}
				if k["alg"] != alg || k["use"] != "sig" || k["kid"] == "" || k["kid"] == nil {
					t.Errorf("key alg=%v use=%v kid=%v, want %s, sig, non-empty", k["alg"], k["use"], k["kid"], alg)
				}
			}
			if doc.Keys[0]["kid"] == doc.Keys[1]["kid"] {
				t.Error("two keys share a kid")
			}
		})
	}
}

// rotated starts an RS256 issuer, mints a token with its first key, then
// rotates to a second key.
func rotated(t *testing.T) (iss *grpcauthtest.Issuer, oldKid, oldTok, newKid string) {
	t.Helper()
	iss = grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	oldKid = iss.KeyID()
	oldTok, err := iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	if newKid, err = iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	return iss, oldKid, oldTok, newKid
}

func TestRotateKey_NewKeySignsAndOldStaysPublished(t *testing.T) {
	iss, oldKid, oldTok, newKid := rotated(t)
	if newKid == oldKid || iss.KeyID() != newKid {
		t.Fatalf("RotateKey returned %q, KeyID() %q, old %q", newKid, iss.KeyID(), oldKid)
	}
	newTok, err := iss.Token("svc")
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := segments(t, newTok); h["kid"] != newKid {
		t.Fatalf("new token kid %v, want %s", h["kid"], newKid)
	}
	if got := iss.KeyIDs(); !slices.Equal(got, []string{oldKid, newKid}) {
		t.Fatalf("KeyIDs() = %v", got)
	}
	set := fetchKeySet(t, iss)
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set)); err != nil {
			t.Errorf("%s token does not verify after rotation: %v", name, err)
		}
	}
	// WithIssuerKey still signs with the old key while it is published.
	viaOld, err := iss.Mint(nil, grpcauthtest.WithIssuerKey(oldKid))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := segments(t, viaOld); h["kid"] != oldKid {
		t.Errorf("WithIssuerKey(old) kid %v", h["kid"])
	}
}

func TestRemoveKey_UnpublishesKeyAndFallsBack(t *testing.T) {
	iss, oldKid, oldTok, newKid := rotated(t)
	iss.RemoveKey(oldKid)
	set := fetchKeySet(t, iss)
	if _, ok := set.LookupKeyID(oldKid); ok || set.Len() != 1 {
		t.Fatalf("removed key still published (len %d)", set.Len())
	}
	if _, err := jwt.Parse([]byte(oldTok), jwt.WithKeySet(set)); err == nil {
		t.Fatal("token of a removed key still verifies against the JWKS")
	}
	if iss.PublicKey(oldKid) == nil {
		t.Error("PublicKey of a removed key is nil; want it kept for forgeries")
	}
	// A removed key can still sign on request, for unknown-kid tests.
	if tok, err := iss.Mint(nil, grpcauthtest.WithIssuerKey(oldKid)); err != nil {
		t.Errorf("WithIssuerKey(removed): %v", err)
	} else if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.RS256, iss.PublicKey(oldKid))); err != nil {
		t.Errorf("WithIssuerKey(removed) token not signed by that key: %v", err)
	}

	// Removing the signing key falls back to the newest remaining key.
	third, err := iss.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	iss.RemoveKey(third)
	if iss.KeyID() != newKid {
		t.Fatalf("KeyID() after removing the signing key = %q, want %q", iss.KeyID(), newKid)
	}
	iss.RemoveKey(newKid)
	if iss.KeyID() != "" {
		t.Fatalf("KeyID() with no keys = %q", iss.KeyID())
	}
	if _, err := iss.Token("svc"); !errors.Is(err, grpcauthtest.ErrNoSigningKey) {
		t.Fatalf("Token with no keys: %v, want ErrNoSigningKey", err)
	}
	iss.RemoveKey("never-existed") // no-op, no panic
	if iss.PublicKey("never-existed") != nil {
		t.Error("PublicKey of an unknown kid is not nil")
	}
	if _, err := iss.Mint(nil, grpcauthtest.WithIssuerKey("never-existed")); err == nil {
		t.Error("WithIssuerKey(unknown) succeeded")
	}
}

// Changing the key PublicKey returned changes only that copy: the issuer
// keeps signing with, and returning, its own key.
func TestPublicKey_ChangingTheReturnedKeyLeavesTheIssuersKey(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: alg})
			kid := iss.KeyID()
			spoil(t, iss.PublicKey(kid))
			tok, err := iss.Mint(nil)
			if err != nil {
				t.Fatalf("Mint after the returned key was changed: %v", err)
			}
			if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.KeyAlgorithmFrom(alg), iss.PublicKey(kid))); err != nil {
				t.Fatalf("token does not verify under PublicKey after the returned key was changed: %v", err)
			}
			if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(fetchKeySet(t, iss))); err != nil {
				t.Fatalf("token does not verify under the JWKS after the returned key was changed: %v", err)
			}
		})
	}
}

func TestJWKSRequests_CountsEachGet(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{})
	if n := iss.JWKSRequests(); n != 0 {
		t.Fatalf("JWKSRequests() = %d before any fetch", n)
	}
	for range 3 {
		fetchKeySet(t, iss)
	}
	do(t, mustRequest(t, http.MethodHead, iss.JWKSURL(), nil))
	get(t, iss.DiscoveryURL())
	if n := iss.JWKSRequests(); n != 3 {
		t.Fatalf("JWKSRequests() = %d, want 3 (HEAD and discovery do not count)", n)
	}
}

func TestIssuer_ConcurrentMintRotateAndServe(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: "ES256"})
	const workers, perWorker = 8, 20
	toks := make(chan string, workers*perWorker)
	var wg sync.WaitGroup
	errs := make(chan error, workers+2)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				tok, err := iss.Token("svc", "a")
				if err != nil {
					errs <- err
					return
				}
				toks <- tok
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			kid, err := iss.RotateKey()
			if err != nil {
				errs <- err
				return
			}
			_ = iss.PublicKey(kid)
		}
	})
	wg.Go(func() {
		client := newClient()
		for range 5 {
			resp, err := client.Get(iss.JWKSURL())
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
		}
	})
	wg.Wait()
	close(toks)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := 0
	for tok := range toks {
		h, _ := segments(t, tok)
		kid, _ := h["kid"].(string)
		if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.ES256, iss.PublicKey(kid))); err != nil {
			t.Fatalf("token %d does not verify with its kid's key: %v", n, err)
		}
		n++
	}
	if n != workers*perWorker {
		t.Fatalf("%d tokens, want %d", n, workers*perWorker)
	}
	if iss.JWKSRequests() != 5 {
		t.Errorf("JWKSRequests() = %d, want 5", iss.JWKSRequests())
	}
	if got := fetchKeySet(t, iss).Len(); got != 6 {
		t.Errorf("%d keys published, want 6", got)
	}
}
