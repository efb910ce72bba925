package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/ctxtest"
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
// still runs, and the signature's goroutine ends when Sign returns
// (synctest.Test fails if any goroutine is left). Proof, which has no
// context, would wait for Sign however long it took.
func TestSigner_ProofContextStopsWaitingForAHungKeyWhenTheContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
		synctest.Wait()

		// Once the key answers, proofs are made as before.
		if _, err := signer.ProofContext(t.Context(), "POST", testHTU, "at", ""); err != nil {
			t.Fatal(err)
		}
		<-key.entered
		<-key.returned
		// An ended context signs nothing.
		if _, err := signer.ProofContext(ctx, "POST", testHTU, "at", ""); !errors.Is(err, context.Canceled) {
			t.Fatalf("ProofContext with an ended context: %v, want context.Canceled", err)
		}
		if n := key.calls.Load(); n != 2 {
			t.Fatalf("Sign called %d times, want 2: once per proof with a live context", n)
		}
	})
}

// A hung key holds at most MaxPendingSignatures goroutines per Signer,
// however many proofs gave up on it: the next ProofContext does not start
// another, but waits for a slot until its context ends. Once the key
// answers, every goroutine ends (synctest.Test fails if one is left) and
// proofs are made again.
func TestSigner_HungKeyHoldsABoundedNumberOfSignatures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		signer, key := hungSigner(t)
		proofPastTheBoundWaits(t, signer, key)

		key.Release()
		for range dpop.MaxPendingSignatures {
			<-key.returned
		}
		if _, err := signer.ProofContext(t.Context(), "POST", testHTU, "", ""); err != nil {
			t.Fatal(err)
		}
		<-key.entered
		<-key.returned
		if n, want := key.calls.Load(), int64(dpop.MaxPendingSignatures+1); n != want {
			t.Fatalf("Sign called %d times, want %d", n, want)
		}
	})
}

// PanickingKey is a crypto.Signer whose Sign panics with v.
type PanickingKey struct {
	*ecdsa.PrivateKey
	v any
}

func (k PanickingKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { panic(k.v) }

// nestedPanic is a panic value whose String method panics with another,
// which fmt does not recover.
type nestedPanic struct{}

func (nestedPanic) String() string { panic(nestedPanic{}) }

// ExitingKey is a crypto.Signer whose Sign ends its goroutine
// (runtime.Goexit, as a test's fake calling t.FailNow does).
type ExitingKey struct{ *ecdsa.PrivateKey }

func (ExitingKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	runtime.Goexit()
	return nil, nil
}

// A KMS or HSM key signs on a goroutine of ProofContext's, where its panic
// would end the process out of the caller's reach: it fails the proof,
// whatever the panic's value (one whose String method panics again
// included), and so does a Sign that ends its goroutine instead of
// returning. Each frees its slot: twice MaxPendingSignatures such proofs
// all fail rather than wait (in the bubble, a slot left taken would
// block the next proof until its context's deadline).
func TestSigner_PanickingKeyFailsTheProof(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]crypto.Signer{
		"string": PanickingKey{key, "hsm bug"},
		"nested": PanickingKey{key, nestedPanic{}},
		"nil":    PanickingKey{key, nil},
		"goexit": ExitingKey{key},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				signer, err := dpop.NewSigner(k, "ES256")
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
				defer cancel()
				for i := range 2 * dpop.MaxPendingSignatures {
					proof, err := signer.ProofContext(ctx, "POST", testHTU, "", "")
					if err == nil || proof != "" || errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("proof %d: %q, %v; want an error of the key's", i+1, proof, err)
					}
				}
			})
		})
	}
}

// RemoteKey is an in-memory key that a Signer takes for a KMS or HSM key
// (its type is not *ecdsa.PrivateKey), signing on a goroutine of its own,
// without blocking.
type RemoteKey struct{ *ecdsa.PrivateKey }

// remoteSigner returns a Signer of a new RemoteKey.
func remoteSigner(t *testing.T) *dpop.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := dpop.NewSigner(RemoteKey{key}, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// A KMS key's Sign that has returned when ProofContext finds its context
// ended (both ready at once, which select would choose between at random)
// has its proof used, not discarded for an error saying Sign has not
// returned: the signature is made. Each round makes the signature and
// ends the context before ProofContext's select looks at either; with a
// coin toss, the 64 rounds would all pass once in 2^64.
func TestSigner_ProofContextUsesASignatureMadeAsTheContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		signer := remoteSigner(t)
		for i := range 64 {
			parent, cancel := context.WithCancel(t.Context())
			ctx := &ctxtest.Ending{Context: parent, N: 2, Before: func() {
				synctest.Wait() // the signature's goroutine has sent its proof and ended
				cancel()
			}}
			proof, err := signer.ProofContext(ctx, "POST", testHTU, "at", "")
			if err != nil || proof == "" {
				t.Fatalf("round %d: ProofContext = %q, %v; want the proof Sign made", i+1, proof, err)
			}
			if ctx.Err() == nil {
				t.Fatalf("round %d: the context did not end before ProofContext looked at it", i+1)
			}
		}
	})
}

