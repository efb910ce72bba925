package tokencreds_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// localCall is the context of a call on a connection to this host, where
// the credentials send a token over plaintext.
func localCall() context.Context {
	return credentials.NewContextWithRequestInfo(peerCtx(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}), credentials.RequestInfo{AuthInfo: insecureInfo()})
}

// A token request that fails for a reason no retry can fix (the HTTP
// client's redirect policy, a mistyped token URL, a TLS certificate that
// does not verify, a TLS handshake that fails) fails the call with
// Unauthenticated, which a retry policy retrying UNAVAILABLE leaves alone,
// as grpc-go's own oauth credentials fail it; only a failure of the
// network is Unavailable. net/http reports all of them as a *url.Error,
// which is a net.Error. No message carries the token URL, its user info
// or query, or the client's secret; the cause, there for a local log,
// carries no password either (url.Parse's error would repeat it).
func TestCredentials_TokenRequestMisconfigurationIsNotRetryable(t *testing.T) {
	const urlSecret, querySecret = "url-password", "query-secret"
	token := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"at","token_type":"Bearer","expires_in":300}`))
	})
	// withSecrets puts a password and a secret query parameter in u.
	withSecrets := func(u string) string {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		p.User = url.UserPassword("svc", urlSecret)
		p.RawQuery = "secret=" + querySecret
		return p.String()
	}
	type endpoint struct {
		url string
		hc  *http.Client
	}
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T) endpoint
		code  codes.Code
		msg   string
	}{
		{"redirect refused by CheckRedirect", func(t *testing.T) endpoint {
			// The Location, which the refusal's error names as it is,
			// carries a password too.
			srv := httptest.NewServer(http.RedirectHandler("http://svc:"+urlSecret+"@idp.example/elsewhere", http.StatusFound))
			t.Cleanup(srv.Close)
			hc := srv.Client()
			hc.CheckRedirect = func(*http.Request, []*http.Request) error { return errors.New("no redirects") }
			return endpoint{withSecrets(srv.URL + "/token"), hc}
		}, codes.Unauthenticated, "tokencreds: the HTTP client refused the token request"},
		{"redirect loop past net/http's limit", func(t *testing.T) endpoint {
			srv := httptest.NewServer(http.RedirectHandler("/token", http.StatusTemporaryRedirect))
			t.Cleanup(srv.Close)
			return endpoint{withSecrets(srv.URL + "/token"), srv.Client()}
		}, codes.Unauthenticated, "tokencreds: the HTTP client refused the token request"},
		{"mistyped scheme", func(t *testing.T) endpoint {
			srv := httptest.NewServer(token)
			t.Cleanup(srv.Close)
			return endpoint{withSecrets(strings.Replace(srv.URL, "http://", "htp://", 1) + "/token"), srv.Client()}
		}, codes.Unauthenticated, "tokencreds: the HTTP client refused the token request"},
		{"no host", func(*testing.T) endpoint {
			return endpoint{"http:///token?secret=" + querySecret, http.DefaultClient}
		}, codes.Unauthenticated, "tokencreds: the HTTP client refused the token request"},
		{"token URL that does not parse", func(*testing.T) endpoint {
			return endpoint{"https://svc:" + urlSecret + "@idp.example/%zz?secret=" + querySecret, http.DefaultClient}
		}, codes.Unauthenticated, "tokencreds: the token URL does not parse"},
		{"certificate of an unknown authority", func(t *testing.T) endpoint {
			srv := httptest.NewTLSServer(token)
			t.Cleanup(srv.Close)
			return endpoint{withSecrets(srv.URL + "/token"), &http.Client{Transport: &http.Transport{}}}
		}, codes.Unauthenticated, "tokencreds: the token endpoint's TLS certificate did not verify"},
		{"certificate for another name", func(t *testing.T) endpoint {
			srv := httptest.NewTLSServer(token)
			t.Cleanup(srv.Close)
			hc := srv.Client()
			hc.Transport.(*http.Transport).TLSClientConfig.ServerName = "idp.example"
			return endpoint{withSecrets(srv.URL + "/token"), hc}
		}, codes.Unauthenticated, "tokencreds: the token endpoint's TLS certificate did not verify"},
		{"https to a plaintext endpoint", func(t *testing.T) endpoint {
			srv := httptest.NewServer(token)
			t.Cleanup(srv.Close)
			return endpoint{withSecrets(strings.Replace(srv.URL, "http://", "https://", 1) + "/token"), srv.Client()}
		}, codes.Unauthenticated, "tokencreds: the TLS handshake with the token endpoint failed"},
		{"endpoint requiring a client certificate", func(t *testing.T) endpoint {
			srv := httptest.NewUnstartedServer(token)
			srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			return endpoint{withSecrets(srv.URL + "/token"), srv.Client()}
		}, codes.Unauthenticated, "tokencreds: the TLS handshake with the token endpoint failed"},
		{"DNS failure", func(*testing.T) endpoint {
			hc := &http.Client{Transport: &http.Transport{DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "idp.example", IsNotFound: true}}
			}}}
			return endpoint{withSecrets("https://idp.example/token"), hc}
		}, codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
		{"connection refused", func(t *testing.T) endpoint {
			return endpoint{withSecrets(closedURL(t)), http.DefaultClient}
		}, codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
		{"HTTP/2 stream reset by the endpoint", func(t *testing.T) endpoint {
			// A handler that aborts resets its HTTP/2 stream: net/http
			// reports that with an unexported http2 error type.
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
			srv.EnableHTTP2 = true
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			t.Cleanup(srv.Close)
			return endpoint{withSecrets(srv.URL + "/token"), srv.Client()}
		}, codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
		{"HTTP/2 connection lost mid-request", func(t *testing.T) endpoint {
			srv := httptest.NewUnstartedServer(nil)
			srv.EnableHTTP2 = true
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.Config.Handler = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				go srv.CloseClientConnections()
				<-r.Context().Done()
			})
			srv.StartTLS()
			t.Cleanup(srv.Close)
			return endpoint{withSecrets(srv.URL + "/token"), srv.Client()}
		}, codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.setup(t)
			cc := clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: e.url, AuthStyle: oauth2.AuthStyleInHeader}
			creds := tokencreds.New(cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, e.hc)))
			_, err := creds.GetRequestMetadata(localCall())
			st := status.Convert(err)
			if st.Code() != tt.code || st.Message() != tt.msg {
				t.Fatalf("err = %v (cause %v), want %v: %s", err, errors.Unwrap(err), tt.code, tt.msg)
			}
			for _, secret := range []string{urlSecret, querySecret, clientSecret} {
				if strings.Contains(err.Error(), secret) || strings.Contains(st.Message(), secret) {
					t.Errorf("err = %q carries a secret of the token request", err)
				}
			}
			for cause := errors.Unwrap(err); cause != nil; cause = errors.Unwrap(cause) {
				if text := cause.Error(); strings.Contains(text, urlSecret) || strings.Contains(text, clientSecret) {
					t.Errorf("cause %q carries a secret of the token request", text)
				}
			}
			var ue *url.Error
			if !errors.As(err, &ue) {
				t.Errorf("errors.As(%v, *url.Error) = false, want the cause for a local log", err)
			}
		})
	}
}
