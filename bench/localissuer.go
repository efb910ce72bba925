package main

// TEMPORARY: a minimal in-process issuer used until grpcauthtest lands.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

type localKey struct {
	kid  string
	alg  jwa.SignatureAlgorithm
	priv crypto.Signer
}

type localIssuer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	keys     []localKey
	jwks     []byte
	requests atomic.Int64
}

func startLocalIssuer() (*localIssuer, error) {
	li := &localIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/default/v1/keys", func(w http.ResponseWriter, r *http.Request) {
		li.requests.Add(1)
		li.mu.Lock()
		body := li.jwks
		li.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	li.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: mux}}
	li.srv.Start()
	if _, err := li.AddKey("RS256"); err != nil {
		li.Close()
		return nil, err
	}
	return li, nil
}

func (li *localIssuer) URL() string      { return li.srv.URL + "/oauth2/default" }
func (li *localIssuer) JWKSURL() string  { return li.URL() + "/v1/keys" }
func (li *localIssuer) Audience() string { return "api://default" }
func (li *localIssuer) JWKSRequests() int64 {
	return li.requests.Load()
}
func (li *localIssuer) Close() { li.srv.Close() }

func (li *localIssuer) AddKey(alg string) (string, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("unsupported alg %q", alg)
	}
	if err != nil {
		return "", err
	}
	li.mu.Lock()
	defer li.mu.Unlock()
	kid := fmt.Sprintf("key-%d-%s", len(li.keys)+1, alg)
	li.keys = append(li.keys, localKey{kid: kid, alg: jwa.SignatureAlgorithm(alg), priv: priv})
	set := jwk.NewSet()
	for _, k := range li.keys {
		pk, err := jwk.FromRaw(k.priv.Public())
		if err != nil {
			return "", err
		}
		pk.Set(jwk.KeyIDKey, k.kid)
		pk.Set(jwk.AlgorithmKey, k.alg)
		pk.Set(jwk.KeyUsageKey, "sig")
		set.AddKey(pk)
	}
	li.jwks, err = json.Marshal(set)
	return kid, err
}

func (li *localIssuer) key(kid string) localKey {
	li.mu.Lock()
	defer li.mu.Unlock()
	for _, k := range li.keys {
		if k.kid == kid {
			return k
		}
	}
	return localKey{}
}

func (li *localIssuer) PublicKey(kid string) crypto.PublicKey { return li.key(kid).priv.Public() }

// mint signs claims (merged over Okta-like defaults) with key kid; headerKid
// overrides the kid header, signer overrides the signing key.
func (li *localIssuer) mint(kid string, claims map[string]any, headerKid *string, signer crypto.Signer) (string, error) {
	k := li.key(kid)
	now := time.Now()
	c := map[string]any{
		"ver": 1, "jti": "AT.bench-" + rand.Text(), "iss": li.URL(), "aud": li.Audience(),
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "cid": "0oabenchclient",
		"uid": "00ubenchuser", "scp": []string{"items:read", "items:write"}, "sub": "bench@example.com",
	}
	for n, v := range claims {
		if v == nil {
			delete(c, n)
		} else {
			c[n] = v
		}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	h := jws.NewHeaders()
	h.Set(jws.TypeKey, "JWT")
	if headerKid != nil {
		kid = *headerKid
	}
	if kid != "" {
		h.Set(jws.KeyIDKey, kid)
	}
	priv := k.priv
	if signer != nil {
		priv = signer
	}
	out, err := jws.Sign(payload, jws.WithKey(k.alg, priv, jws.WithProtectedHeaders(h)))
	return string(out), err
}
