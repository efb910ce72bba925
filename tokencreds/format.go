package tokencreds

import (
	"fmt"
	"io"

	"github.com/grpcauth/grpcauth/dpop"
)

// Format writes c, for every verb, as tokencreds.Credentials{DPoP: …},
// with the DPoP signer (dpop.Signer's Format: its algorithm and
// thumbprint) when there is one: what never changes. Printing the fields
// instead would read the token in hand, the failure and the servers'
// nonces without their atomics and locks (a data race, and a crash when
// the nonce map is iterated while a call writes it).
func (c *Credentials) Format(f fmt.State, _ rune) {
	switch {
	case c == nil:
		io.WriteString(f, "<nil>")
	case c.credRef != nil && c.isDPoP:
		fmt.Fprintf(f, "tokencreds.Credentials{DPoP: true, Signer: %v}", c.signer)
	default:
		io.WriteString(f, "tokencreds.Credentials{DPoP: false}")
	}
}

// Format writes t, for every verb, as tokencreds.DPoPTransport{Signer:
// …}, for the same reason as Credentials' Format: its nonce map is
// written by every request.
func (t *DPoPTransport) Format(f fmt.State, _ rune) {
	var signer *dpop.Signer
	switch {
	case t == nil:
		io.WriteString(f, "<nil>")
		return
	case t.transportRef != nil:
		signer = t.signer
	}
	fmt.Fprintf(f, "tokencreds.DPoPTransport{Signer: %v}", signer)
}
