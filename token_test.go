package grpcauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/grpcauth/grpcauth/verifier"
)

// rawCall is a gRPC unary call to method at addr (plaintext HTTP/2) with
// an empty request message and the request metadata md, sent by hand:
// grpc-go's client refuses metadata values outside printable ASCII (a
// tab, a byte over 0x7e), which other clients send and grpc-go's server
// hands on. It returns the call's status and its www-authenticate
// trailer.
func rawCall(t *testing.T, addr, method string, md http.Header) (error, []string) {
	t.Helper()
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequestWithContext(bounded(t), http.MethodPost, "http://"+addr+method, bytes.NewReader(make([]byte, 5)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = md.Clone()
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	// A refusal before any message is a trailers-only response: its
	// status and trailers come as the response's headers.
	fields := resp.Trailer
	if fields.Get("Grpc-Status") == "" {
		fields = resp.Header
	}
	code, err := strconv.Atoi(fields.Get("Grpc-Status"))
	if err != nil {
		t.Fatalf("grpc-status %q: %v", fields.Get("Grpc-Status"), err)
	}
	if code == int(codes.OK) {
		return nil, fields.Values("Www-Authenticate")
	}
	st := status.New(codes.Code(code), fields.Get("Grpc-Message"))
	if d := fields.Get("Grpc-Status-Details-Bin"); d != "" {
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d, "="))
		if err != nil {
			t.Fatal(err)
		}
		var p spb.Status
		if err := proto.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		st = status.FromProto(&p)
	}
	return st.Err(), fields.Values("Www-Authenticate")
}

