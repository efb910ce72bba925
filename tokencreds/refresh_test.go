package tokencreds_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// countingEndpoint is a token endpoint whose tokens ("at-" and the
// request's number) have token_type typ and expires_in expires, counting
// the requests; it returns the client's configuration and the context of
// its TokenSource.
func countingEndpoint(t *testing.T, typ string, expires int) (*clientcredentials.Config, context.Context, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":%q,"expires_in":%d}`, i, typ, expires)
	}))
	t.Cleanup(srv.Close)
	cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInHeader}
	return cc, context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client()), &n
}

// A refresh margin as long as the token's life or longer (oauth2's 10 s
// for a token of 5 s, or oauth2.ReuseTokenSourceWithExpiry's hour for one
// of 5 min) made oauth2.Token.Valid report every token expired, so that
// every call asked the caching source, whose token was in the same
// margin, and each cost a token request. The credentials reuse a token
// for at least the first half of its life, and then ask once.
func TestCredentials_MarginLongerThanTheTokensLifeDoesNotAskOnEveryCall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		expires int           // expires_in
		margin  time.Duration // of oauth2.ReuseTokenSourceWithExpiry, if set
	}{
		{"oauth2's 10 s margin, token of 5 s", 5, 0},
		{"a margin of an hour, token of 5 min", 300, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, ctx, requests := countingEndpoint(t, "Bearer", tc.expires)
			ts := cc.TokenSource(ctx)
			if tc.margin != 0 {
				ts = oauth2.ReuseTokenSourceWithExpiry(nil, ts, tc.margin)
			}
			clk := newClock()
			creds := tokencreds.NewWithClock(ts, clk.Now)
			calls := func(want string) {
				t.Helper()
				for range 20 {
					md, err := creds.GetRequestMetadata(localCall())
					if err != nil || md["authorization"] != want {
						t.Fatalf("GetRequestMetadata = %v, %v; want %s", md, err, want)
					}
					tokencreds.AwaitFetch(creds)
				}
			}
			calls("Bearer at-1")
			if n := requests.Load(); n != 1 {
				t.Fatalf("token endpoint asked %d times for 20 calls in the token's first half-life, want 1", n)
			}
			clk.Advance(time.Duration(tc.expires)*time.Second/2 + time.Second) // past its half-life
			if _, err := creds.GetRequestMetadata(localCall()); err != nil {
				t.Fatal(err)
			}
			tokencreds.AwaitFetch(creds) // the refresh runs in the background
			calls("Bearer at-2")
			if n := requests.Load(); n != 2 {
				t.Errorf("token endpoint asked %d times, want 2 (one refresh past the first token's half-life)", n)
			}
		})
	}
}

// A token that has expired when the source returns it (a token endpoint's
// negative expires_in) is refused with ErrExpiredToken and not kept, and
// the source is asked again only after the backoff: sent, it would fail
// every call at the server, and every call would wait for a token request
// of its own first.
func TestCredentials_TokenExpiredOnArrivalIsRefusedAndBacksOff(t *testing.T) {
	cc, ctx, requests := countingEndpoint(t, "Bearer", -60)
	clk := newClock()
	creds := tokencreds.NewWithClock(cc.TokenSource(ctx), clk.Now)
	for i := range 10 {
		md, err := creds.GetRequestMetadata(localCall())
		if status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrExpiredToken) {
			t.Fatalf("call %d: GetRequestMetadata = %v, %v; want Unauthenticated wrapping ErrExpiredToken", i+1, md, err)
		}
		if st, _ := status.FromError(err); st.Message() != tokencreds.ErrExpiredToken.Error() {
			t.Errorf("status message = %q, want ErrExpiredToken's text", st.Message())
		}
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("token endpoint asked %d times for 10 calls, want 1 (then the backoff)", n)
	}
	if _, ok := tokencreds.LastExpiry(creds); ok {
		t.Error("the expired token is kept")
	}
}

// A token whose expiry has passed is never sent, also when its margin is
// negative (oauth2.ReuseTokenSourceWithExpiry with a negative duration),
// which makes oauth2.Token.Valid report it valid past its expiry: the
// source is asked, and its token, expired, fails the call.
func TestCredentials_NegativeMarginDoesNotSendAnExpiredToken(t *testing.T) {
	// oauth2.Token.Valid reads the real clock, by which the token expired
	// an hour ago: only its margin makes Valid report it valid. The
	// credentials' clock starts two hours earlier, when the token has an
	// hour left.
	exp := time.Now().Add(-time.Hour)
	static := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at", TokenType: "Bearer", Expiry: exp})
	src := &countingSource{next: oauth2.ReuseTokenSourceWithExpiry(nil, static, -24*time.Hour)}
	clk := &clock{t: exp.Add(-time.Hour)}
	creds := tokencreds.NewWithClock(src, clk.Now)
	if md, err := creds.GetRequestMetadata(localCall()); err != nil || md["authorization"] != "Bearer at" {
		t.Fatalf("GetRequestMetadata = %v, %v", md, err)
	}
	clk.Advance(2 * time.Hour) // past the expiry; Valid, 24 h late, says valid
	md, err := creds.GetRequestMetadata(localCall())
	if md != nil || !errors.Is(err, tokencreds.ErrExpiredToken) {
		t.Fatalf("GetRequestMetadata = %v, %v; want no token and ErrExpiredToken", md, err)
	}
	if n := src.n.Load(); n != 2 {
		t.Errorf("source asked %d times, want 2", n)
	}
}
