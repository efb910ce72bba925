package dpop

import (
	"fmt"
	"io"
)

// Format writes s, for every verb, as dpop.Signer{Alg: "…", Thumbprint:
// "…"}: its algorithm and its public key's thumbprint. fmt would print
// the fields, and an Ed25519 private key is a byte slice that it prints
// in full, at any depth. A *Signer prints alike, a nil one as <nil>.
func (s Signer) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "dpop.Signer{Alg: %q, Thumbprint: %q}", s.alg, s.thumb)
}

// Format writes n, for every verb, as dpop.HMACNonces{Period: …}: fmt
// would print the fields, the secret that makes every nonce among them.
// A *HMACNonces prints alike, a nil one as <nil>.
func (n HMACNonces) Format(f fmt.State, _ rune) {
	io.WriteString(f, "dpop.HMACNonces{Period: "+n.period.String()+"}")
}
