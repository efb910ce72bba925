package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/jwsalg"
	"github.com/grpcauth/grpcauth/internal/panictext"
)

// Signer makes DPoP proofs (RFC 9449, section 4.2) with one private key:
// the client's side of a Verifier. Each proof has the header
// {"typ":"dpop+jwt","alg":<alg>,"jwk":<the public key>} (the public members
// only, never a private one) and the claims jti (new and random for every
// proof, from crypto/rand), htm, htu, iat (from the Signer's clock) and,
// when given, ath (AccessTokenHash of the access token) and nonce. jwx
// signs it. A Signer is safe for concurrent use.
//
// A Signer may be copied (its Format takes one by value): a copy has no
// state of its own, and shares the original's key, public key, clock
// and, for a key of another type than the package's in-memory ones (a
// KMS or HSM key), its bound of MaxPendingSignatures signatures in
// flight, all fixed by NewSigner. Copies make the same proofs,
// concurrently with the original.
type Signer struct {
	alg   string
	key   sealed[crypto.Signer] // in a closure, out of fmt's reach: see sealed
	pub   jwk.Key               // the public JWK of the header; never changed after NewSigner
	thumb string
	now   func() time.Time
	// slots bounds the signatures of a key of another type than the
	// package's in-memory ones (a KMS or HSM) in flight at once, those
	// ProofContext stopped waiting for included; nil for in-memory keys,
	// which ProofContext signs with inline.
	slots chan struct{}
}

// MaxPendingSignatures bounds, per Signer whose key is not an
// *ecdsa.PrivateKey, *rsa.PrivateKey or ed25519.PrivateKey (a KMS or HSM
// key), the signatures Proof and ProofContext run at once, including those
// whose caller's context ended first: a call that finds them all running
// waits for one to end, or, with ProofContext, for its context. A Sign
// that never returns holds its slot (and its goroutine) for the life of
// the process: once MaxPendingSignatures have hung, every ProofContext
// fails when its context ends, and Proof waits, until one returns. The
// key's own client timeout is what frees them.
const MaxPendingSignatures = 256

// SignerOption configures a Signer.
type SignerOption func(*Signer)

// WithClock makes a Signer take its proofs' iat from now instead of
// time.Now.
func WithClock(now func() time.Time) SignerOption {
	return func(s *Signer) {
		if now != nil {
			s.now = now
		}
	}
}

// NewSigner returns a Signer of proofs signed with key under alg: ES256,
// ES384 or ES512 with an ECDSA key on the alg's curve, EdDSA or Ed25519
// (RFC 9864) with an Ed25519 key, RS256, RS384, RS512, PS256, PS384 or
// PS512 with an RSA key of 2048 to 8192 bits. key is an *ecdsa.PrivateKey,
// *rsa.PrivateKey or ed25519.PrivateKey, or any crypto.Signer (a key in a
// KMS or HSM) whose Public returns one of their public keys. The key must
// fit alg as a Verifier checks it; its public half is what every proof
// carries, and its RFC 7638 thumbprint (Thumbprint) is what the
// authorization server binds the tokens to. Remember that a Verifier
// accepts only the algorithms of its Config.Algorithms: by default ES256,
// EdDSA and Ed25519. A nil option (a variable left unset) is an error.
func NewSigner(key crypto.Signer, alg string, opts ...SignerOption) (*Signer, error) {
	if key == nil {
		return nil, errors.New("dpop: NewSigner: no key")
	}
	if !slices.Contains(supportedAlgorithms[:], alg) {
		return nil, fmt.Errorf("dpop: NewSigner: algorithm %q is not one of %v", alg, supportedAlgorithms)
	}
	raw, err := jwk.FromRaw(key.Public())
	if err != nil {
		return nil, fmt.Errorf("dpop: NewSigner: public key: %w", err)
	}
	// Check the header key exactly as a Verifier will: a public key,
	// without private members, that fits alg.
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("dpop: NewSigner: public key: %w", err)
	}
	pub, _, err := publicKey(b, alg)
	if err != nil {
		return nil, fmt.Errorf("dpop: NewSigner: %w", err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("dpop: NewSigner: thumbprint: %w", err)
	}
	s := &Signer{alg: alg, key: seal(key), pub: pub, thumb: base64.RawURLEncoding.EncodeToString(tp), now: time.Now}
	switch key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey: // sign in memory, never block
	default:
		s.slots = make(chan struct{}, MaxPendingSignatures)
	}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("dpop: NewSigner: option %d is nil", i)
		}
		o(s)
	}
	return s, nil
}

// Algorithm returns the proofs' alg, e.g. "ES256".
func (s *Signer) Algorithm() string { return s.alg }

// Thumbprint returns the key's RFC 7638 SHA-256 thumbprint, unpadded
// base64url: the cnf jkt of a token bound to it, and the dpop_jkt an
// authorization request may carry (RFC 9449, section 10).
func (s *Signer) Thumbprint() string { return s.thumb }

// Proof returns a new proof for one request: htm its HTTP method ("POST"
// for every gRPC call and token request), htu its URL without query and
// fragment (RFC 9449, section 4.2: for gRPC
// "scheme://authority/package.Service/Method", for a token request the
// token endpoint's URL), accessToken the access token it goes with ("" for
// a token request: no ath) and nonce the latest nonce the server sent (""
// for none). Both are put in the proof as given. A nil Signer, or a zero
// one (not made by NewSigner), returns an error. It waits for the key's
// Sign however long it takes: with a key in a KMS or HSM, whose Sign may
// block on the network, use ProofContext.
func (s *Signer) Proof(htm, htu, accessToken, nonce string) (string, error) {
	return s.ProofContext(context.Background(), htm, htu, accessToken, nonce)
}

