package dpop

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// NonceSource issues and checks server nonces (RFC 9449, section 9). With
// nonces, a proof is only accepted shortly after the server handed out its
// nonce, however the client's clock is set, and a proof a client
// pre-computed for later use is refused.
type NonceSource interface {
	// Nonce returns the nonce clients must put in their proofs from now
	// on. It is sent in the dpop-nonce response metadata.
	Nonce(now time.Time) string
	// Valid reports whether nonce, taken from a proof, is acceptable now.
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
type HMACNonces struct {
	secret sealed[[]byte] // in a closure, out of fmt's reach: see sealed
	period time.Duration
}

// nonceMACLen is how much of the HMAC a nonce carries: 128 bits.
const nonceMACLen = 16

// nonceLen is the length of an encoded nonce: 8 bytes of window number and
// the MAC, unpadded base64url.
var nonceLen = base64.RawURLEncoding.EncodedLen(8 + nonceMACLen)

// NewHMACNonces returns an HMACNonces with the given secret (at least 32
// bytes; nil draws a random one, which only this process knows, so give
// replicas a shared secret) and period (one minute when not positive).
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
	return &HMACNonces{secret: seal(append([]byte(nil), secret...)), period: period}, nil
}

// Nonce implements NonceSource.
func (n *HMACNonces) Nonce(now time.Time) string {
	return n.encode(n.window(now))
}

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
	if len(nonce) != nonceLen {
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
