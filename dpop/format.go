package dpop

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Format writes s, for every verb, as dpop.Signer{Alg: "…", Thumbprint:
// "…"}: its algorithm and its public key's thumbprint. fmt would print
// the fields, and an Ed25519 private key is a byte slice that it prints
// in full, at any depth. A *Signer prints alike, a nil one as <nil>.
// Where fmt bypasses this method (an unexported field, %p of a value,
// fmt.Errorf's %w) it prints the fields, the key sealed out of its reach.
func (s Signer) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "dpop.Signer{Alg: %q, Thumbprint: %q}", s.alg, s.thumb)
}

// Format writes n, for every verb, as dpop.HMACNonces{Period: …}: fmt
// would print the fields, the secret that makes every nonce among them.
// A *HMACNonces prints alike, a nil one as <nil>. Where fmt bypasses
// this method it prints the fields, the secret sealed out of its reach.
func (n HMACNonces) Format(f fmt.State, _ rune) {
	io.WriteString(f, "dpop.HMACNonces{Period: "+n.period.String()+"}")
}

// Format formats r as fmt formats a struct of its fields, for every verb
// and flag (%v, %+v, %#v, ...), except that AccessToken, when set, reads
// "[REDACTED]": a Request printed or logged (slog's text handler formats
// it with %+v) never shows the bearer's access token, which anyone may
// replay where no proof is required. %#v names the type dpop.Request.
// fmt cannot call this method on a Request in an unexported field of what
// it prints, or for %p of a value or fmt.Errorf's %w (both reported by go
// vet): it prints the token then.
func (r Request) Format(f fmt.State, verb rune) {
	s := fmt.Sprintf(fmt.FormatString(f, verb), r.redacted())
	if rest, ok := strings.CutPrefix(s, "dpop.request{"); ok {
		s = "dpop.Request{" + rest // %#v
	}
	io.WriteString(f, s)
}

// MarshalJSON encodes r as encoding/json encodes a struct of its fields,
// AccessToken "[REDACTED]" when set, as Format prints it: slog's JSON
// handler, at any depth, and any other JSON encoding of r never show the
// token.
func (r Request) MarshalJSON() ([]byte, error) { return json.Marshal(r.redacted()) }

// request is a Request without its methods, for Format and MarshalJSON.
type request Request

// redacted returns r with a set AccessToken replaced by "[REDACTED]".
func (r Request) redacted() request {
	if r.AccessToken != "" {
		r.AccessToken = "[REDACTED]"
	}
	return request(r)
}

// Format writes v, for every verb, as dpop.Verifier{Algorithms: [...]}:
// what never changes. fmt would print the fields, and with %s or %q it
// follows the pointer to the ReplayCache, whose entries (a
// MemoryReplayCache's) it would read without their lock while proofs add
// to them (a data race, and a crash when a map is iterated while it is
// written). A Verifier NewVerifier did not build (a zero Verifier)
// writes dpop.Verifier{not built with NewVerifier}, as the verifier and
// introspect packages' verifiers do; a nil *Verifier prints as <nil>.
func (v *Verifier) Format(f fmt.State, _ rune) {
	switch {
	case v == nil:
		io.WriteString(f, "<nil>")
	case !v.built():
		io.WriteString(f, "dpop.Verifier{not built with NewVerifier}")
	default:
		fmt.Fprintf(f, "dpop.Verifier{Algorithms: %q}", v.s.algorithms)
	}
}

// built reports whether v was made by NewVerifier, which always makes
// verifiers (one per algorithm, and Config.Algorithms is never empty
// once validated); a zero Verifier has none, and a nil one is not built.
func (v *Verifier) built() bool { return v != nil && v.verifiers != nil }

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

// sealed holds a secret (a Signer's private key, an HMACNonces' secret)
// in a closure, where fmt cannot reach it: it prints a func as its
// address, for every verb. Format covers every verb, but fmt bypasses it
// for a Signer or an HMACNonces value in an unexported field of what it
// prints, for %p of a value and for fmt.Errorf's %w (both reported by go
// vet): it then prints the fields, and an Ed25519 key or an HMAC secret
// is a byte slice it would print in full. (Behind a pointer it would
// still: fmt dereferences one it cannot print with the verb, %s or %q.)
type sealed[T any] func() T

// seal returns v sealed.
func seal[T any](v T) sealed[T] { return func() T { return v } }

// get returns the secret; the zero value of T for a nil s (a zero Signer
// or HMACNonces).
func (s sealed[T]) get() T {
	if s == nil {
		var zero T
		return zero
	}
	return s()
}
