package grpcauthtest_test

import (
	"fmt"
	"testing"

	"github.com/grpcauth/grpcauth/grpcauthtest"
)

// TestFormat_PrintingABusyIssuerReadsNothingThatChanges: an Issuer printed
// while keys are added shows its URL only, for every verb: fmt does not
// walk its key map, which it would read without the lock while AddKey
// writes it (a data race, run with -race), nor its clients' secrets.
func TestFormat_PrintingABusyIssuerReadsNothingThatChanges(t *testing.T) {
	iss, err := grpcauthtest.Start(grpcauthtest.Config{Clients: []grpcauthtest.Client{{ID: "svc", Secret: "client-s3cret"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	const n = 4
	done := make(chan error, n)
	for range n {
		go func() {
			_, err := iss.AddKey("ES256")
			done <- err
		}()
	}
	want := fmt.Sprintf("grpcauthtest.Issuer{URL: %q}", iss.URL())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d"} {
		if got := fmt.Sprintf(verb, iss); got != want {
			t.Errorf("Issuer with %s: %s, want %s", verb, got, want)
		}
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	var nilIss *grpcauthtest.Issuer
	if got := fmt.Sprint(nilIss); got != "<nil>" {
		t.Errorf("nil Issuer: %s, want <nil>", got)
	}
}

// TestFormat_DPoPKeyShowsItsAlgorithmAndThumbprintOnly: a DPoPKey, or a
// pointer to one, printed with any verb shows its algorithm and
// thumbprint, never its fields: an Ed25519 private key is a byte slice
// fmt would print in full.
func TestFormat_DPoPKeyShowsItsAlgorithmAndThumbprintOnly(t *testing.T) {
	k, err := grpcauthtest.NewDPoPKeyWithAlgorithm("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("grpcauthtest.DPoPKey{Alg: %q, Thumbprint: %q}", "EdDSA", k.Thumbprint())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		for _, val := range []any{k, *k} {
			if got := fmt.Sprintf(verb, val); got != want {
				t.Errorf("%T with %s: %s, want %s", val, verb, got, want)
			}
		}
	}
	if got := fmt.Sprint([]*grpcauthtest.DPoPKey{k}); got != "["+want+"]" {
		t.Errorf("[]*DPoPKey: %s, want [%s]", got, want)
	}
	var nilK *grpcauthtest.DPoPKey
	if got := fmt.Sprint(nilK); got != "<nil>" {
		t.Errorf("nil DPoPKey: %s, want <nil>", got)
	}
}
