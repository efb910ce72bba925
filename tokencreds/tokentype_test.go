package tokencreds_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// New sends a token only as Bearer: its token_type compared without
// regard to case (RFC 6749, section 7.1), or empty. A token of any other
// type from the token endpoint ("mac", Azure's "N_A") fails the call with
// ErrUnsupportedTokenType instead of going out under a scheme the server
// refuses, a DPoP-bound one with ErrDPoPToken; neither is kept, and the
// endpoint is asked again only after the backoff.
func TestNew_TokenOfAnotherTypeThanBearerIsNotSent(t *testing.T) {
	for _, tc := range []struct {
		tokenType string
		want      string // the authorization sent; "" for none
		err       error
	}{
		{"Bearer", "Bearer at-1", nil},
		{"bearer", "Bearer at-1", nil},
		{"BEARER", "Bearer at-1", nil},
		{"", "Bearer at-1", nil},
		{"mac", "", tokencreds.ErrUnsupportedTokenType},
		{"N_A", "", tokencreds.ErrUnsupportedTokenType},
		{"Basic", "", tokencreds.ErrUnsupportedTokenType},
		{"bearer ", "", tokencreds.ErrUnsupportedTokenType},
		{strings.Repeat("x", 300), "", tokencreds.ErrUnsupportedTokenType},
		{"dpop", "", tokencreds.ErrDPoPToken},
	} {
		t.Run(fmt.Sprintf("%.20q", tc.tokenType), func(t *testing.T) {
			cc, ctx, requests := countingEndpoint(t, tc.tokenType, 300)
			creds := tokencreds.NewWithClock(cc.TokenSource(ctx), newClock().Now)
			for range 5 {
				md, err := creds.GetRequestMetadata(localCall())
				if tc.err == nil {
					if err != nil || md["authorization"] != tc.want {
						t.Fatalf("GetRequestMetadata = %v, %v; want %s", md, err, tc.want)
					}
					continue
				}
				if md != nil || status.Code(err) != codes.Unauthenticated || !errors.Is(err, tc.err) {
					t.Fatalf("GetRequestMetadata = %v, %v; want Unauthenticated wrapping %v", md, err, tc.err)
				}
				if st, _ := status.FromError(err); st.Message() != tc.err.Error() {
					t.Fatalf("status message = %q, want %q", st.Message(), tc.err.Error())
				}
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("token endpoint asked %d times for 5 calls, want 1", n)
			}
		})
	}
}

// A refresh that brings a token the credentials cannot send (of an
// unsupported type, or with an access token an authorization value cannot
// carry) does not replace the token the calls have: they send it until it
// expires.
func TestNew_RefreshToAnUnusableTokenKeepsTheBearerToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		next *oauth2.Token
		err  error
	}{
		{"mac token", &oauth2.Token{AccessToken: "mac-token", TokenType: "mac"}, tokencreds.ErrUnsupportedTokenType},
		{"newline in the access token", &oauth2.Token{AccessToken: "bad\n", TokenType: "Bearer"}, tokencreds.ErrMalformedToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.next.Expiry = time.Now().Add(time.Hour)
			src := &sequenceSource{toks: []*oauth2.Token{
				{AccessToken: "good", TokenType: "Bearer", Expiry: time.Now().Add(5 * time.Second)}, // within oauth2's margin at once
				tc.next,
			}}
			clk := newClock()
			creds := tokencreds.NewWithClock(src, clk.Now)
			if md, err := creds.GetRequestMetadata(localCall()); err != nil || md["authorization"] != "Bearer good" {
				t.Fatalf("GetRequestMetadata = %v, %v", md, err)
			}
			clk.Advance(3 * time.Second) // past its half-life: the refresh brings the unusable token
			for range 3 {
				if md, err := creds.GetRequestMetadata(localCall()); err != nil || md["authorization"] != "Bearer good" {
					t.Fatalf("GetRequestMetadata = %q, %v; want the Bearer token until it expires", md, err)
				}
				tokencreds.AwaitFetch(creds)
			}
			clk.Advance(3 * time.Second) // the Bearer token has expired, and the backoff passed
			if _, err := creds.GetRequestMetadata(localCall()); !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}
