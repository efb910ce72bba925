package tokencreds_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// dpopCall is the call's error when a DPoPTransport over base asks
// tokenURL for a token with the client secret secret.
func dpopCall(t *testing.T, base http.RoundTripper, tokenURL, secret string) error {
	t.Helper()
	signer := newSigner(t)
	hc := &http.Client{Transport: tokencreds.NewDPoPTransport(signer, base)}
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: secret, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}
	_, err := tokencreds.NewDPoP(cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc)), signer).GetRequestMetadata(localCall())
	return err
}

// A client secret that happens to be a word of the network error
// ("connect" in "dial tcp …: connect: connection refused") is redacted
// from the error's text, but the call still fails as the outage it is:
// Unavailable, the token endpoint unreachable. Before, the redacted error
// had lost its *net.OpError, and the call was Unauthenticated ("the HTTP
// client refused the token request"), which a client does not retry.
func TestDPoPTransport_SecretInTheNetworkErrorLeavesARefusedConnectionAnOutage(t *testing.T) {
	const secret = "connect"
	err := dpopCall(t, nil, closedURL(t), secret)
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "tokencreds: the token endpoint is unreachable" {
		t.Fatalf("err = %v (%v), want Unavailable: the token endpoint is unreachable", err, status.Code(err))
	}
	all := strings.Join(errorTexts(err), "\n")
	if !strings.Contains(all, "[REDACTED]") || strings.Contains(all, secret) {
		t.Errorf("the cause does not have the secret redacted:\n%s", all)
	}
}

// A timeout of the base RoundTripper whose error's text holds a secret of
// the request stays a timeout: Unavailable, the token endpoint did not
// answer in time. Before, the redacted error was no timeout to
// url.Error.Timeout, and the call was Unauthenticated.
func TestDPoPTransport_SecretInATimeoutsTextLeavesItATimeout(t *testing.T) {
	const secret = "read" // a 4-byte secret, as short as one is taken
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	})
	err := dpopCall(t, base, "https://token.example/token", secret)
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "tokencreds: the token endpoint did not answer in time" {
		t.Fatalf("err = %v (%v), want Unavailable: the token endpoint did not answer in time", err, status.Code(err))
	}
	if all := strings.Join(errorTexts(err), "\n"); !strings.Contains(all, "[REDACTED] tcp") {
		t.Errorf("the cause does not have the secret redacted:\n%s", all)
	}
}

// A proxy's refusal of the CONNECT with a status of an outage, which
// net/http reports by its status text alone ("Bad Gateway"), stays an
// outage when a secret of the request is a word of it.
func TestDPoPTransport_SecretInAProxysOutageTextLeavesItAnOutage(t *testing.T) {
	const secret = "Gateway"
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errorString(http.StatusText(http.StatusBadGateway))
	})
	err := dpopCall(t, base, "https://token.example/token", secret)
	if st := status.Convert(err); st.Code() != codes.Unavailable {
		t.Fatalf("err = %v (%v), want Unavailable", err, status.Code(err))
	}
	if all := strings.Join(errorTexts(err), "\n"); strings.Contains(all, secret) {
		t.Errorf("the cause names the secret:\n%s", all)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
