package jwks_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/grpcauth/grpcauth/verifier/internal/jwks"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

func Example() {
	// A key server on loopback, publishing one Ed25519 key.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := jwk.FromRaw(pub)
	_ = key.Set(jwk.KeyIDKey, "key-1")
	_ = key.Set(jwk.AlgorithmKey, "EdDSA")
	set := jwk.NewSet()
	_ = set.AddKey(key)
	body, _ := json.Marshal(set)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()

	keys := jwks.New(jwks.Config{URL: srv.URL})
	defer keys.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := keys.Ready(ctx); err != nil {
		fmt.Println("not ready:", err)
		return
	}

	k, err := keys.Key(ctx, "key-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s %T\n", k.ID, k.Algorithm, k.Public)

	_, err = keys.Key(ctx, "forged")
	fmt.Println(errors.Is(err, jwks.ErrUnknownKey))
	// Output:
	// key-1 EdDSA ed25519.PublicKey
	// true
}
