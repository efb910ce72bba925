package tokencreds_test

import (
	"fmt"
	"net/http"
	"testing"

	"golang.org/x/oauth2"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// TestFormat_PrintingABusyTransportReadsNothingThatChanges: a DPoPTransport,
// or DPoP Credentials, printed while requests teach it servers' nonces
// shows its signer only. fmt does not walk the nonce map, which it would
// iterate without its lock while a request writes it: a data race (run
// with -race), and a crash ("concurrent map iteration and map write") in a
// busy process.
func TestFormat_PrintingABusyTransportReadsNothingThatChanges(t *testing.T) {
	signer := newSigner(t)
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{}
		h.Set("DPoP-Nonce", "n-"+r.URL.Host)
		return &http.Response{StatusCode: http.StatusOK, Header: h, Body: http.NoBody, Request: r}, nil
	})
	tr := tokencreds.NewDPoPTransport(signer, base)
	creds := tokencreds.NewDPoP(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at", TokenType: "DPoP"}), signer)
	const n = 8
	done := make(chan error, n)
	for i := range n {
		go func() {
			req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("https://as%d.example/token", i), nil)
			if err == nil {
				var resp *http.Response
				if resp, err = tr.RoundTrip(req); err == nil {
					resp.Body.Close()
				}
			}
			done <- err
		}()
	}
	wantT := fmt.Sprintf("tokencreds.DPoPTransport{Signer: %v}", signer)
	wantC := fmt.Sprintf("tokencreds.Credentials{DPoP: true, Signer: %v}", signer)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d"} {
		if got := fmt.Sprintf(verb, tr); got != wantT {
			t.Errorf("DPoPTransport with %s: %s, want %s", verb, got, wantT)
		}
		if got := fmt.Sprintf(verb, creds); got != wantC {
			t.Errorf("Credentials with %s: %s, want %s", verb, got, wantC)
		}
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(tokencreds.New(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at"}))); got != "tokencreds.Credentials{DPoP: false}" {
		t.Errorf("bearer Credentials print as %s", got)
	}
	var nilT *tokencreds.DPoPTransport
	var nilC *tokencreds.Credentials
	if got := fmt.Sprintf("%v %v", nilT, nilC); got != "<nil> <nil>" {
		t.Errorf("nil DPoPTransport and Credentials: %s, want <nil> <nil>", got)
	}
}
