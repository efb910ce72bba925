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
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

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
		{"token URL whose password holds a slash", func(*testing.T) endpoint {
			// The "/" ends the authority for url.Parse, whose error
			// then quotes the password as the port that does not parse.
			return endpoint{"https://svc:" + urlSecret + "/x@idp.example/token?secret=" + querySecret, http.DefaultClient}
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
		{"proxy refusing CONNECT with 502", func(t *testing.T) endpoint {
			// An HTTPS token URL through a proxy: net/http reports the
			// proxy's refusal of the tunnel as an error holding the
			// status text alone.
			return endpoint{withSecrets("https://idp.example/token"), viaRefusingProxy(t, http.StatusBadGateway)}
		}, codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
		{"proxy refusing CONNECT with 503", func(t *testing.T) endpoint {
			return endpoint{withSecrets("https://idp.example/token"), viaRefusingProxy(t, http.StatusServiceUnavailable)}
		}, codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
		{"proxy requiring authentication", func(t *testing.T) endpoint {
			return endpoint{withSecrets("https://idp.example/token"), viaRefusingProxy(t, http.StatusProxyAuthRequired)}
		}, codes.Unauthenticated, "tokencreds: the HTTP client refused the token request"},
		{"keep-alive connection closed by the endpoint as the request goes out", func(*testing.T) endpoint {
			// The endpoint (or a load balancer's idle timeout) closes the
			// connection just as the client takes it for the token
			// request: net/http retries only an idempotent request, and
			// reports this one's failure as an error of its own.
			return endpoint{withSecrets("http://idp.example/token"), closedAsTaken()}
		}, codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
		{"connection closed during the TLS handshake", func(t *testing.T) endpoint {
			return endpoint{withSecrets("https://" + hangUpAddr(t, false) + "/token"), http.DefaultClient}
		}, codes.Unavailable, "tokencreds: the token endpoint is unreachable"},
		{"connection reset during the TLS handshake", func(t *testing.T) endpoint {
			return endpoint{withSecrets("https://" + hangUpAddr(t, true) + "/token"), http.DefaultClient}
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
			checkRequestCause(t, err, urlSecret, clientSecret)
		})
	}
}

// checkRequestCause checks that err, a call's error, has a failed token
// request's *url.Error as its cause, for a local log, and that no cause in
// its chain names any of secrets.
func checkRequestCause(t *testing.T, err error, secrets ...string) {
	t.Helper()
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("errors.As(%v, *url.Error) = false, want the cause for a local log", err)
	}
	for cause := errors.Unwrap(err); cause != nil; cause = errors.Unwrap(cause) {
		for _, secret := range secrets {
			if text := cause.Error(); strings.Contains(text, secret) {
				t.Errorf("cause %q names %q", text, secret)
			}
		}
	}
}

// viaRefusingProxy is an HTTP client that reaches every host through an
// HTTP proxy that refuses every CONNECT with code.
func viaRefusingProxy(t *testing.T, code int) *http.Client {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
	t.Cleanup(proxy.Close)
	u, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}}
}

// hangUpAddr is the address of a server that accepts connections and
// closes them at once, before any TLS handshake; with reset, with a TCP
// reset.
func hangUpAddr(t *testing.T, reset bool) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if reset {
				_ = c.(*net.TCPConn).SetLinger(0)
			}
			_ = c.Close()
		}
	}()
	return l.Addr().String()
}

// closedAsTaken is an HTTP client whose one connection is closed by its
// peer (the read gets EOF) and found closed by net/http just after the
// client took it for the request, before the request goes out: the race
// of a server's keep-alive timeout with a request, made certain.
func closedAsTaken() *http.Client {
	closed := make(chan struct{})
	conn := &eofConn{closed: closed}
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { <-closed }}
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return tr.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
	})}
}

// eofConn is a connection whose peer has closed it: reads get io.EOF, and
// writes vanish. Close closes closed.
type eofConn struct {
	closed chan struct{}
	once   sync.Once
}

func (c *eofConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *eofConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *eofConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *eofConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *eofConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 80} }
func (c *eofConn) SetDeadline(time.Time) error      { return nil }
func (c *eofConn) SetReadDeadline(time.Time) error  { return nil }
func (c *eofConn) SetWriteDeadline(time.Time) error { return nil }

// The cause of a call whose token request timed out, or whose source's own
// context was cancelled or past its deadline, is a *url.Error without the
// user info of its URL, as for every other failed token request: net/http
// masks the password ("***") but keeps the user name, and these causes are
// classified before any other *url.Error.
func TestCredentials_TimedOutOrCancelledTokenRequestCauseNamesNoUserInfo(t *testing.T) {
	const user, password = "svc-user", "url-password"
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(hung.Close)
	tokenURL := strings.Replace(hung.URL, "://", "://"+user+":"+password+"@", 1) + "/token"
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Unix(0, 0))
	t.Cleanup(cancelExpired)
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		timeout time.Duration
		code    codes.Code
	}{
		{"HTTP client timeout", context.Background(), time.Millisecond, codes.Unavailable},
		{"source's context past its deadline", expired, 0, codes.Unavailable},
		{"source's context cancelled", cancelled, 0, codes.Unauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := hung.Client()
			hc.Timeout = tc.timeout
			cc := clientcredentials.Config{ClientID: "svc", ClientSecret: clientSecret, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
			_, err := tokencreds.New(cc.TokenSource(context.WithValue(tc.ctx, oauth2.HTTPClient, hc))).GetRequestMetadata(localCall())
			if status.Code(err) != tc.code {
				t.Fatalf("err = %v, want %v", err, tc.code)
			}
			checkRequestCause(t, err, user, password)
		})
	}
}