// A ProofContext waiting for a slot (MaxPendingSignatures signatures of a
// hung key in flight) whose context ends as a slot frees (both ready at
// once) starts no signature: its caller has gone, and the KMS request
// would be made for a proof thrown away. Each round frees every slot and
// ends the context before ProofContext's select looks at either; with a
// coin toss, the 16 rounds would all pass once in 2^16.
func TestSigner_ProofContextEndingAsASlotFreesSignsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for i := range 16 {
			signer, key := hungSigner(t)
			parent, cancel := context.WithCancel(t.Context())
			ctx := &ctxtest.Ending{Context: parent, N: 1, Before: func() {
				key.Release()
				for range dpop.MaxPendingSignatures {
					<-key.returned
				}
				synctest.Wait() // every signature's goroutine has freed its slot and ended
				cancel()
			}}
			if _, err := signer.ProofContext(ctx, "POST", testHTU, "", ""); !errors.Is(err, context.Canceled) {
				t.Fatalf("round %d: ProofContext: %v, want context.Canceled", i+1, err)
			}
			synctest.Wait()
			if n, want := key.calls.Load(), int64(dpop.MaxPendingSignatures); n != want {
				t.Fatalf("round %d: Sign called %d times, want %d: a signature was started for an ended context", i+1, n, want)
			}
		}
	})
}

// hungSigner returns a Signer of a BlockingKey (holding one call more than
// MaxPendingSignatures) whose every slot is taken by a signature hanging
// until the key is released, each proof's context cancelled once its Sign
// has been called.
func hungSigner(t *testing.T) (*dpop.Signer, *BlockingKey) {
	t.Helper()
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
	return signer, key
}

// PanickingErrContext is a context whose Err panics from its nth call on
// (1 for the first): a caller's bug. Its other methods are those of the
// context it embeds.
type PanickingErrContext struct {
	context.Context
	n     int
	calls atomic.Int64
}

func (c *PanickingErrContext) Err() error {
	if c.calls.Add(1) >= int64(c.n) {
		panic("test: Err panicked")
	}
	return c.Context.Err()
}

// A context whose Err panics (a caller's bug: the panic is the caller's)
// costs the Signer none of its MaxPendingSignatures slots for a KMS key:
// however many such calls there were, another caller's proof is made. Each
// call's Err panics from its second call on, which ProofContext makes
// only after its first has found the context alive.
func TestSigner_ProofContextWhoseContextPanicsHoldsNoSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		signer := remoteSigner(t)
		for range dpop.MaxPendingSignatures {
			func() {
				defer func() { _ = recover() }()
				_, _ = signer.ProofContext(&PanickingErrContext{Context: t.Context(), n: 2}, "POST", testHTU, "", "")
			}()
		}
		synctest.Wait() // every signature started has ended
		// A minute of the bubble's clock passes only if the proof waits
		// for a slot none will free.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if proof, err := signer.ProofContext(ctx, "POST", testHTU, "", ""); err != nil || proof == "" {
			t.Fatalf("ProofContext = %q, %v; want a proof: the panicking contexts held every slot", proof, err)
		}
	})
}

// A ProofContext whose context ends as it waits for a slot, when it may
// have taken one (both ready at once), gives the slot back: after many
// such calls a KMS key's Signer still signs. Each round ends the context
// before ProofContext's select looks at it, with every slot free; had
// the slots taken been kept, the 1024 rounds would hold all
// MaxPendingSignatures of them but once in far more than 2^64.
func TestSigner_ProofContextEndingAsItTakesASlotGivesTheSlotBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		signer := remoteSigner(t)
		for i := range 4 * dpop.MaxPendingSignatures {
			parent, cancel := context.WithCancel(t.Context())
			ctx := &ctxtest.Ending{Context: parent, N: 1, Before: cancel}
			if _, err := signer.ProofContext(ctx, "POST", testHTU, "", ""); !errors.Is(err, context.Canceled) {
				t.Fatalf("round %d: ProofContext: %v, want context.Canceled", i+1, err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if proof, err := signer.ProofContext(ctx, "POST", testHTU, "", ""); err != nil || proof == "" {
			t.Fatalf("ProofContext after the ended calls = %q, %v; want a proof: their slots were kept", proof, err)
		}
	})
}

// A copy of a Signer of a KMS key shares the original's bound of
// MaxPendingSignatures signatures in flight: with every slot taken by
// the original's hung signatures, the copy's ProofContext waits without
// calling Sign, and returns when its context ends.
func TestSigner_CopySharesTheBoundOfSignaturesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		signer, key := hungSigner(t)
		cp := *signer
		proofPastTheBoundWaits(t, &cp, key)
		key.Release()
		for range dpop.MaxPendingSignatures {
			<-key.returned
		}
	})
}

// proofPastTheBoundWaits checks, in a synctest bubble, that a
// ProofContext of s, whose key's every slot is taken (hungSigner), waits
// (synctest.Wait returns once it is blocked) without calling Sign, and
// returns when its context ends.
func proofPastTheBoundWaits(t *testing.T, s *dpop.Signer, key *BlockingKey) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := s.ProofContext(ctx, "POST", testHTU, "", "")
		errc <- err
	}()
	synctest.Wait()
	if n, want := key.calls.Load(), int64(dpop.MaxPendingSignatures); n != want {
		t.Fatalf("Sign called %d times, want %d: the proof past the bound started a signature", n, want)
	}
	select {
	case err := <-errc:
		t.Fatalf("ProofContext past the bound returned %v without waiting", err)
	default:
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("ProofContext past the bound: %v, want context.Canceled", err)
	}
}
