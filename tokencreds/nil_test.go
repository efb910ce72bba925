package tokencreds_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/tokencreds"
)

// A nil *Credentials (a field never set, a constructor's nil result passed
// on) installed on the connection or given per call fails every call, unary
// or streaming, with Internal and a fixed message, before anything is
// sent, rather than panic in the caller's goroutine; its interceptors and
// RequireTransportSecurity (which grpc-go asks when dialling) work.
func TestCredentials_NilFailsEveryCallWithInternal(t *testing.T) {
	var creds *tokencreds.Credentials
	if creds.RequireTransportSecurity() {
		t.Error("RequireTransportSecurity() = true, want false")
	}
	interceptors := []grpc.DialOption{grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor()), grpc.WithStreamInterceptor(creds.StreamClientInterceptor())}
	for name, tc := range map[string]struct {
		dial []grpc.DialOption
		call []grpc.CallOption
	}{
		"on the connection": {dial: append(interceptors, grpc.WithPerRPCCredentials(creds))},
		"per call":          {dial: interceptors, call: []grpc.CallOption{grpc.PerRPCCredentials(creds)}},
	} {
		t.Run(name, func(t *testing.T) {
			conn, received := serveRecording(t, tc.dial...)
			client := authtestv1.NewTestServiceClient(conn)
			calls := map[string]func() error{
				"unary": func() error {
					_, err := client.Authenticated(t.Context(), &authtestv1.AuthenticatedRequest{}, tc.call...)
					return err
				},
				"streaming": func() error { return callClientStream(t.Context(), client, tc.call...) },
			}
			for kind, call := range calls {
				err := errorOrPanic(call)
				if st, _ := status.FromError(err); st.Code() != codes.Internal || st.Message() != "tokencreds: nil *Credentials" {
					t.Errorf("%s call: %v, want Internal: tokencreds: nil *Credentials", kind, err)
				}
			}
			if n := len(received()); n != 0 {
				t.Errorf("server got %d calls, want none", n)
			}
		})
	}
}

// A nil *DPoPTransport in the token source's HTTP client fails every
// token request, unsent, its body closed as RoundTrip's contract requires,
// rather than panic in the token source; the calls of the Credentials
// fail with Internal, as for a key that cannot sign: a program's mistake,
// not an outage.
func TestDPoPTransport_NilFailsEveryRequestUnsent(t *testing.T) {
	var requests atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	t.Cleanup(endpoint.Close)
	var tr *tokencreds.DPoPTransport

	body := &closeCounter{Reader: strings.NewReader("grant_type=client_credentials")}
	req, err := http.NewRequest(http.MethodPost, endpoint.URL+"/token", body)
	if err != nil {
		t.Fatal(err)
	}
	err = errorOrPanic(func() error {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	if err == nil || err.Error() != "tokencreds: nil *DPoPTransport" {
		t.Errorf("RoundTrip: %v, want tokencreds: nil *DPoPTransport", err)
	}
	if n := body.closed.Load(); n != 1 {
		t.Errorf("request body closed %d times, want once", n)
	}

	cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: endpoint.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader}
	ts := cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr}))
	ctx, uri := dpopCallCtx()
	_, err = tokencreds.NewDPoP(ts, newSigner(t)).GetRequestMetadata(ctx, uri)
	if st, _ := status.FromError(err); st.Code() != codes.Internal || st.Message() != "tokencreds: nil *DPoPTransport" {
		t.Errorf("call: %v, want Internal: tokencreds: nil *DPoPTransport", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("endpoint got %d requests, want none", n)
	}
}
