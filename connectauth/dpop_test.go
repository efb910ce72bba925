package connectauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/connectauth"
	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

// TestConnect_DPoPRefusalCarriesTheChallenge checks that a DPoP refusal
// reaches a connect-go caller, in every protocol, with its reason, and in
// the Connect and gRPC-Web protocols with the WWW-Authenticate challenge
// that the grpc-go interceptors send as a trailer: the DPoP scheme without
// a proof. In the gRPC protocol connect-go sends an error's metadata as
// HTTP/2 trailers, where RFC 9110 forbids authentication fields and Go's
// net/http drops them, so the Interceptor leaves the challenge out (see
// TestConnect_GRPCRefusalWritesNothingToTheServerLog); the reason still
// arrives.
func TestConnect_DPoPRefusalCarriesTheChallenge(t *testing.T) {
	f := newFixture(t)
	srv := serveTLS(t, connectMux(f))
	tok := f.token(t, "test:read", "test:write")
	for pname, opts := range protocols {
		t.Run(pname, func(t *testing.T) {
			req := connect.NewRequest(&authtestv1.AllOfRequest{})
			req.Header().Set("Authorization", "DPoP "+tok)
			_, err := connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf", opts...).CallUnary(t.Context(), req)
			if got := connectOutcome(err); got != (outcome{codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid}) {
				t.Fatalf("got %v %q, want Unauthenticated %q", got.code, got.reason, grpcauth.ReasonDPoPProofInvalid)
			}
			if pname == "grpc" {
				return
			}
			var ce *connect.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%v is not a connect error", err)
			}
			challenge := ce.Meta().Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "DPoP ") || !strings.Contains(challenge, `error="invalid_dpop_proof"`) {
				t.Fatalf("WWW-Authenticate = %q, want a DPoP invalid_dpop_proof challenge", challenge)
			}
		})
	}
}

// A DPoP proof is checked against the request the client made, as RFC 9449
// has it: a Connect GET needs htm GET, and htu is the path the client sent,
// seen by WrapHandler before any http.StripPrefix inside it, not the
// procedure's path.
func TestConnect_DPoPProofNamesTheRequestTheClientMade(t *testing.T) {
	auth, key, tok := dpopFixture(t, dpop.Config{})
	const procedure = "/authtest.v1.TestService/AllOf"
	handler := connect.NewUnaryHandler(procedure,
		func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			return connect.NewResponse(&authtestv1.AllOfResponse{}), nil
		},
		connect.WithSchema(method("TestService", "AllOf")), connect.WithIdempotency(connect.IdempotencyNoSideEffects),
		connect.WithInterceptors(connectauth.NewInterceptor(auth)))
	mux := http.NewServeMux()
	mux.Handle(procedure, handler)
	mux.Handle("/api/", http.StripPrefix("/api", handler))
	srv := serveTLS(t, connectauth.WrapHandler(mux))

	for _, tc := range []struct {
		name       string
		get        bool   // a Connect GET, not a POST
		path       string // the path the client requests
		htm, htuAt string // the proof's method and the path of its htu
		want       outcome
	}{
		{"POST, proof for POST", false, procedure, "POST", procedure, outcome{codes.OK, ""}},
		{"GET, proof for GET", true, procedure, "GET", procedure, outcome{codes.OK, ""}},
		// RFC 9449 §4.3: htu is compared without its query, so a GET's
		// message (in its query) is not part of what the proof names.
		{"GET, proof whose htu has a query", true, procedure, "GET", procedure + "?connect=v1&encoding=proto&message=other", outcome{codes.OK, ""}},
		{"GET, proof for another path with this query", true, procedure, "GET", "/authtest.v1.TestService/Public?connect=v1", outcome{codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid}},
		{"GET, proof for POST", true, procedure, "POST", procedure, outcome{codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid}},
		{"POST, proof for GET", false, procedure, "GET", procedure, outcome{codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid}},
		{"prefixed path, proof for it", false, "/api" + procedure, "POST", "/api" + procedure, outcome{codes.OK, ""}},
		{"prefixed path, proof for the procedure", false, "/api" + procedure, "POST", procedure, outcome{codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := key.ProofWith(grpcauthtest.ProofOptions{Method: tc.htm, URL: srv.URL + tc.htuAt, AccessToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			opts := []connect.ClientOption{connect.WithIdempotency(connect.IdempotencyNoSideEffects)}
			if tc.get {
				opts = append(opts, connect.WithHTTPGet())
			}
			req := connect.NewRequest(&authtestv1.AllOfRequest{})
			req.Header().Set("Authorization", "DPoP "+tok)
			req.Header().Set("DPoP", p)
			_, err = connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+tc.path, opts...).CallUnary(t.Context(), req)
			if got := connectOutcome(err); got != tc.want {
				t.Fatalf("got %v %q (%v), want %v %q", got.code, got.reason, err, tc.want.code, tc.want.reason)
			}
			if tc.get && req.HTTPMethod() != http.MethodGet {
				t.Fatalf("the client sent %s, want GET", req.HTTPMethod())
			}
		})
	}
}

