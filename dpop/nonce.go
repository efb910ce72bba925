package dpop

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/grpcauth/grpcauth/internal/ascii"
)

// MaxNonceLen bounds a server nonce: the longest a Verifier hands out
// (Verifier.Nonce) or passes from a proof to NonceSource.Valid. tokencreds
// keeps nonces up to this length, so a longer one would never come back.
const MaxNonceLen = 1024

// ErrBadNonce: the NonceSource's Nonce returned a value that is not a
// nonce of RFC 9449, section 8.1 (1*NQCHAR: printable ASCII but space,
// '"' and '\') of at most MaxNonceLen bytes, such as "" from a source
// whose store failed. Verifier.Nonce returns it instead of the value,
// which must not be sent: a line break or a quote in response metadata
// would break or forge a header, and no client could use it anyway.
var ErrBadNonce = errors.New("dpop: the NonceSource returned a malformed nonce")

// validNonce reports whether s is a nonce as RFC 9449, section 8.1,
// defines it, of at most MaxNonceLen bytes.
func validNonce(s string) bool { return len(s) <= MaxNonceLen && ascii.IsNQChars(s) }

// Nonce returns the nonce to send a client now: Config.Nonces' Nonce at
// the Verifier's clock (Config.Now), or "" without Config.Nonces. When
// the NonceSource returns something that is not a well-formed nonce of
// at most MaxNonceLen bytes, Nonce returns "" and an error wrapping
// ErrBadNonce, which says the value's length only: send nothing, and
// refuse the request (the grpcauth interceptors answer codes.Internal and
// log the error), since no client can follow a nonce the server cannot
// hand out. A Verifier NewVerifier did not build (zero or nil) has no
// nonces: "", nil.
func (v *Verifier) Nonce() (string, error) {
	n := v.Nonces()
	if n == nil {
		return "", nil
	}
	s := n.Nonce(v.s.now())
	if !validNonce(s) {
		return "", fmt.Errorf("%w (%d bytes; want 1 to %d printable ASCII characters but space, '\"' and '\\')", ErrBadNonce, len(s), MaxNonceLen)
	}
	return s, nil
}

// NonceSource issues and checks server nonces (RFC 9449, section 9). With
// nonces, a proof is only accepted shortly after the server handed out its
// nonce, however the client's clock is set, and a proof a client
// pre-computed for later use is refused.
type NonceSource interface {
	// Nonce returns the nonce clients must put in their proofs from now
	// on. It is sent in the dpop-nonce response metadata, through
	// Verifier.Nonce, which refuses a value that is not 1 to MaxNonceLen
	// printable ASCII characters other than space, '"' and '\' (RFC 9449,
	// section 8.1) rather than send it (ErrBadNonce).
	Nonce(now time.Time) string
	// Valid reports whether nonce, taken from a proof, is acceptable now.
	// It only sees well-formed nonces of at most MaxNonceLen bytes: the
	// Verifier refuses any other with ErrUseNonce without calling it.
	Valid(nonce string, now time.Time) bool
}

// HMACNonces is a stateless NonceSource: a nonce is the number of the
// current time window and an HMAC-SHA-256 of it, so replicas that share the
// secret accept each other's nonces without sharing state. A nonce is valid
// in its window and the next, i.e. for one to two periods, and in the
// window before its own: replicas' clocks differ a little, and at a
// window's start one whose clock is ahead hands out nonces of a window the
// others have not reached yet. Only a clock ahead makes such a nonce (no
// one else has the secret), so a nonce still lives one to two periods on
// the clock of the replica that made it, and on another at most that long
// plus the clocks' difference, up to one period.
//
// There is one secret at a time: an HMACNonces with a new secret refuses
// every nonce of the old one at once (fail closed). Clients then get
// ErrUseNonce with a nonce of the new secret and retry, and a stream
// opened with an old nonce is refused; while replicas with the old and
// the new secret run side by side, each refuses the other's nonces.
type HMACNonces struct {
	secret sealed[[]byte] // in a closure, out of fmt's reach: see sealed
	period time.Duration
}

