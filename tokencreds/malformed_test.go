package tokencreds_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// An access token with a byte outside visible ASCII (a trailing newline,
// a space, non-ASCII text), as a faulty token endpoint may send it in its
// JSON, is not sent nor kept: grpc-go refused it in metadata (a control
// character or non-ASCII text), failing every call with Internal until the
// token expired (an hour here), or the server refused it (a space), and
// the token source was not asked again meanwhile. It fails the calls with
// Unauthenticated and ErrMalformedToken's text, which does not quote the
// token, and the source is asked again only after the backoff (a caching
// one, as clientcredentials' here, then returns the same token until it
// expires).
func TestCredentials_AccessTokenAnAuthorizationValueCannotCarryIsNotSent(t *testing.T) {
	for _, at := range []string{"at-1\n", "at\r\n1", "at 1", " at-1", "at\x00", "ät-1", "at\x7f"} {
		t.Run(fmt.Sprintf("%q", at), func(t *testing.T) {
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				requests.Add(1)
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600})
			}))
			t.Cleanup(srv.Close)
			cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInHeader}
			clk := newClock()
			src := &countingSource{next: cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client()))}
			creds := tokencreds.NewWithClock(src, clk.Now)
			for range 5 {
				md, err := creds.GetRequestMetadata(localCall())
				if md != nil || status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrMalformedToken) {
					t.Fatalf("GetRequestMetadata = %q, %v; want Unauthenticated wrapping ErrMalformedToken", md, err)
				}
				if msg := status.Convert(err).Message(); msg != tokencreds.ErrMalformedToken.Error() || strings.Contains(msg, strings.TrimSpace(at)) {
					t.Fatalf("status message = %q, want ErrMalformedToken's text, without the token", msg)
				}
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("token endpoint asked %d times for 5 calls, want 1", n)
			}
			if n := src.n.Load(); n != 1 {
				t.Errorf("token source asked %d times for 5 calls, want 1 (then the backoff)", n)
			}
			clk.Advance(3 * time.Second) // past the first backoff delay (at most 1.2 s)
			if _, err := creds.GetRequestMetadata(localCall()); !errors.Is(err, tokencreds.ErrMalformedToken) {
				t.Fatalf("after the backoff: err = %v, want ErrMalformedToken", err)
			}
			if n := src.n.Load(); n != 2 {
				t.Errorf("token source asked %d times after the backoff, want 2", n)
			}
		})
	}
}

// Credentials from NewDPoP refuse such an access token too, before signing
// a proof for it.
func TestNewDPoP_AccessTokenAnAuthorizationValueCannotCarryIsNotSent(t *testing.T) {
	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at-1\n", TokenType: "DPoP", Expiry: time.Now().Add(time.Hour)})
	ctx, uri := dpopCallCtx()
	md, err := tokencreds.NewDPoP(src, newSigner(t)).GetRequestMetadata(ctx, uri)
	if md != nil || status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrMalformedToken) {
		t.Fatalf("GetRequestMetadata = %q, %v; want Unauthenticated wrapping ErrMalformedToken", md, err)
	}
}
