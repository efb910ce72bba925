package tokencreds_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/tokencreds"
)

// A token endpoint that answers 307 or 308 makes net/http send the POST
// again, body and all, to the Location: with client_secret_post the body
// holds the client's secret (or a client assertion, a refresh token, an
// authorization code). The transport sees every hop, and refuses one that
// leaves the first request's origin, before it is signed or sent: the
// other server gets nothing, and the call fails with Unauthenticated,
// which a retry policy does not retry.
func TestDPoPTransport_RedirectToAnotherOriginDoesNotGetTheSecret(t *testing.T) {
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var mu sync.Mutex
			var got []string // the bodies the other origin received
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, string(body))
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"access_token":"at","token_type":"DPoP","expires_in":3600}`)
			}))
			t.Cleanup(other.Close)
			endpoint := httptest.NewServer(http.RedirectHandler(other.URL+"/token", code))
			t.Cleanup(endpoint.Close)

			cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: endpoint.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}
			hc := &http.Client{Transport: tokencreds.NewDPoPTransport(newSigner(t), nil)}
			ts := cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
			ctx, uri := dpopCallCtx()
			_, err := tokencreds.NewDPoP(ts, newSigner(t)).GetRequestMetadata(ctx, uri)
			mu.Lock()
			defer mu.Unlock()
			for _, body := range got {
				if strings.Contains(body, "s3cret") {
					t.Errorf("the other origin received the client's secret: %q", body)
				}
			}
			if len(got) != 0 {
				t.Errorf("the other origin received %d requests, want none", len(got))
			}
			if status.Code(err) != codes.Unauthenticated || !errors.Is(err, tokencreds.ErrCrossOriginRedirect) {
				t.Errorf("err = %v, want Unauthenticated wrapping ErrCrossOriginRedirect", err)
			}
			if st, _ := status.FromError(err); st.Message() != tokencreds.ErrCrossOriginRedirect.Error() {
				t.Errorf("status message = %q, want ErrCrossOriginRedirect's text", st.Message())
			}
		})
	}
}

// Only the origin (scheme, host, port; a default port is the same as
// none) matters: a redirect to another path of the token endpoint's own
// origin is followed, with a proof of the new URL; any other, https to
// http on the same host and port included, and whatever the method the
// redirect leaves the request with, is refused unsent, with an error that
// names the origins and neither the path's query nor user info.
func TestDPoPTransport_FollowsRedirectsWithinTheOriginOnly(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		code     int
		followed bool
	}{
		{"https://as.example/token", "/v2/token", http.StatusTemporaryRedirect, true},
		{"https://as.example/token", "https://AS.example:443/v2/token", http.StatusPermanentRedirect, true},
		{"http://127.0.0.1:8080/token", "http://127.0.0.1:8080/v2/token", http.StatusTemporaryRedirect, true},
		{"http://[::1]:8080/token", "http://[::1]:08080/v2/token", http.StatusTemporaryRedirect, true},
		{"https://[::1]/token", "https://[::1]:0443/v2/token", http.StatusTemporaryRedirect, true},
		{"http://[::1]:8080/token", "http://[::1]:80800/v2/token", http.StatusTemporaryRedirect, false},
		{"https://as.example/token", "https://other.example/token?k=v", http.StatusTemporaryRedirect, false},
		{"https://as.example/token", "https://sub.as.example/token", http.StatusPermanentRedirect, false},
		{"https://as.example/token", "https://as.example:8443/token", http.StatusTemporaryRedirect, false},
		{"https://127.0.0.1:8443/token", "http://127.0.0.1:8443/token", http.StatusTemporaryRedirect, false},
		{"http://localhost:8080/token", "https://localhost:8080/token", http.StatusTemporaryRedirect, false},
		{"https://as.example/token", "https://user:pw@other.example/token", http.StatusFound, false},
		{"https://as.example/token", "https://other.example/token", http.StatusSeeOther, false},
		// U+0130 (İ) lower-cases to "i" in Go, but IDNA maps it to "i̇":
		// net/http dials xn--login-bgd.example, another host.
		{"https://login.example/token", "https://log%C4%B0n.example/token", http.StatusTemporaryRedirect, false},
		{"https://login.example/token", "https://logİn.example/token", http.StatusPermanentRedirect, false},
	} {
		t.Run(tc.from+"→"+tc.to, func(t *testing.T) {
			var sent []string
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent = append(sent, r.URL.String())
				if r.Body != nil {
					io.Copy(io.Discard, r.Body)
					r.Body.Close()
				}
				if len(sent) == 1 {
					return &http.Response{StatusCode: tc.code, Header: http.Header{"Location": {tc.to}}, Body: http.NoBody, Request: r}, nil
				}
				return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(`{"access_token":"at","token_type":"DPoP"}`)), Request: r}, nil
			})
			hc := &http.Client{Transport: tokencreds.NewDPoPTransport(newSigner(t), base)}
			resp, err := hc.Post(tc.from, "application/x-www-form-urlencoded", strings.NewReader("client_secret=s3cret"))
			if resp != nil {
				resp.Body.Close()
			}
			if tc.followed {
				if err != nil || len(sent) != 2 {
					t.Fatalf("err = %v, sent %q; want the redirect followed", err, sent)
				}
				return
			}
			if len(sent) != 1 {
				t.Errorf("sent %q, want the first request only", sent)
			}
			if !errors.Is(err, tokencreds.ErrCrossOriginRedirect) {
				t.Fatalf("err = %v, want one wrapping ErrCrossOriginRedirect", err)
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				msg := ue.Err.Error() // without net/http's *url.Error, which quotes the Location
				if strings.Contains(msg, "k=v") || strings.Contains(msg, "pw") || strings.Contains(msg, "s3cret") {
					t.Errorf("error %q names the query, user info or secret", msg)
				}
			}
		})
	}
}

// A hop whose chain cannot be traced back to its first request (a
// RoundTripper between the client and the transport that drops
// Response.Request) is refused: its origin cannot be compared.
func TestDPoPTransport_RedirectWithoutItsFirstRequestIsRefused(t *testing.T) {
	var sent int
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent++
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})
	req, err := http.NewRequest(http.MethodPost, "https://as.example/token", strings.NewReader("client_secret=s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	req.Response = &http.Response{StatusCode: http.StatusTemporaryRedirect}
	resp, err := tokencreds.NewDPoPTransport(newSigner(t), base).RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	if sent != 0 || !errors.Is(err, tokencreds.ErrCrossOriginRedirect) {
		t.Errorf("sent %d, err = %v; want none sent and ErrCrossOriginRedirect", sent, err)
	}
}

// The transport lets plain http reach the name localhost because it is
// loopback, but Go resolves the name like any other (the hosts file, then
// DNS): without a base of its own, the transport dials it on the loopback
// addresses, without a lookup (RFC 6761, section 6.3), as the verifier's
// client does, so that a host whose hosts file lacks localhost does not
// send the client's secret in clear text to whatever DNS answers.
func TestDPoPTransport_LocalhostIsDialledOnLoopbackWithoutALookup(t *testing.T) {
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at","token_type":"DPoP"}`)
	}))
	t.Cleanup(endpoint.Close)
	_, port, err := net.SplitHostPort(endpoint.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var lookups []string
	trace := &httptrace.ClientTrace{DNSStart: func(i httptrace.DNSStartInfo) { lookups = append(lookups, i.Host) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodPost,
		"http://localhost:"+port+"/token", strings.NewReader("client_secret=s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tokencreds.NewDPoPTransport(newSigner(t), nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(lookups) != 0 {
		t.Errorf("the dial looked up %q; localhost must be dialled on loopback addresses only", lookups)
	}
}

// A program may have replaced http.DefaultTransport with a RoundTripper of
// its own (instrumentation, or an HTTP mock in its tests): a transport made
// without a base then sends through it, localhost included, as through any
// base of the caller's, instead of panicking on a clone of an
// *http.Transport that is not there.
func TestDPoPTransport_LocalhostGoesThroughAReplacedDefaultTransport(t *testing.T) {
	var through int
	orig := http.DefaultTransport
	http.DefaultTransport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		through++
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"access_token":"at","token_type":"DPoP"}`)), Request: r}, nil
	})
	t.Cleanup(func() { http.DefaultTransport = orig })
	req, err := http.NewRequest(http.MethodPost, "http://localhost:8080/token", strings.NewReader("client_secret=s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tokencreds.NewDPoPTransport(newSigner(t), nil).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if through != 1 {
		t.Errorf("%d requests through the replaced http.DefaultTransport, want 1", through)
	}
}

// The cause of a call whose token request a DPoPTransport refused (plain
// http to another host, a redirect to another origin) or could not sign is
// a *url.Error without the user info of its URL, as for every other failed
// token request: net/http masks the password ("***") but keeps the user
// name, which the local log the cause is for would show.
func TestDPoPTransport_RefusalsCauseNamesNoUserInfo(t *testing.T) {
	const user, password = "svc-user", "url-password"
	other := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(other.Close)
	redirecting := httptest.NewServer(http.RedirectHandler("http://"+user+":"+password+"@"+strings.TrimPrefix(other.URL, "http://")+"/token", http.StatusTemporaryRedirect))
	t.Cleanup(redirecting.Close)
	withUser := func(u string) string { return strings.Replace(u, "://", "://"+user+":"+password+"@", 1) }
	for _, tc := range []struct {
		name     string
		tokenURL string
		signer   bool
		want     error
	}{
		{"plain http to another host", withUser("http://as.example/token"), true, tokencreds.ErrInsecureTokenEndpoint},
		{"redirect to another origin", withUser(redirecting.URL + "/token"), true, tokencreds.ErrCrossOriginRedirect},
		{"proof that cannot be signed", withUser("https://as.example/token"), false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var signer *dpop.Signer
			if tc.signer {
				signer = newSigner(t)
			}
			cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: tc.tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
			hc := &http.Client{Transport: tokencreds.NewDPoPTransport(signer, nil)}
			ts := cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
			ctx, uri := dpopCallCtx()
			_, err := tokencreds.NewDPoP(ts, newSigner(t)).GetRequestMetadata(ctx, uri)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want one wrapping %v", err, tc.want)
			}
			checkRequestCause(t, err, user, password)
		})
	}
}
