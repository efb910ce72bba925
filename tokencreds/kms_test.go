package tokencreds_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/ctxtest"
	"github.com/grpcauth/grpcauth/tokencreds"
)

// dpopTokenEndpoint returns the URL of a token endpoint that answers every
// request with a DPoP-bound token, and the count of its requests.
func dpopTokenEndpoint(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var requests atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at","token_type":"DPoP","expires_in":3600}`)
	}))
	t.Cleanup(endpoint.Close)
	return endpoint.URL, &requests
}

// kmsTokenSource returns a client-credentials TokenSource of tokenURL
// made with ctx whose token requests carry proofs signed by key (a KMS
// key, signing on a goroutine of its own), and a Signer of key.
func kmsTokenSource(t *testing.T, ctx context.Context, tokenURL string, key *hungKey, hc *http.Client) (oauth2.TokenSource, *dpop.Signer) {
	t.Helper()
	signer, err := dpop.NewSigner(key, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	hc.Transport = tokencreds.NewDPoPTransport(signer, nil)
	cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	return cc.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, hc)), signer
}

// A call whose own context ends while a KMS key signs the proof of the
// token request it waits for fails with its context's code, the error
// wrapping the context's, as when the key signs the call's own proof;
// the token request goes on, and its answer is kept: the next call gets
// the token without waiting out a backoff, and the endpoint is asked
// once. The call's end is not a failure of the token source.
func TestDPoP_CallEndingWhileAKMSKeySignsTheTokenRequestIsNotASourceFailure(t *testing.T) {
	tokenURL, requests := dpopTokenEndpoint(t)
	key := newHungKey(t)
	ts, signer := kmsTokenSource(t, context.Background(), tokenURL, key, &http.Client{})
	creds := tokencreds.NewDPoP(ts, signer)

	callCtx, uri := dpopCallCtx()
	ctx, cancel := context.WithCancel(callCtx)
	go func() { <-key.entered; cancel() }()
	_, err := creds.GetRequestMetadata(ctx, uri)
	if st := status.Convert(err); st.Code() != codes.Canceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v (%v), want Canceled wrapping context.Canceled", err, st.Code())
	}

	key.Release()
	tokencreds.AwaitFetch(creds)
	md, err := creds.GetRequestMetadata(callCtx, uri)
	if err != nil {
		t.Fatalf("the next call: %v, want the token the request got", err)
	}
	if md["authorization"] != "DPoP at" {
		t.Errorf("authorization = %q, want DPoP at", md["authorization"])
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("the token endpoint got %d requests, want 1", n)
	}
}

// A token request whose own context (the token source's, or the
// http.Client's Timeout) ends while a KMS key signs its proof fails, unsent,
// as its context's end fails it while it is sent: past a deadline with
// Unavailable ("did not answer in time"), the source's context cancelled
// with Unauthenticated (it stays so), each wrapping the context's error;
// not with Internal, the code of a key that failed to sign, which a
// retry policy would never retry and which names no timeout.
func TestDPoP_TokenRequestWhoseContextEndsWhileAKMSKeySignsFailsAsItsContext(t *testing.T) {
	tokenURL, requests := dpopTokenEndpoint(t)
	for _, tt := range []struct {
		name string
		// source returns the token source's context and HTTP client.
		source func(t *testing.T, key *hungKey) (context.Context, *http.Client)
		code   codes.Code
		msg    string
		cause  error
	}{
		{"source's deadline", func(t *testing.T, _ *hungKey) (context.Context, *http.Client) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			t.Cleanup(cancel)
			return ctx, &http.Client{}
		}, codes.Unavailable, "tokencreds: the token endpoint did not answer in time", context.DeadlineExceeded},
		// net/http's Client reports its own Timeout as a timeout error
		// of its own, the DPoPTransport's error as text only: this case
		// held before send told a context's end from a key's failure.
		{"HTTP client's timeout", func(*testing.T, *hungKey) (context.Context, *http.Client) {
			return context.Background(), &http.Client{Timeout: 10 * time.Second}
		}, codes.Unavailable, "tokencreds: the token endpoint did not answer in time", context.DeadlineExceeded},
		{"source's context cancelled", func(t *testing.T, key *hungKey) (context.Context, *http.Client) {
			return key.cancelOnSign(t), &http.Client{}
		}, codes.Unauthenticated, "tokencreds: the token source's context is cancelled", context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The bubble's clock passes the deadlines once the key and
			// the call both wait; the endpoint, outside it, is never
			// reached.
			synctest.Test(t, func(t *testing.T) {
				key := newHungKey(t)
				ctx, hc := tt.source(t, key)
				ts, signer := kmsTokenSource(t, ctx, tokenURL, key, hc)
				callCtx, uri := dpopCallCtx()
				_, err := tokencreds.NewDPoP(ts, signer).GetRequestMetadata(callCtx, uri)
				if st := status.Convert(err); st.Code() != tt.code || st.Message() != tt.msg || !errors.Is(err, tt.cause) {
					t.Fatalf("err = %v (%v), want %v: %s, wrapping %v", err, st.Code(), tt.code, tt.msg, tt.cause)
				}
			})
		})
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the token endpoint got %d requests, want 0", n)
	}
}

// errKMS is the error of failingKey's Sign.
var errKMS = errors.New("kms: the key is disabled")

// failingKey is a crypto.Signer standing for a KMS key whose every request
// fails with errKMS.
type failingKey struct{ *ecdsa.PrivateKey }

func (failingKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, errKMS }

// A call whose KMS key has failed to sign its proof when the call finds
// its context ended (dpop.Signer.ProofContext returns the key's error) fails
// as a key that failed does, with Internal and an error wrapping the key's:
// the key was not still signing, and its failure is not hidden behind
// Canceled (whose error would not even wrap context.Canceled).
func TestDPoP_CallWhoseKMSKeyFailedAsItsContextEndedIsAKeyFailure(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		signer, err := dpop.NewSigner(failingKey{priv}, "ES256")
		if err != nil {
			t.Fatal(err)
		}
		creds := tokencreds.NewDPoP(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at", TokenType: "DPoP", Expiry: time.Now().Add(time.Hour)}), signer)
		callCtx, uri := dpopCallCtx()
		// The first call gets the token, kept for the second, which so
		// waits for nothing but its proof.
		if _, err := creds.GetRequestMetadata(callCtx, uri); status.Code(err) != codes.Internal || !errors.Is(err, errKMS) {
			t.Fatalf("the first call: %v, want Internal wrapping the key's error", err)
		}
		parent, cancel := context.WithCancel(callCtx)
		defer cancel()
		ctx := &ctxtest.Ending{Context: parent, N: 2, Before: func() {
			synctest.Wait() // the signature's goroutine has sent the key's error and ended
			cancel()
		}}
		_, err = creds.GetRequestMetadata(ctx, uri)
		if ctx.Err() == nil {
			t.Fatal("the context did not end before ProofContext looked at it")
		}
		if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "tokencreds: could not sign the DPoP proof" || !errors.Is(err, errKMS) {
			t.Fatalf("err = %v (%v), want Internal: tokencreds: could not sign the DPoP proof, wrapping the key's error", err, st.Code())
		}
	})
}