// Without WrapHandler the interceptor does not know the host the client
// called (connect-go passes on neither the request's Host nor its
// :authority), so a proof for the request's own URL is refused; one whose
// htu names a Config.DPoP.Origins origin, the method POST and the
// procedure's path is accepted.
func TestConnect_WithoutWrapHandlerDPoPNeedsAConfiguredOrigin(t *testing.T) {
	const origin = "https://api.example.com"
	auth, key, tok := dpopFixture(t, dpop.Config{Origins: []string{origin}})
	const procedure = "/authtest.v1.TestService/AllOf"
	srv := httptest.NewServer(connect.NewUnaryHandler(procedure,
		func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			return connect.NewResponse(&authtestv1.AllOfResponse{}), nil
		},
		connect.WithSchema(method("TestService", "AllOf")),
		connect.WithInterceptors(connectauth.NewInterceptor(auth)))) // no WrapHandler
	t.Cleanup(srv.Close)
	for htu, want := range map[string]outcome{
		srv.URL + procedure: {codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid},
		origin + procedure:  {codes.OK, ""},
	} {
		err := callAllOfWithProof(t, srv, key, tok, htu, nil)
		if got := connectOutcome(err); got != want {
			t.Errorf("htu %s: got %v %q, want %v %q", htu, got.code, got.reason, want.code, want.reason)
		}
	}
}

// With Config.DPoP.OnlyOrigins, a proof is accepted only for the listed
// origins: one whose htu names a look-alike host, which strings.ToLower
// would fold into a listed one ("İ", U+0130, into "i"), is another
// origin, and refused.
func TestConnect_DPoPProofForALookAlikeHostIsRefused(t *testing.T) {
	auth, key, tok := dpopFixture(t, dpop.Config{Origins: []string{"https://items.example"}, OnlyOrigins: true})
	const procedure = "/authtest.v1.TestService/AllOf"
	srv := serveTLS(t, connectauth.WrapHandler(connect.NewUnaryHandler(procedure,
		func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			return connect.NewResponse(&authtestv1.AllOfResponse{}), nil
		},
		connect.WithSchema(method("TestService", "AllOf")),
		connect.WithInterceptors(connectauth.NewInterceptor(auth)))))
	for htu, want := range map[string]outcome{
		"https://items.example" + procedure:      {codes.OK, ""},
		"https://\u0130tems.example" + procedure: {codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid},
	} {
		err := callAllOfWithProof(t, srv, key, tok, htu, nil)
		if got := connectOutcome(err); got != want {
			t.Errorf("htu %q: got %v %q, want %v %q", htu, got.code, got.reason, want.code, want.reason)
		}
	}
}

// callAllOfWithProof calls AllOf at srv over the Connect protocol with the
// DPoP-bound token tok, a proof by key for POST and htu, and the further
// request headers hdr.
func callAllOfWithProof(t *testing.T, srv *httptest.Server, key *grpcauthtest.DPoPKey, tok, htu string, hdr map[string]string) error {
	t.Helper()
	p, err := key.ProofWith(grpcauthtest.ProofOptions{Method: http.MethodPost, URL: htu, AccessToken: tok})
	if err != nil {
		t.Fatal(err)
	}
	req := connect.NewRequest(&authtestv1.AllOfRequest{})
	req.Header().Set("Authorization", "DPoP "+tok)
	req.Header().Set("DPoP", p)
	for k, v := range hdr {
		req.Header().Set(k, v)
	}
	_, err = connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](srv.Client(), srv.URL+"/authtest.v1.TestService/AllOf").CallUnary(t.Context(), req)
	return err
}

