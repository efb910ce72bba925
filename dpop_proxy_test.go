package grpcauth

import (
	"cmp"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// Behind a reverse proxy that serves the API under a path prefix and
// strips it before forwarding (here http.StripPrefix("/prefix") in front
// of grpc.Server.ServeHTTP), the client requests and signs
// /prefix/authtest.v1.TestService/Inherited while the server sees
// /authtest.v1.TestService/Inherited. No Config makes that proof
// acceptable: Config.DPoP.Origins takes origins only (New refuses one
// with a path), so the call is refused, DPOP_PROOF_INVALID, with the
// server's own origin or a configured public one: the setup fails
// closed (a proof for the path the server sees is accepted: the path
// alone is what differs). The setup docs/dpop.md recommends, a proxy rule (here a mux
// pattern) for the service's own path, "/authtest.v1.TestService/",
// which strips nothing, has the proof for the path the client requested
// accepted, at either origin.
func TestServeHTTP_DPoPBehindAPathStrippingProxyFailsClosed(t *testing.T) {
	const public = "https://api.example.com"
	if _, err := dpop.NewVerifier(dpop.Config{Origins: []string{public + "/prefix"}}); err == nil {
		t.Fatal("dpop.NewVerifier accepted an origin with a path prefix")
	}
	stripping := func(h http.Handler) http.Handler { return http.StripPrefix("/prefix", h) }
	byService := func(h http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/authtest.v1.TestService/", h)
		return mux
	}
	for _, tc := range []struct {
		name        string
		front       func(http.Handler) http.Handler
		path        string // the client's request path
		htuOrigin   string // "" for the server's own
		htuPath     string // "" for path
		code        codes.Code
		wantInvalid bool
	}{
		{"stripped prefix, own origin", stripping, "/prefix" + mInherited, "", "", codes.Unauthenticated, true},
		{"stripped prefix, public origin", stripping, "/prefix" + mInherited, public, "", codes.Unauthenticated, true},
		{"stripped prefix, proof for the path the server sees", stripping, "/prefix" + mInherited, "", mInherited, codes.OK, false},
		{"routed by service, own origin", byService, mInherited, "", "", codes.OK, false},
		{"routed by service, public origin", byService, mInherited, public, "", codes.OK, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.DPoP.Origins = []string{public} })
			_, errLog, url := serveHTTPBehind(t, d.env, true, tc.front)
			conn := dial(t, strings.TrimPrefix(url, "http://"), insecure.NewCredentials())
			origin := url
			if tc.htuOrigin != "" {
				origin = tc.htuOrigin
			}
			htu := origin + cmp.Or(tc.htuPath, tc.path)
			p := d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{URL: htu})
			err := conn.Invoke(dpopCtx(bounded(t), "DPoP "+d.bound, p), tc.path, &authtestv1.InheritedRequest{}, &authtestv1.InheritedResponse{})
			if status.Code(err) != tc.code || tc.wantInvalid && errorInfo(err).GetReason() != ReasonDPoPProofInvalid {
				t.Errorf("request path %s, htu %s: %v, want %v", tc.path, htu, err, tc.code)
			}
			errLog.check(t, tc.name)
		})
	}
}
