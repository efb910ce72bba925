package grpcauthtest

import (
	"fmt"
	"io"
)

// Format writes i, for every verb, as grpcauthtest.Issuer{URL: "…"}: its
// URL, which never changes. Printing the fields instead would walk its
// keys and the introspection endpoint's tokens without their locks while
// it serves or rotates keys (a data race under -race, and a crash when a
// map is iterated while written), and show its clients' secrets.
func (i *Issuer) Format(f fmt.State, _ rune) {
	if i == nil {
		io.WriteString(f, "<nil>")
		return
	}
	fmt.Fprintf(f, "grpcauthtest.Issuer{URL: %q}", i.url)
}

// Format writes k, for every verb, as grpcauthtest.DPoPKey{Alg: "…",
// Thumbprint: "…"}: fmt would print the fields, and an Ed25519 private
// key is a byte slice it prints in full. A nil *DPoPKey prints as <nil>.
func (k DPoPKey) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "grpcauthtest.DPoPKey{Alg: %q, Thumbprint: %q}", k.alg.String(), k.thumb)
}
