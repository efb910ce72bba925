package introspect

import (
	"context"
	"testing"

	"github.com/grpcauth/grpcauth/verifier"
)

func TestStats_CountsHitsMissesRequestsAndInactiveAnswers(t *testing.T) {
	g := newGate(8)
	close(g.release)
	iss, v := newGated(t, g, nil)
	if st := v.Stats(); st != (Stats{Issuer: iss.URL()}) {
		t.Fatalf("fresh Stats = %+v, want only the issuer", st)
	}
	tok, err := iss.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	var c verifier.Claims
	for range 3 {
		if c, err = v.VerifyAccessToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := v.VerifyAccessToken(context.Background(), "bm90LWlzc3VlZA"); err != ErrInactive {
			t.Fatalf("got %v, want ErrInactive", err)
		}
	}
	want := Stats{Issuer: iss.URL(), CacheHits: 2, NegativeHits: 1, CacheMisses: 2, CacheEntries: 1, NegativeEntries: 1,
		CacheBytes: entryOverhead + c.Footprint(), Requests: 2, Inactive: 1}
	if st := v.Stats(); st != want {
		t.Fatalf("Stats = %+v\nwant    %+v", st, want)
	}
	if got := iss.IntrospectionRequests(); got != 2 {
		t.Fatalf("the server saw %d requests, Stats says 2", got)
	}
}

func TestStats_CountsCoalescedCallersAndRequestsInFlight(t *testing.T) {
	const n = 5
	g := newGate(n)
	joined := make(chan struct{}, n)
	iss, v := newGated(t, g, nil)
	v.joined = func() { joined <- struct{}{} }
	tok, err := iss.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := v.VerifyAccessToken(context.Background(), tok)
			errs <- err
		}()
	}
	for range n {
		<-joined
	}
	<-g.entered // the one request is held at the transport
	if st := v.Stats(); st.InFlight != 1 || st.Coalesced != n-1 || st.CacheMisses != n || st.Requests != 1 {
		t.Fatalf("while held: Stats = %+v, want 1 in flight, %d coalesced, %d misses, 1 request", st, n-1, n)
	}
	close(g.release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if st := v.Stats(); st.InFlight != 0 || st.Requests != 1 || st.CacheEntries != 1 {
		t.Fatalf("after: Stats = %+v, want none in flight, 1 request, 1 entry", st)
	}
}

func TestStats_ZeroCacheFiguresWhenDisabled(t *testing.T) {
	g := newGate(2)
	close(g.release)
	iss, v := newGated(t, g, func(c *Config) { c.Cache.Disabled = true })
	tok, err := iss.MintOpaque("svc")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := v.VerifyAccessToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if st := v.Stats(); st.Requests != 2 || st.CacheHits != 0 || st.CacheMisses != 0 || st.CacheEntries != 0 || st.CacheBytes != 0 {
		t.Fatalf("Stats = %+v, want 2 requests and no cache figures", st)
	}
}
