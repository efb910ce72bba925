package tokencreds_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/tokencreds"
)

// fixedNonce is a NonceSource whose one nonce is itself.
type fixedNonce string

func (n fixedNonce) Nonce(time.Time) string               { return string(n) }
func (n fixedNonce) Valid(nonce string, _ time.Time) bool { return nonce == string(n) }

// originEndpoint is a token endpoint that requires its own DPoP nonce
// (RFC 9449, section 8: 400 use_dpop_nonce with a DPoP-Nonce header, and
// the nonce on every answer), recording the nonce of every proof it gets.
// A request whose proof has no nonce is held until release is closed.
type originEndpoint struct {
	nonce   string
	v       *dpop.Verifier
	arrived func() // called for each request whose proof has no nonce
	release <-chan struct{}

	proofNonces recording[string]
}

func (e *originEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nonce := nonceOfProof(r.Header.Get("DPoP"))
	e.proofNonces.add(nonce)
	if nonce == "" {
		e.arrived()
		select {
		case <-e.release:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("DPoP-Nonce", e.nonce)
	if _, err := e.v.Verify(r.Context(), r.Header.Get("DPoP"), dpop.Request{Method: r.Method, Scheme: "http", Authority: r.Host, Path: r.URL.Path}); err != nil {
		code := "invalid_dpop_proof"
		if errors.Is(err, dpop.ErrUseNonce) {
			code = "use_dpop_nonce"
		}
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + e.nonce, "token_type": "DPoP", "expires_in": 3600})
}

// nonceOfProof returns the nonce claim of the DPoP proof, "" if it has
// none or does not parse.
func nonceOfProof(proof string) string {
	p, err := jwt.ParseInsecure([]byte(proof))
	if err != nil {
		return ""
	}
	n, _ := p.Get("nonce")
	nonce, _ := n.(string)
	return nonce
}

// recording is what goroutines add, taken in turns.
type recording[T any] struct {
	mu    sync.Mutex
	items []T
}

func (r *recording[T]) add(x T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, x)
}

// take returns what was added since the last take.
func (r *recording[T]) take() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	items := r.items
	r.items = nil
	return items
}

// One DPoPTransport serving two token endpoints, each requiring its own
// nonce, remembers each one's nonce for its origin (scheme, host and
// port): 32 concurrent first token requests, half to each, all get in
// (each sent once without a nonce, refused, and once with its endpoint's),
// and the next 32 concurrent ones carry their own endpoint's nonce from
// the start; no endpoint ever gets the other's. The first requests are
// held until all have arrived, so that none learns a nonce before the
// others are sent. A regression pin: the transport kept nonces per
// origin before this test.
func TestDPoPTransport_ConcurrentRequestsToTwoServersEachCarryTheirServersNonce(t *testing.T) {
	const calls = 32
	// release is closed once each call of the first wave has either
	// arrived at its endpoint without a nonce (and is held there) or
	// ended without (which fails the test): then no call is left to come.
	var (
		mu      sync.Mutex
		ticks   int
		release = make(chan struct{})
	)
	tick := func() {
		mu.Lock()
		defer mu.Unlock()
		if ticks++; ticks == calls {
			close(release)
		}
	}
	endpoints := make([]*originEndpoint, 2)
	urls := make([]string, 2)
	for i := range endpoints {
		nonce := fmt.Sprintf("nonce-%c", 'a'+i)
		v, err := dpop.NewVerifier(dpop.Config{Nonces: fixedNonce(nonce)})
		if err != nil {
			t.Fatal(err)
		}
		endpoints[i] = &originEndpoint{nonce: nonce, v: v, arrived: tick, release: release}
		srv := httptest.NewServer(endpoints[i])
		t.Cleanup(srv.Close)
		urls[i] = srv.URL + "/token"
	}
	hc := &http.Client{Timeout: time.Minute, Transport: tokencreds.NewDPoPTransport(newSigner(t), nil)}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, hc)

	// wave makes the calls concurrently, each calling ended, if not nil,
	// when it has its answer.
	wave := func(name string, ended func()) {
		t.Helper()
		errs := make([]error, calls)
		var wg sync.WaitGroup
		for c := range calls {
			wg.Go(func() {
				i := c % len(endpoints)
				cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: urls[i], AuthStyle: oauth2.AuthStyleInHeader}
				tok, err := cc.Token(ctx)
				if err == nil && (tok.AccessToken != "at-"+endpoints[i].nonce || tok.Type() != "DPoP") {
					err = fmt.Errorf("token %q of type %q, want at-%s of type DPoP", tok.AccessToken, tok.Type(), endpoints[i].nonce)
				}
				errs[c] = err
				if ended != nil {
					ended()
				}
			})
		}
		wg.Wait()
		for c, err := range errs {
			if err != nil {
				t.Errorf("%s: request %d to endpoint %d: %v", name, c, c%len(endpoints), err)
			}
		}
	}

	// The first wave: held until all have arrived without a nonce, then
	// each is refused and sent again with its endpoint's nonce.
	wave("first wave", tick)
	for i, e := range endpoints {
		counts := map[string]int{}
		for _, n := range e.proofNonces.take() {
			counts[n]++
		}
		if want := map[string]int{"": calls / 2, e.nonce: calls / 2}; !maps.Equal(counts, want) {
			t.Errorf("first wave: endpoint %d got proofs with nonces %v, want %v", i, counts, want)
		}
	}

	// The second wave: every request carries its endpoint's nonce at once.
	wave("second wave", nil)
	for i, e := range endpoints {
		counts := map[string]int{}
		for _, n := range e.proofNonces.take() {
			counts[n]++
		}
		if want := map[string]int{e.nonce: calls / 2}; !maps.Equal(counts, want) {
			t.Errorf("second wave: endpoint %d got proofs with nonces %v, want %v", i, counts, want)
		}
	}
}