// nonceMACLen is how much of the HMAC a nonce carries: 128 bits.
const nonceMACLen = 16

// nonceLen is the length of an encoded nonce: 8 bytes of window number and
// the MAC, unpadded base64url.
var nonceLen = base64.RawURLEncoding.EncodedLen(8 + nonceMACLen)

// The bounds of HMACNonces' period. A nonce lives one to two periods: one
// of less than a second could expire on its way to the client and back,
// so that no proof could ever carry a valid one, and one of more than a
// day (Config.MaxAge's bound) would no longer limit a proof's life.
const (
	minNoncePeriod = time.Second
	maxNoncePeriod = maxWindow
)

// NewHMACNonces returns an HMACNonces with the given secret (at least 32
// bytes; nil draws a random one, which only this process knows, so give
// replicas a shared secret) and period (one minute when not positive;
// from one second to 24 hours, or an error).
func NewHMACNonces(secret []byte, period time.Duration) (*HMACNonces, error) {
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
	}
	if len(secret) < 32 {
		return nil, errors.New("dpop: NewHMACNonces: the secret must have at least 32 bytes")
	}
	if period <= 0 {
		period = time.Minute
	}
	if period < minNoncePeriod || period > maxNoncePeriod {
		return nil, fmt.Errorf("dpop: NewHMACNonces: the period %s is not between %s and %s", period, minNoncePeriod, maxNoncePeriod)
	}
	return &HMACNonces{secret: seal(append([]byte(nil), secret...)), period: period}, nil
}

// Nonce implements NonceSource. A zero HMACNonces (not built by
// NewHMACNonces, which NewVerifier refuses unless a type of the caller's
// embeds it) returns "", which Verifier.Nonce refuses, and accepts no
// nonce.
func (n *HMACNonces) Nonce(now time.Time) string {
	if n.zero() {
		return ""
	}
	return n.encode(n.window(now))
}

// zero reports whether n was not built by NewHMACNonces: it has no period
// to divide time by, nor a secret.
func (n *HMACNonces) zero() bool { return n.period <= 0 }

// Valid implements NonceSource.
func (n *HMACNonces) Valid(nonce string, now time.Time) bool {
	_, ok := n.check(nonce, now)
	return ok
}

// Current reports whether nonce is valid now and of the current window or
// the next: a server need not hand a client that sent it a new one. The
// grpcauth interceptors use it, when a NonceSource has it, so that a
// replica whose clock is behind does not hand back an older nonce for one
// that another replica made a little ahead (see HMACNonces).
func (n *HMACNonces) Current(nonce string, now time.Time) bool {
	w, ok := n.check(nonce, now)
	return ok && w >= n.window(now)
}

// check returns nonce's window and whether nonce is valid now.
func (n *HMACNonces) check(nonce string, now time.Time) (uint64, bool) {
	if n.zero() || len(nonce) != nonceLen {
		return 0, false
	}
	var b [8 + nonceMACLen]byte
	if k, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(nonce)); err != nil || k != len(b) {
		return 0, false
	}
	w := binary.BigEndian.Uint64(b[:8])
	cur := n.window(now)
	if w != cur && w+1 != cur && w != cur+1 {
		return 0, false
	}
	return w, hmac.Equal(b[8:], n.mac(w))
}

func (n *HMACNonces) window(now time.Time) uint64 {
	return uint64(now.UnixNano() / int64(n.period))
}

func (n *HMACNonces) mac(w uint64) []byte {
	h := hmac.New(sha256.New, n.secret.get())
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], w)
	h.Write([]byte("dpop-nonce\x00"))
	h.Write(b[:])
	return h.Sum(nil)[:nonceMACLen]
}

func (n *HMACNonces) encode(w uint64) string {
	var b [8 + nonceMACLen]byte
	binary.BigEndian.PutUint64(b[:8], w)
	copy(b[8:], n.mac(w))
	return base64.RawURLEncoding.EncodeToString(b[:])
}
