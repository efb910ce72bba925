package grpcauth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// TestUnary_UnknownKidWhileKeysCannotBeFetchedIsUnavailable checks, end to
// end, the answer to a token whose kid the verifier does not know: while
// the key-set fetch fails, the server cannot tell a forged kid from a key
// published since, so the call is UNAVAILABLE with KEYS_UNAVAILABLE (retry),
// not UNAUTHENTICATED; once a fetch succeeds, the new key's token is
// accepted and a kid the issuer does not publish is ACCESS_TOKEN_INVALID.
func TestUnary_UnknownKidWhileKeysCannotBeFetchedIsUnavailable(t *testing.T) {
	var (
		failing atomic.Bool
		target  atomic.Value // the issuer's JWKS URL
		elapsed atomic.Int64 // the verifier's clock, in nanoseconds after t0
	)
	// The verifier fetches its keys through this proxy, which fails on demand.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		resp, err := http.Get(target.Load().(string))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	e := newEnv(t, func(_ *Config, vc *verifier.Config) {
		target.Store(vc.Issuer + "/v1/keys")
		vc.JWKSURL, vc.Logger = proxy.URL+"/keys", discardLogger()
		vc.Now = func() time.Time { return t0.Add(time.Duration(elapsed.Load())) }
	})
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	if err := e.v.Ready(rctx); err != nil { // no lookup before the first set: the first miss below may fetch
		t.Fatal(err)
	}
	call := func(tok string) error {
		ctx, cancel := context.WithTimeout(withAuth(context.Background(), bearer(tok)), 30*time.Second)
		defer cancel()
		_, err := e.client.Authenticated(ctx, &authtestv1.AuthenticatedRequest{})
		return err
	}
	checkStatus(t, call(e.scoped(t)), codes.OK, "")

	failing.Store(true)
	if _, err := e.iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	rotated := e.scoped(t) // signed with the key the verifier has not fetched
	checkStatus(t, call(rotated), codes.Unavailable, ReasonKeysUnavailable)
	forged := e.token(t, nil, grpcauthtest.WithKidHeader("forged"))
	checkStatus(t, call(forged), codes.Unavailable, ReasonKeysUnavailable) // rate-limited: the latest fetch failed

	failing.Store(false)
	elapsed.Add(int64(verifier.DefaultMinRefreshInterval))
	checkStatus(t, call(rotated), codes.OK, "")
	elapsed.Add(int64(verifier.DefaultMinRefreshInterval))
	checkStatus(t, call(forged), codes.Unauthenticated, ReasonTokenInvalid)
}
