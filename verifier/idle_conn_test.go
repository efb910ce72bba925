package verifier_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestVerifier_DefaultClientHoldsNoConnectionBetweenRefreshes: with its
// default HTTP client (Config.HTTPClient nil), a Verifier holds no idle
// connection to the issuer once a key set refresh is over: the one its
// discovery and key-set requests shared is closed by the time Ready
// returns (the server sees it close).
func TestVerifier_DefaultClientHoldsNoConnectionBetweenRefreshes(t *testing.T) {
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: "ES256"})
	get := &http.Client{Transport: &http.Transport{}}
	resp, err := get.Get(iss.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	get.CloseIdleConnections()
	if err != nil {
		t.Fatal(err)
	}

	opened, closed := make(chan struct{}, 100), make(chan struct{}, 100)
	var srv *httptest.Server
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/keys"})
		case "/keys":
			w.Write(keys)
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			opened <- struct{}{}
		case http.StateClosed, http.StateHijacked:
			closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := verifier.New(ctx, verifier.Config{Issuer: srv.URL, Audiences: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := v.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("the verifier's connection to the issuer stayed open after the refresh")
	}
	if n := len(opened); n != 1 {
		t.Fatalf("discovery and key set took %d connections, want 1", n)
	}
}
