package connectauth_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcauth/grpcauth"
)

// failingResolver is a Config.Descriptors whose backend is unreachable:
// every lookup fails with an error that does not wrap
// protoregistry.NotFound.
type failingResolver struct{}

func (failingResolver) FindDescriptorByName(protoreflect.FullName) (protoreflect.Descriptor, error) {
	return nil, errors.New("registry: backend unreachable")
}

// A call refused because Config.Descriptors failed reaches a Connect
// caller as the gRPC caller gets it: CodeUnavailable with the ErrorInfo
// reason RULES_UNAVAILABLE, with or without a token, so that clients
// retry; over HTTP, a 503 (Connect's mapping of unavailable) without
// WWW-Authenticate, not a 401 or 403 that would send a browser to sign
// in again.
func TestConnect_ResolverFailureIsUnavailable(t *testing.T) {
	f := newFixture(t)
	auth, err := grpcauth.New(grpcauth.Config{Verifier: issuerVerifier(t, f.iss), Descriptors: failingResolver{},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.auth = auth
	srv := httptest.NewServer(connectMux(f)) // plaintext loopback: tokens accepted
	t.Cleanup(srv.Close)
	for _, c := range []call{
		{name: "no token", method: "AllOf", token: "none"},
		{name: "valid token", method: "AllOf", token: "valid", scopes: []string{"test:read", "test:write"}},
		{name: "valid token, public method", method: "Public", token: "valid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, authenticated := viaConnect(t, f, srv.Client(), srv.URL, nil, c)
			if o.code != codes.Unavailable || o.reason != grpcauth.ReasonRulesUnavailable || authenticated {
				t.Errorf("got %v %q, want Unavailable %s", o.code, o.reason, grpcauth.ReasonRulesUnavailable)
			}
			hdr := map[string]string{}
			if a := c.authorization(t, f); a != "" {
				hdr["Authorization"] = a
			}
			resp := postJSON(t, srv.Client(), srv.URL+"/authtest.v1.TestService/"+c.method, hdr)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("WWW-Authenticate") != "" {
				t.Errorf("HTTP %d, WWW-Authenticate %q; want 503 without a challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}
