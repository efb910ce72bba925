package verifier

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// A token whose kid is new is checked against the clock before its key is
// fetched, and the fetch can take up to MinRefreshInterval plus FetchTimeout.
// A token that expires meanwhile must be refused when the verification ends,
// as the cache and any later call refuse it: the times are checked again once
// the key is there.
func TestVerifyAccessToken_TokenExpiringWhileItsKeyIsFetchedIsExpired(t *testing.T) {
	clk := newClock()
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: "EdDSA", Now: clk.Now})
	target, err := url.Parse(iss.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	proxy.Transport = transport
	var gate atomic.Bool // true: the next key-set request blocks until released
	entered, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gate.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	v := newVerifier(t, Config{
		Issuer:    iss.URL(),
		Audiences: []string{iss.Audience()},
		JWKSURL:   srv.URL + "/v1/keys",
		Now:       clk.Now,
		ClockSkew: -1, // none: the boundary is exp itself
	})
	ready(t, v)
	if _, err := iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	token, err := iss.Mint(map[string]any{"exp": clk.Now().Add(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}

	gate.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := v.VerifyAccessToken(context.Background(), token)
		done <- err
	}()
	<-entered                     // the call passed the time check and waits for the new key
	clk.Advance(10 * time.Second) // the token expires during the fetch
	close(release)
	if err := <-done; !errors.Is(err, ErrExpired) {
		t.Fatalf("token that expired while its key was fetched = %v, want ErrExpired", err)
	}
	if _, err := v.VerifyAccessToken(context.Background(), token); !errors.Is(err, ErrExpired) {
		t.Fatalf("the same token again = %v, want ErrExpired", err)
	}
}