// A DPoP proof is checked against the URL of the request as the server
// received it: the connection's scheme and the request's own host. The
// headers a proxy adds (X-Forwarded-Host, X-Forwarded-Proto, Forwarded),
// which any client can send itself, change neither, so a proof made for
// another origin is refused however the request claims to have been
// forwarded, and one for this server's URL is accepted whatever they say.
// A server behind a proxy lists its public origins in Config.DPoP.Origins.
func TestConnect_DPoPProofIsNotCheckedAgainstForwardedHeaders(t *testing.T) {
	auth, key, tok := dpopFixture(t, dpop.Config{})
	const procedure = "/authtest.v1.TestService/AllOf"
	srv := httptest.NewServer(connectauth.WrapHandler(connect.NewUnaryHandler(procedure,
		func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			return connect.NewResponse(&authtestv1.AllOfResponse{}), nil
		},
		connect.WithSchema(method("TestService", "AllOf")),
		connect.WithInterceptors(connectauth.NewInterceptor(auth))))) // plaintext on loopback: local
	t.Cleanup(srv.Close)
	forwarded := map[string]string{
		"X-Forwarded-Host":  "public.example",
		"X-Forwarded-Proto": "https",
		"Forwarded":         "host=public.example;proto=https",
	}
	for htu, want := range map[string]outcome{
		"https://public.example" + procedure:                       {codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid},
		"http://public.example" + procedure:                        {codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid},
		strings.Replace(srv.URL, "http:", "https:", 1) + procedure: {codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid},
		srv.URL + procedure:                                        {codes.OK, ""},
	} {
		err := callAllOfWithProof(t, srv, key, tok, htu, forwarded)
		if got := connectOutcome(err); got != want {
			t.Errorf("htu %s: got %v %q, want %v %q", htu, got.code, got.reason, want.code, want.reason)
		}
	}
}

// The proof's htu is compared with the path exactly as the client sent it:
// "%2F" is no separator. Go's url.URL.EscapedPath re-escapes a path that
// holds a byte it would escape ('|'), which turns "%2F" into "/"; a proof
// for one of these paths must not be accepted at the other.
func TestConnect_DPoPProofTellsAnEscapedSlashFromASeparator(t *testing.T) {
	auth, key, tok := dpopFixture(t, dpop.Config{})
	handler := connect.NewUnaryHandler("/authtest.v1.TestService/AllOf",
		func(context.Context, *connect.Request[authtestv1.AllOfRequest]) (*connect.Response[authtestv1.AllOfResponse], error) {
			return connect.NewResponse(&authtestv1.AllOfResponse{}), nil
		},
		connect.WithSchema(method("TestService", "AllOf")),
		connect.WithInterceptors(connectauth.NewInterceptor(auth)))
	mux := http.NewServeMux()
	mux.Handle("/files/", handler) // a REST-style path mapped to the procedure, as vanguard does
	srv := serveTLS(t, connectauth.WrapHandler(mux))
	const encoded, separated = "/files/a%2Fb|c", "/files/a/b|c"
	for _, tc := range []struct {
		name, path, htuAt string
		want              outcome
	}{
		{"escaped slash, proof for it", encoded, encoded, outcome{codes.OK, ""}},
		{"separator, proof for it", separated, separated, outcome{codes.OK, ""}},
		{"escaped slash, proof for the separator", encoded, separated, outcome{codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid}},
		{"separator, proof for the escaped slash", separated, encoded, outcome{codes.Unauthenticated, grpcauth.ReasonDPoPProofInvalid}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := key.ProofWith(grpcauthtest.ProofOptions{Method: http.MethodPost, URL: srv.URL + tc.htuAt, AccessToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			// Opaque sends the path as written: the client's own
			// EscapedPath would re-escape it as the server's did.
			hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r = r.Clone(r.Context())
				r.URL.Opaque = tc.path
				return srv.Client().Transport.RoundTrip(r)
			})}
			req := connect.NewRequest(&authtestv1.AllOfRequest{})
			req.Header().Set("Authorization", "DPoP "+tok)
			req.Header().Set("DPoP", p)
			_, err = connect.NewClient[authtestv1.AllOfRequest, authtestv1.AllOfResponse](hc, srv.URL+"/files/x").CallUnary(t.Context(), req)
			if got := connectOutcome(err); got != tc.want {
				t.Fatalf("got %v %q (%v), want %v %q", got.code, got.reason, err, tc.want.code, tc.want.reason)
			}
		})
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
