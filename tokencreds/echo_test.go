package tokencreds_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/endpoint/echotest"
	"github.com/grpcauth/grpcauth/tokencreds"
)

// echoingTokenEndpoint is a token endpoint (or a proxy in front of one)
// that echoes every request into line (echotest.Handler), which net/http
// cannot parse and quotes in its error. proofs returns the DPoP proofs of
// the requests so far.
func echoingTokenEndpoint(t *testing.T, line echotest.Line) (tokenURL string, proofs func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	echo := echotest.Handler(line)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("DPoP"))
		mu.Unlock()
		echo.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/token", func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// errorTexts returns the text of err and of every error of its tree,
// through Unwrap() error and Unwrap() []error.
func errorTexts(err error) []string {
	if err == nil {
		return nil
	}
	texts := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		texts = append(texts, errorTexts(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, w := range u.Unwrap() {
			texts = append(texts, errorTexts(w)...)
		}
	}
	return texts
}

// A token endpoint, or a proxy, that echoes the token request into a
// status or header line net/http cannot parse, whose error quotes it,
// gets none of the request's secrets into the call's status message, its
// error's text, or the text of any error of the cause's tree, when the
// request went through a DPoPTransport: neither the client secret (in the
// form, form-encoded, or in the Basic header), nor the refresh token, nor
// the DPoP proof. Before, the cause quoted them all. The call still fails
// as a token request the HTTP client refused, with the *url.Error for a
// local log.
func TestDPoPTransport_EchoedTokenRequestLeavesNoSecretInTheCallsError(t *testing.T) {
	// "+", "/" and "=" are form-encoded in the request: both forms count.
	const secret, refresh = "SECRETmarker98+/76543210=", "REFRESHmarker01+/23456789="
	sources := map[string]func(tokenURL string, hc *http.Client) oauth2.TokenSource{
		"client secret in the Basic header": func(tokenURL string, hc *http.Client) oauth2.TokenSource {
			cc := clientcredentials.Config{ClientID: "svc", ClientSecret: secret, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
			return cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
		},
		"client secret in the form": func(tokenURL string, hc *http.Client) oauth2.TokenSource {
			cc := clientcredentials.Config{ClientID: "svc", ClientSecret: secret, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}
			return cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
		},
		"refresh token": func(tokenURL string, hc *http.Client) oauth2.TokenSource {
			cfg := oauth2.Config{ClientID: "app", ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
			return cfg.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc), &oauth2.Token{RefreshToken: refresh, Expiry: time.Unix(1, 0)})
		},
	}
	for _, line := range echotest.Lines {
		for name, source := range sources {
			t.Run(line.String()+"/"+name, func(t *testing.T) {
				tokenURL, proofs := echoingTokenEndpoint(t, line)
				signer := newSigner(t)
				hc := &http.Client{Transport: tokencreds.NewDPoPTransport(signer, nil)}
				_, err := tokencreds.NewDPoP(source(tokenURL, hc), signer).GetRequestMetadata(localCall())
				if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != "tokencreds: the HTTP client refused the token request" {
					t.Fatalf("err = %v, want Unauthenticated: the HTTP client refused the token request", err)
				}
				var ue *url.Error
				if !errors.As(err, &ue) {
					t.Errorf("errors.As(%v, *url.Error) = false, want the cause for a local log", err)
				}
				texts := append(errorTexts(err), status.Convert(err).Message())
				all := strings.Join(texts, "\n")
				if !strings.Contains(all, "malformed") || !strings.Contains(all, "[REDACTED]") {
					t.Errorf("cause does not show the echo redacted:\n%s", all)
				}
				basic := base64.StdEncoding.EncodeToString([]byte("svc:" + url.QueryEscape(secret)))
				sent := []string{secret, url.QueryEscape(secret), "SECRETmarker", basic, refresh, url.QueryEscape(refresh), "REFRESHmarker"}
				if p := proofs(); len(p) == 0 || p[0] == "" {
					t.Fatal("the token request carried no proof")
				} else {
					sent = append(sent, p...)
				}
				for _, s := range sent {
					if strings.Contains(all, s) {
						t.Errorf("an error's text names %.40q:\n%s", s, all)
					}
				}
			})
		}
	}
}

// A short parameter of the token request ("127" here) is no secret: the
// failure of a DPoPTransport's request to an endpoint that refuses the
// connection, whose address holds it, keeps its *net.OpError, and the
// call stays Unavailable (retryable) rather than becoming Unauthenticated.
func TestDPoPTransport_ShortParameterLeavesARefusedConnectionAnOutage(t *testing.T) {
	signer := newSigner(t)
	hc := &http.Client{Transport: tokencreds.NewDPoPTransport(signer, nil)}
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: closedURL(t), EndpointParams: url.Values{"ttl": {"127"}}}
	_, err := tokencreds.NewDPoP(cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc)), signer).GetRequestMetadata(localCall())
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v (%v), want Unavailable", err, status.Code(err))
	}
	if all := strings.Join(errorTexts(err), "\n"); !strings.Contains(all, "127.0.0.1") {
		t.Errorf("the cause lost the endpoint's address:\n%s", all)
	}
}

// A token endpoint that echoes the token request into a header line
// padded to 256 KiB gets no more than about endpoint.MaxErrorText bytes
// of it into the text of any error of the call's cause: each error whose
// text held a secret is clipped after the secrets are out, as the
// introspection verifier and the key set clip theirs. Before, the
// redacted cause held the whole line (up to 64 KiB redacted, more for the
// errors that wrap it), a log line as long as the server chose.
func TestDPoPTransport_LongEchoedLineIsClippedInTheCause(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		echotest.RawAnswer(w, "HTTP/1.1 200 OK\r\n"+string(b)+strings.Repeat(" padding", 32<<10)+"\r\n\r\n")
	}))
	defer srv.Close()
	signer := newSigner(t)
	hc := &http.Client{Transport: tokencreds.NewDPoPTransport(signer, nil)}
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}
	_, err := tokencreds.NewDPoP(cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc)), signer).GetRequestMetadata(localCall())
	if err == nil {
		t.Fatal("no error")
	}
	texts := errorTexts(err)
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "malformed") || !strings.Contains(all, "[REDACTED]") || strings.Contains(all, clientSecret) {
		t.Errorf("cause does not show the echo redacted:\n%.2000s", all)
	}
	for _, s := range texts {
		if len(s) > 2*endpoint.MaxErrorText {
			t.Errorf("an error's text is %d bytes, want it clipped near %d: %.200s…", len(s), endpoint.MaxErrorText, s)
		}
	}
}
