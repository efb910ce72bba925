package tokencreds_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/grpcauth/grpcauth/dpop"
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

// secretSource is a TokenSource that holds its secret by value, as a
// program's own may.
type secretSource struct{ apiKey string }

func (s secretSource) Token() (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: s.apiKey}, nil
}

// secretBase is a base RoundTripper that holds a secret by value.
type secretBase struct{ apiKey string }

func (secretBase) RoundTrip(r *http.Request) (*http.Response, error) {
	h := http.Header{}
	h.Set("DPoP-Nonce", "nonce-learned")
	return &http.Response{StatusCode: http.StatusOK, Header: h, Body: http.NoBody, Request: r}, nil
}

// TestFormat_StructHoldingCredentialsUnexportedPrintsNoState: a program's
// struct holding Credentials or a DPoPTransport in an unexported field,
// printed with a verb a pointer does not take (%s, %q), has fmt
// dereference the pointer without calling Format (it cannot call a method
// through an unexported field) and print the fields below it. That shows
// nothing but an address: not a TokenSource's or a base's secret held by
// value, nor a server's nonce, from a map read without its lock (a data
// race while requests write it). Before, it printed them all.
func TestFormat_StructHoldingCredentialsUnexportedPrintsNoState(t *testing.T) {
	signer := newSigner(t)
	tr := learnedTransport(t, signer)
	creds := tokencreds.New(secretSource{apiKey: "source-s3cret"})
	dcreds := tokencreds.NewDPoP(secretSource{apiKey: "dpop-s3cret"}, signer)
	type client struct {
		creds, dcreds *tokencreds.Credentials
		tr            *tokencreds.DPoPTransport
	}
	held := client{creds, dcreds, tr}
	for _, verb := range []string{"%s", "%q", "%v", "%+v", "%#v", "%x"} {
		for _, v := range []any{held, &held} {
			got := fmt.Sprintf(verb, v)
			for _, secret := range []string{"s3cret", "nonce-learned", "map["} {
				if strings.Contains(got, secret) {
					t.Errorf("%s of a struct holding them: %s, shows %q", verb, got, secret)
				}
			}
		}
	}
	var zero client
	if got := fmt.Sprintf("%s", zero); got != "{%!s(*tokencreds.Credentials=<nil>) %!s(*tokencreds.Credentials=<nil>) %!s(*tokencreds.DPoPTransport=<nil>)}" {
		t.Errorf("%%s of a struct holding nil ones: %s", got)
	}
}

// Credentials and a DPoPTransport held by value (a copy of *New(ts),
// which shares its state: go vet reports one, see TestVet_CopyIsReported,
// but a program may still make one), at the top, in an exported field or
// an unexported one, printed with any verb, show no more than an address:
// fmt, given a verb a pointer does not take (%s, %q, %d), prints the
// pointer it is given dereferenced, which here is the state's pointer,
// the one field of the value besides the empty noCopy. Before, that
// printed the state: a TokenSource's or a base's secret held by value,
// and the servers' nonces, from a map read without its lock (a data race,
// and a fatal "concurrent map iteration and map write" while requests
// write it). Each copy is made of a call's result (*creds()), which vet
// does not report (a call may return a zero value), as it reports a
// copy of a variable's.
func TestFormat_CredentialsAndTransportByValuePrintNoState(t *testing.T) {
	signer := newSigner(t)
	creds := func() *tokencreds.Credentials { return tokencreds.New(secretSource{apiKey: "source-s3cret"}) }
	dcreds := func() *tokencreds.Credentials {
		return tokencreds.NewDPoP(secretSource{apiKey: "dpop-s3cret"}, signer)
	}
	tr := func() *tokencreds.DPoPTransport { return learnedTransport(t, signer) }
	type exported struct {
		Creds, DCreds tokencreds.Credentials
		Tr            tokencreds.DPoPTransport
	}
	type unexported struct {
		creds, dcreds tokencreds.Credentials
		tr            tokencreds.DPoPTransport
	}
	values := []any{
		*creds(), *dcreds(), *tr(),
		exported{*creds(), *dcreds(), *tr()}, &exported{*creds(), *dcreds(), *tr()},
		unexported{*creds(), *dcreds(), *tr()}, &unexported{*creds(), *dcreds(), *tr()},
	}
	for _, verb := range []string{"%s", "%q", "%v", "%+v", "%#v", "%x", "%d"} {
		for _, v := range values {
			got := fmt.Sprintf(verb, v)
			for _, secret := range []string{"s3cret", "nonce-learned", "map["} {
				if strings.Contains(got, secret) {
					t.Errorf("%s of %T: %s, shows %q", verb, v, got, secret)
				}
			}
		}
	}
}

// learnedTransport returns a DPoPTransport signing with signer over a base
// holding a secret by value, which has learned a nonce from one request.
func learnedTransport(t *testing.T, signer *dpop.Signer) *tokencreds.DPoPTransport {
	t.Helper()
	tr := tokencreds.NewDPoPTransport(signer, secretBase{apiKey: "base-s3cret"})
	req, err := http.NewRequest(http.MethodPost, "https://as.example/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return tr
}
