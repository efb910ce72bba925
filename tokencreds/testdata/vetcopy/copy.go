// Package vetcopy copies a Credentials and a DPoPTransport, which go vet
// reports (TestVet_CopyIsReported runs it here).
package vetcopy

import "github.com/grpcauth/grpcauth/tokencreds"

// Copy makes a second name for c's state, and one for t's.
func Copy(c *tokencreds.Credentials, t *tokencreds.DPoPTransport) (*tokencreds.Credentials, *tokencreds.DPoPTransport) {
	c2 := *c
	t2 := *t
	return &c2, &t2
}

// ByValue takes a copy of a Credentials.
func ByValue(c tokencreds.Credentials) {}
