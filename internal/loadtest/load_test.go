package loadtest

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/verifier"
)

// Bounds on every loop, in addition to the run's deadline.
const (
	maxCallsPerCaller = 50_000_000
	maxRotations      = 100_000
	callTimeout       = 30 * time.Second
	maxSettle         = 15 * time.Second
	// scheduledRefreshGap is the shortest time between two scheduled key-set
	// refreshes: the issuer's Cache-Control max-age (300s) less the key
	// set's 10% jitter.
	scheduledRefreshGap = 270 * time.Second
)

// TestLoad_MixedTokensUnderKeyRotation drives an items.v1.ItemService behind
// the grpcauth interceptors, over real loopback TCP, with concurrent callers
// that mix valid tokens of every scope combination (in Okta's and RFC 9068's
// shapes) with expired, forged, wrongly addressed and garbage credentials,
// over unary and streaming methods, while the issuer rotates its signing key
// and removes the previous one. Every call knows the status it deserves;
// the test fails on any other, on goroutines left behind, and on a JWKS
// request count above one per rotation plus the scheduled refreshes and a
// small constant. See docs/soak.md for the long configuration.
func TestLoad_MixedTokensUnderKeyRotation(t *testing.T) {
	duration, rotate, sampleEvery := shortDuration, shortRotate, 50*time.Millisecond
	if *soakDuration > 0 {
		duration, rotate, sampleEvery = *soakDuration, soakRotateDefault, time.Second
	}
	if *soakRotate > 0 {
		rotate = *soakRotate
	}
	callers, conns := max(*soakCallers, 1), max(*soakConns, 1)
	// Rotations must be further apart than MinRefreshInterval, or a new
	// key's first token could meet the rate limit and be refused.
	minRefresh := min(verifier.DefaultMinRefreshInterval, rotate/8)

	ignore := goleak.IgnoreCurrent()
	sum := summary{callers: callers, conns: conns, alg: *soakAlg, every: rotate, minRefresh: minRefresh}
	sum.goroutinesBefore = runtime.NumGoroutine()
	sum.heapBefore = heapAfterGC()

	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Algorithm: *soakAlg})
	attacker, err := attackerKey(iss.Algorithm())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer:             iss.URL(), // the key set is discovered
		Audiences:          []string{iss.Audience()},
		MinRefreshInterval: minRefresh,
		Logger:             quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	readyCtx, cancelReady := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelReady()
	if err := v.Ready(readyCtx); err != nil {
		t.Fatal(err)
	}
	conds, err := celcond.New(celcond.Config{}) // ItemService's CreateItem has a condition
	if err != nil {
		t.Fatal(err)
	}
	auth, err := grpcauth.New(grpcauth.Config{Verifier: v, Logger: quiet, Conditions: conds})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor()),
	)
	itemsv1.RegisterItemServiceServer(srv, itemsServer{})
	if err := auth.Check(srv); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer srv.Stop()

	clients := make([]itemsv1.ItemServiceClient, conns)
	ccs := make([]*grpc.ClientConn, conns)
	for i := range conns {
		cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ccs[i], clients[i] = cc, itemsv1.NewItemServiceClient(cc)
	}

	first, err := newGeneration(iss, iss.KeyID(), attacker)
	if err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[generation]
	cur.Store(first)

	runCtx, stop := context.WithTimeout(context.Background(), duration)
	defer stop()
	smp := startSampler(runCtx, sampleEvery)
	tl := newTally()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(*soakSeed, uint64(i)))
			client := clients[i%conns]
			for n := 0; n < maxCallsPerCaller && runCtx.Err() == nil; n++ {
				g := acquire(&cur)
				c := g.creds[rng.IntN(len(g.creds))]
				if n < int(numKinds) {
					// Each caller's first calls cycle through every kind
					// of credential, so all are exercised however short
					// or slow the run.
					same := g.byKind[(i+n)%int(numKinds)]
					c = same[rng.IntN(len(same))]
				}
				m := methods[rng.IntN(len(methods))]
				got := call(client, m, c)
				g.mu.RUnlock()
				tl.record(m, c, c.deserves(m), got)
			}
		})
	}
	rotations, rotErr := rotateKeys(runCtx, iss, &cur, attacker, rotate)
	wg.Wait()
	sum.duration = time.Since(start)
	<-smp.done
	if rotErr != nil {
		t.Errorf("key rotation: %v", rotErr)
	}

	// Tear everything down, then look for goroutines left behind; goleak
	// retries with back-off while the last ones finish.
	for _, cc := range ccs {
		_ = cc.Close()
	}
	srv.GracefulStop()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	_ = v.Close()
	iss.Close()
	sum.jwks = iss.JWKSRequests()
	if err := settle(ignore); err != nil {
		t.Errorf("goroutines left after teardown: %v", err)
	}
	sum.goroutinesAfter = runtime.NumGoroutine()
	sum.heapAfter = heapAfterGC()
	sum.goroutinesPeak, sum.heapPeak = smp.peakGoroutines.Load(), smp.peakHeap.Load()
	sum.calls, sum.streams, sum.wrong = tl.calls.Load(), tl.streams.Load(), tl.wrong.Load()
	sum.byWant, sum.byKind, sum.rotations = tl.byWant, tl.byKind, rotations
	// The first fetch, one per rotation (the new kid's first token), the
	// scheduled refreshes, and two to spare.
	sum.jwksBound = 1 + int64(rotations) + int64(sum.duration/scheduledRefreshGap) + 1 + 2
	t.Logf("load test summary:\n%s", sum)

	if sum.wrong != 0 {
		t.Errorf("%d of %d calls got a wrong decision; the first ones:", sum.wrong, sum.calls)
		for _, m := range tl.mistakes {
			t.Error("  " + m)
		}
	}
	if sum.jwks > sum.jwksBound {
		t.Errorf("%d JWKS requests for %d rotations in %v, want at most %d", sum.jwks, rotations, sum.duration, sum.jwksBound)
	}
	if rotations == 0 {
		t.Error("no key rotation happened during the run")
	}
	for k := range numKinds {
		if tl.byKind[k] == 0 {
			t.Errorf("no call used a %v credential", k)
		}
	}
}

