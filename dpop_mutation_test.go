package grpcauth

// Tests written after a hand-run mutation test of dpop.go: each holds a
// check that could be changed without any other test of the package
// failing.

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// dpopAdapterContext is adapterContext with a DPoP token and proof, and
// the pseudo-headers kv (":authority", ":method", ":path", possibly
// repeated) an adapter such as connectauth sets.
func dpopAdapterContext(ctx context.Context, tok, proof string, kv ...string) context.Context {
	md := metadata.Pairs(append([]string{"authorization", "DPoP " + tok, MetadataDPoP, proof}, kv...)...)
	ctx = metadata.NewIncomingContext(ctx, md)
	return peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}})
}

// ServeCall's adapters pass the request line the client sent as ":method"
// and ":path" (a Connect GET, a REST route): the proof's htm and htu must
// name those, not POST and the procedure. A pseudo-header given twice is
// not trusted: the default (POST, the procedure) is used.
func TestDPoP_ServeCallChecksTheProofAgainstTheAdaptersMethodAndPath(t *testing.T) {
	d := newDPoPEnv(t)
	const authority = "api.example.com"
	serve := func(context.Context, *Guard) error { return nil }
	call := func(htm, htuPath string, kv ...string) error {
		proof := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{Method: htm, URL: "http://" + authority + htuPath})
		ctx := dpopAdapterContext(t.Context(), d.bound, proof, append([]string{":authority", authority}, kv...)...)
		return d.auth.ServeCall(ctx, mInherited, false, &authtestv1.InheritedRequest{}, serve)
	}
	rest := []string{":method", "GET", ":path", "/v1/inherited"}
	checkStatus(t, call("GET", "/v1/inherited", rest...), codes.OK, "")
	checkStatus(t, call("POST", "/v1/inherited", rest...), codes.Unauthenticated, ReasonDPoPProofInvalid)
	checkStatus(t, call("GET", mInherited, rest...), codes.Unauthenticated, ReasonDPoPProofInvalid)
	// Two :path values (or two :method values): neither is taken.
	twice := []string{":path", "/v1/inherited", ":path", "/v1/other", ":method", "GET", ":method", "PUT"}
	checkStatus(t, call("POST", mInherited, twice...), codes.OK, "")
	checkStatus(t, call("GET", "/v1/inherited", twice...), codes.Unauthenticated, ReasonDPoPProofInvalid)
}

// cancelingStore is a ReplayCache that ends the call (cancel) while it is
// consulted, and answers with the context's error, as a shared store's
// client does.
type cancelingStore struct{ cancel func() }

func (s *cancelingStore) AddIfAbsent(ctx context.Context, _ string, _ time.Time) (bool, error) {
	s.cancel()
	<-ctx.Done()
	return false, ctx.Err()
}

// A call that ends while its proof's replay check waits on a shared store
// is refused as canceled (the caller left), not as an invalid proof or an
// unavailable store.
func TestDPoP_CallCanceledDuringTheReplayCheckIsCanceled(t *testing.T) {
	store := &cancelingStore{}
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.DPoP.ReplayCache = store })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	store.cancel = cancel
	proof := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{URL: "http://api.example.com" + mInherited})
	served := false
	err := d.auth.ServeCall(dpopAdapterContext(ctx, d.bound, proof, ":authority", "api.example.com"), mInherited, false, &authtestv1.InheritedRequest{}, func(context.Context, *Guard) error {
		served = true
		return nil
	})
	if served || status.Code(err) != codes.Canceled {
		t.Errorf("ServeCall = %v (served %v), want codes.Canceled and not served", err, served)
	}
}