// Every shape of authorization value gets the answer of what it is: one
// value that is an auth-scheme (an RFC 9110 token, ended by a space) of
// Bearer or DPoP in any case, then the token after any number of spaces,
// is a token to verify; a value that does not start with a scheme so
// ended (an empty one, a leading space, a tab after the scheme, a scheme
// outside ASCII) is malformed, invalid_request, not another scheme (which
// would offer both schemes, bare, to a client that sent Bearer), and so is
// a value without credentials after its scheme (no space, or only spaces
// and tabs after it: "Basic ", "Bearer \t" and "DPoP\t" answer as "Basic",
// "Bearer" and "DPoP", which HTTP/1.1 makes of them), a bare token whatever
// its characters; a DPoP
// scheme without a token, or two values both in the DPoP scheme, is
// malformed in the DPoP scheme, the one the call used. The token is passed on as is: one with spaces, commas,
// characters outside ASCII or over the verifier's size is the verifier's
// invalid_token. Sent raw over HTTP/2, as grpc-go's client cannot send a
// tab or a byte over 0x7e.
func TestToken_AuthorizationValueShapes(t *testing.T) {
	d := newDPoPEnv(t)
	tok := d.scoped(t, "test:read", "test:write")
	const (
		algs         = `algs="ES256 EdDSA Ed25519"`
		malformed    = `error="invalid_request", error_description="malformed authorization metadata"`
		invalidToken = `Bearer error="invalid_token", error_description="invalid access token"`
	)
	both := []string{"Bearer", "DPoP " + algs}
	for _, tt := range []struct {
		name   string
		auth   []string // authorization values
		dpop   []string // dpop values
		code   codes.Code
		reason string
		want   []string // www-authenticate
	}{
		{"Bearer", []string{"Bearer " + tok}, nil, codes.OK, "", nil},
		{"lower case, spaces after the scheme", []string{"bearer   " + tok}, nil, codes.OK, "", nil},
		{"upper case", []string{"BEARER " + tok}, nil, codes.OK, "", nil},
		{"two values", []string{"Bearer " + tok, "Bearer " + tok}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"Bearer without a token", []string{"Bearer"}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"Bearer and spaces", []string{"Bearer   "}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"tab after the scheme", []string{"Bearer\t" + tok}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"space before the scheme", []string{" Bearer " + tok}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"scheme outside ASCII", []string{"Bearér " + tok}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"scheme with a comma", []string{"Bearer, " + tok}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"DPoP without a token", []string{"DPoP"}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"DPoP " + malformed + ", " + algs}},
		{"DPoP, spaces, no token", []string{"dpop  "}, []string{"x"}, codes.Unauthenticated, ReasonTokenInvalid, []string{"DPoP " + malformed + ", " + algs}},
		{"another scheme", []string{"Basic dXNlcjpwYXNz"}, nil, codes.Unauthenticated, ReasonTokenTypeUnsupported, both},
		{"Bearer with no space", []string{"Bearer" + tok}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"bare token", []string{tok}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"bare token with = and /", []string{"dXNl/cjpw+YXNz=="}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"another scheme without credentials", []string{"Basic"}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"another scheme and spaces, no credentials", []string{"Basic  "}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"bare token and a space", []string{tok + " "}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"Bearer, a space and a tab", []string{"Bearer \t"}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"another scheme, a space and a tab", []string{"Basic \t "}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"DPoP, a space and a tab", []string{"DPoP \t"}, []string{"x"}, codes.Unauthenticated, ReasonTokenInvalid, []string{"DPoP " + malformed + ", " + algs}},
		{"DPoP and a tab", []string{"DPoP\t"}, []string{"x"}, codes.Unauthenticated, ReasonTokenInvalid, []string{"DPoP " + malformed + ", " + algs}},
		{"two values, DPoP and a tab", []string{"DPoP\t", "DPoP " + d.bound}, []string{"x"}, codes.Unauthenticated, ReasonTokenInvalid, []string{"DPoP " + malformed + ", " + algs}},
		{"two DPoP values", []string{"DPoP " + d.bound, "dpop " + d.bound}, []string{"x"}, codes.Unauthenticated, ReasonTokenInvalid, []string{"DPoP " + malformed + ", " + algs}},
		{"a DPoP and a Bearer value", []string{"DPoP " + d.bound, "Bearer " + tok}, []string{"x"}, codes.Unauthenticated, ReasonTokenInvalid, []string{"Bearer " + malformed}},
		{"token and a trailing space", []string{"Bearer " + tok + " "}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{invalidToken}},
		{"token with a space inside", []string{"Bearer " + tok[:10] + " " + tok[10:]}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{invalidToken}},
		{"token with a tab", []string{"Bearer " + tok + "\t"}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{invalidToken}},
		{"token, comma, another", []string{"Bearer " + tok + ", Bearer " + tok}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{invalidToken}},
		{"token outside ASCII", []string{"Bearer " + tok + "é"}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{invalidToken}},
		{"token over the verifier's size", []string{"Bearer " + tok + strings.Repeat("A", 70<<10)}, nil, codes.Unauthenticated, ReasonTokenInvalid, []string{invalidToken}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			md := http.Header{"Authorization": tt.auth}
			if tt.dpop != nil {
				md["Dpop"] = tt.dpop
			}
			err, got := rawCall(t, d.addr, mAllOf, md)
			checkStatus(t, err, tt.code, tt.reason)
			if !slices.Equal(got, tt.want) {
				t.Errorf("www-authenticate = %q, want %q", got, tt.want)
			}
		})
	}
}

// A DPoP call refused before its token is judged, for a transport that may
// not carry credentials, is challenged in the DPoP scheme it used, also
// when its proof is missing: a refusal is in the scheme of the call.
func TestToken_DPoPCallOnAnInsecureTransportIsChallengedInDPoP(t *testing.T) {
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) { c.TransportSecurity = TransportSecureOnly })
	const want = `DPoP error="invalid_request", error_description="credentials require a secure transport", algs="ES256 EdDSA Ed25519"`
	for _, tt := range []struct {
		name string
		md   http.Header
	}{
		{"with a proof", http.Header{"Authorization": {"DPoP " + d.bound}, "Dpop": {"x"}}},
		{"without a proof", http.Header{"Authorization": {"DPoP " + d.bound}}},
		{"without a token", http.Header{"Authorization": {"DPoP"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err, got := rawCall(t, d.addr, mAllOf, tt.md)
			checkStatus(t, err, codes.Unauthenticated, ReasonTransportInsecure)
			if !slices.Equal(got, []string{want}) {
				t.Errorf("www-authenticate = %q, want %q", got, want)
			}
		})
	}
}