// settle waits until no goroutine beyond those ignore names is left, and
// reports the leftovers if some remain after maxSettle. goleak.Find itself
// retries for about half a second; on a loaded machine gRPC's connection
// goroutines can take longer to finish after Close, so settle asks again.
func settle(ignore goleak.Option) error {
	deadline := time.Now().Add(maxSettle)
	for {
		err := goleak.Find(ignore)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// acquire returns the current generation, read-locked for one call. A
// generation is retired only after a newer one is current, so this loops at
// most once per rotation in progress.
func acquire(cur *atomic.Pointer[generation]) *generation {
	for {
		g := cur.Load()
		g.mu.RLock()
		if !g.retired {
			return g
		}
		g.mu.RUnlock()
	}
}

// rotateKeys rotates the issuer's signing key every interval until ctx
// ends: a new key is published and signs the next generation of tokens,
// which callers switch to at once; when no call of the previous generation
// is in flight any more, its key is removed from the key set. It returns
// the number of completed rotations.
func rotateKeys(ctx context.Context, iss *grpcauthtest.Issuer, cur *atomic.Pointer[generation], attacker crypto.Signer, interval time.Duration) (int, error) {
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for n := range maxRotations {
		select {
		case <-ctx.Done():
			return n, nil
		case <-timer.C:
		}
		kid, err := iss.RotateKey()
		if err != nil {
			return n, err
		}
		g, err := newGeneration(iss, kid, attacker)
		if err != nil {
			return n, err
		}
		old := cur.Swap(g)
		old.mu.Lock() // waits for the calls still using the old tokens
		old.retired = true
		old.mu.Unlock()
		iss.RemoveKey(old.kid)
		timer.Reset(interval) // measured from now, so rotations never bunch up
	}
	return maxRotations, errors.New("rotation bound reached")
}

// call makes one call of m with c under its own deadline and returns its
// status code and grpcauth ErrorInfo reason.
func call(client itemsv1.ItemServiceClient, m method, c credential) verdict {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if c.header != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", c.header)
	}
	st := status.Convert(m.call(ctx, client))
	got := verdict{code: st.Code()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == grpcauth.ErrorDomain {
			got.reason = info.GetReason()
		}
	}
	return got
}