// ProofContext is Proof that stops waiting when ctx ends. crypto.Signer's
// Sign takes no context, so ctx cannot reach a KMS or HSM key's request:
// with such a key (any but an *ecdsa.PrivateKey, *rsa.PrivateKey or
// ed25519.PrivateKey, which sign in memory, inline) the signature is made
// on a goroutine of its own, which ProofContext leaves running when ctx
// ends first, returning an error wrapping ctx's; the goroutine ends when
// Sign returns, its signature discarded. A Sign that has returned when
// ProofContext finds ctx ended (both at once) has its answer returned,
// a proof with a nil error included: the signature is made, and ctx's
// end does not discard it; a caller that must not go on past ctx checks
// ctx itself. At most MaxPendingSignatures such
// signatures run at once per Signer, so a key that hangs holds a bounded
// number of goroutines: past them, ProofContext waits for one to end, or
// for ctx. Give the key's own client a timeout too: it alone ends a hung
// request. An ended ctx fails ProofContext before anything is signed,
// also when it ends as a slot frees: no Sign is started for it. A
// panic of such a key's Sign, on that goroutine, fails the proof with an
// error (of Proof's too; the panic's value cut to a bounded text) rather
// than end the process, and so does a Sign that ends the goroutine
// (runtime.Goexit) instead of returning; either frees its slot. A ctx
// whose methods panic (a caller's bug) holds no slot: the panic is the
// caller's, and the slot is given back.
func (s *Signer) ProofContext(ctx context.Context, htm, htu, accessToken, nonce string) (string, error) {
	if s == nil || s.key == nil { // nil, or zero: not made by NewSigner
		return "", errors.New("dpop: Proof: no Signer (make one with NewSigner)")
	}
	if htm == "" || htu == "" {
		return "", errors.New("dpop: Proof: empty htm or htu")
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("dpop: Proof: %w", err)
	}
	if s.slots == nil {
		return s.sign(htm, htu, accessToken, nonce)
	}
	// Once a slot is taken, no method of ctx (the caller's code, which
	// may panic) is called until the slot is given back or the
	// signature's goroutine, which gives it back whatever Sign does,
	// has it.
	ended := ctx.Done()
	select {
	case s.slots <- struct{}{}:
		// A slot that freed as ctx ended may have been chosen over ctx:
		// sign nothing for a caller that has gone (the KMS request would
		// be made and its signature discarded).
		select {
		case <-ended:
			<-s.slots
			return "", fmt.Errorf("dpop: Proof: %w (waiting for one of %d signatures in flight)", ctx.Err(), MaxPendingSignatures)
		default:
		}
	case <-ended:
		return "", fmt.Errorf("dpop: Proof: %w (waiting for one of %d signatures in flight)", ctx.Err(), MaxPendingSignatures)
	}
	type result struct {
		proof string
		err   error
	}
	done := make(chan result, 1) // buffered: the goroutine never blocks on a caller that left
	go func() {
		// r stays errSignExited unless sign returns: a Sign that panics
		// (which, on this goroutine, would end the process out of the
		// caller's reach) or ends the goroutine (runtime.Goexit) fails
		// the proof. The slot is freed before the answer is sent, so a
		// caller that has its answer has its slot back.
		r := result{err: errSignExited}
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("dpop: Proof: sign: the key's Sign panicked: %s", panictext.Text(p, endpoint.MaxErrorText))
			}
			<-s.slots
			done <- r
		}()
		r.proof, r.err = s.sign(htm, htu, accessToken, nonce)
	}()
	select {
	case r := <-done:
		return r.proof, r.err
	case <-ctx.Done():
		// select chooses at random between ready cases: a Sign that
		// returned as ctx ended has its answer used, not discarded
		// for an error saying it had not returned.
		select {
		case r := <-done:
			return r.proof, r.err
		default:
			return "", fmt.Errorf("dpop: Proof: %w (the key's Sign has not returned)", ctx.Err())
		}
	}
}

// errSignExited fails a proof whose key's Sign ended its goroutine
// (runtime.Goexit) instead of returning.
var errSignExited = errors.New("dpop: Proof: sign: the key's Sign ended its goroutine without returning")

// sign makes a proof with htm and htu, not empty, and accessToken and
// nonce.
func (s *Signer) sign(htm, htu, accessToken, nonce string) (string, error) {
	claims := map[string]any{"jti": rand.Text(), "htm": htm, "htu": htu, "iat": s.now().Unix()}
	if accessToken != "" {
		claims["ath"] = AccessTokenHash(accessToken)
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("dpop: Proof: claims: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, ProofType); err != nil {
		return "", fmt.Errorf("dpop: Proof: typ: %w", err)
	}
	if err := hdr.Set(jws.JWKKey, s.pub); err != nil {
		return "", fmt.Errorf("dpop: Proof: jwk: %w", err)
	}
	proof, err := jwsalg.Sign(payload, hdr, s.alg, s.key.get())
	if err != nil {
		return "", fmt.Errorf("dpop: Proof: sign: %w", err)
	}
	return string(proof), nil
}

// AccessTokenHash returns a proof's ath for accessToken: the unpadded
// base64url SHA-256 of its ASCII (RFC 9449, section 4.2).
func AccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
