package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/grpcauth/grpcauth/dpop"
)

// BlockingKey is a crypto.Signer that stands for a key in a KMS or HSM
// whose requests hang: its Sign tells entered it was called, then waits
// for release before signing with the in-memory key, and tells returned
// it returned.
type BlockingKey struct {
	*ecdsa.PrivateKey
	entered, returned chan struct{}
	release           chan struct{}
	once              sync.Once
	calls             atomic.Int64
}

// NewBlockingKey returns a BlockingKey of a new P-256 key whose channels
// hold up to n calls.
func NewBlockingKey(t testing.TB, n int) *BlockingKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &BlockingKey{PrivateKey: key, entered: make(chan struct{}, n), returned: make(chan struct{}, n), release: make(chan struct{})}
	t.Cleanup(k.Release)
	return k
}

// Release lets every Sign, waiting and to come, sign.
func (k *BlockingKey) Release() { k.once.Do(func() { close(k.release) }) }

func (k *BlockingKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.calls.Add(1)
	k.entered <- struct{}{}
	defer func() { k.returned <- struct{}{} }()
	<-k.release
	return k.PrivateKey.Sign(r, digest, opts)
}

const testHTU = "https://api.example.com/pkg.Service/Method"

// A key whose Sign hangs (a KMS that does not answer) holds ProofContext
// only until its context ends: it returns the context's error while Sign
// still runs, and the signature's goroutine ends when Sign returns. Proof,
// which has no context, would wait for Sign however long it took.
func TestSigner_ProofContextStopsWaitingForAHungKeyWhenTheContextEnds(t *testing.T) {
	key := NewBlockingKey(t, 1)
	signer, err := dpop.NewSigner(key, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-key.entered; cancel() }()
	if _, err := signer.ProofContext(ctx, "POST", testHTU, "at", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("ProofContext: %v, want context.Canceled", err)
	}
	select {
	case <-key.returned:
		t.Fatal("ProofContext returned only once Sign did")
	default:
	}
	key.Release()
	<-key.returned // the goroutine left behind ends with Sign

	// Once the key answers, proofs are made as before.
	if _, err := signer.ProofContext(t.Context(), "POST", testHTU, "at", ""); err != nil {
		t.Fatal(err)
	}
	// An ended context signs nothing.
	if _, err := signer.ProofContext(ctx, "POST", testHTU, "at", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("ProofContext with an ended context: %v, want context.Canceled", err)
	}
	select {
	case <-key.entered:
	default:
		t.Fatal("the second proof did not reach Sign")
	}
	select {
	case <-key.entered:
		t.Fatal("Sign called with an ended context")
	default:
	}
}

// A hung key holds at most MaxPendingSignatures goroutines per Signer,
// however many proofs gave up on it: the next ProofContext does not start
// another, but waits for a slot until its context ends.
func TestSigner_HungKeyHoldsABoundedNumberOfSignatures(t *testing.T) {
	key := NewBlockingKey(t, dpop.MaxPendingSignatures+1)
	signer, err := dpop.NewSigner(key, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	for i := range dpop.MaxPendingSignatures {
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-key.entered; cancel() }()
		if _, err := signer.ProofContext(ctx, "POST", testHTU, "", ""); !errors.Is(err, context.Canceled) {
			t.Fatalf("proof %d: %v, want context.Canceled", i+1, err)
		}
	}
	// A ProofContext whose context ends while every slot is taken (here
	// at once: Err still nil, Done closed) returns without starting
	// another signature.
	if _, err := signer.ProofContext(&endingCtx{Context: t.Context()}, "POST", testHTU, "", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("ProofContext past the bound: %v, want context.Canceled", err)
	}
	key.Release()
	for range dpop.MaxPendingSignatures {
		<-key.returned
	}
	if _, err := signer.ProofContext(t.Context(), "POST", testHTU, "", ""); err != nil {
		t.Fatal(err)
	}
	<-key.returned
	if n, want := key.calls.Load(), int64(dpop.MaxPendingSignatures+1); n != want {
		t.Fatalf("Sign called %d times, want %d: the proof past the bound started a signature", n, want)
	}
}

// endingCtx is a context that ends as it is used: its Done is closed,
// and its Err is nil the first time it is read, context.Canceled after.
type endingCtx struct {
	context.Context
	reads atomic.Int32
}

var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (*endingCtx) Done() <-chan struct{} { return closedDone }

func (c *endingCtx) Err() error {
	if c.reads.Add(1) == 1 {
		return nil
	}
	return context.Canceled
}

// PanickingKey is a crypto.Signer whose Sign panics.
type PanickingKey struct{ *ecdsa.PrivateKey }

func (PanickingKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { panic("hsm bug") }

// A KMS or HSM key signs on a goroutine of ProofContext's, where its panic
// would end the process out of the caller's reach: it fails the proof.
func TestSigner_PanickingKeyFailsTheProof(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := dpop.NewSigner(PanickingKey{key}, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.ProofContext(t.Context(), "POST", testHTU, "", ""); err == nil {
		t.Fatal("ProofContext of a panicking key succeeded")
	}
}
