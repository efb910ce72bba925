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

// Format writes c, for every verb, as dpop.MemoryReplayCache{MaxEntries:
// …}: what never changes. Printing the fields instead would read the
// entries without their lock while proofs add to them (a data race, and a
// crash when a map is iterated while it is written).
func (c *MemoryReplayCache) Format(f fmt.State, _ rune) {
	if c == nil {
		io.WriteString(f, "<nil>")
		return
	}
	fmt.Fprintf(f, "dpop.MemoryReplayCache{MaxEntries: %d}", c.max)
}
