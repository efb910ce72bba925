package dpop

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grpcauth/grpcauth/internal/isnil"
)

// DefaultAlgorithms returns the proof algorithms accepted when
// Config.Algorithms is empty: ES256 and EdDSA, as node-oidc-provider accepts
// by default, and Ed25519, RFC 9864's fully specified name of EdDSA over
// Ed25519 (the only EdDSA curve accepted), which replaces the deprecated
// EdDSA. All have small keys and signatures and fast verification; RS256
// and PS256 proofs carry a 256-byte signature and a 2048-bit modulus in
// every request, so they are opt-in. Each call returns a new slice.
func DefaultAlgorithms() []string { return slices.Clone(defaultAlgorithms[:]) }

// defaultAlgorithms is DefaultAlgorithms' list. An array, so that no other
// package can change what every Verifier built afterwards accepts.
var defaultAlgorithms = [...]string{"ES256", "EdDSA", "Ed25519"}

// supportedAlgorithms are the asymmetric JWS algorithms Config.Algorithms
// may name. none and the HMAC algorithms are not among them: a proof must be
// verifiable with the public key it carries. Nor is Ed448 (RFC 9864): jwx
// and the standard library do not implement it.
var supportedAlgorithms = [...]string{
	"ES256", "ES384", "ES512", "EdDSA", "Ed25519",
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
}

// Defaults of Config.
const (
	// DefaultMaxAge is how old a proof's iat may be: five minutes, as
	// node-oidc-provider allows.
	DefaultMaxAge = 5 * time.Minute
	// DefaultLeeway is how far in the future a proof's iat may be, for
	// clients whose clock runs ahead.
	DefaultLeeway = 10 * time.Second
	// DefaultMaxProofSize bounds the proof: 16 KiB. An RS512 proof with a
	// 4096-bit jwk is under 2 KiB, but a jwk may carry its certificate
	// chain in x5c (Nimbus's DefaultDPoPProofFactory sends it), base64
	// in the JSON and base64url again in the header: with an RSA-4096
	// key, some 7.8 KB for leaf and intermediate, 10.6 KB with the root
	// too (2,048-bit: 5.2 and 7.1 KB; P-256: 3.2 and 4.4 KB). What the
	// bound holds is the work that grows with the proof: decoding it,
	// parsing its JSON and the jwk (its x5c's members are copied, never
	// decoded), hashing the signing input, about 30 µs and 11 KB of
	// garbage a KiB on a 2-core VM: a 16 KiB proof costs about 0.6 ms,
	// an 8 KiB one 0.4 (an RS512 check under an 8192-bit key, 1.1). The
	// rest is bounded apart, whatever the proof's size: the RSA modulus
	// (8192 bits) and the one certificate parsed (x5c's first, at most 8
	// KiB of base64). See docs/dpop.md, "Proof size".
	DefaultMaxProofSize = 16 << 10
	// DefaultReplayCacheEntries is the capacity of the default
	// MemoryReplayCache.
	DefaultReplayCacheEntries = 100_000
)

// maxWindow bounds Config.MaxAge and Config.Leeway. A proof is remembered
// until its iat plus MaxAge, which for a window of centuries is past what
// a time.Duration or a Unix time in nanoseconds holds: the proof would be
// forgotten at once, and replayed. A day is far more than any DPoP
// deployment needs (node-oidc-provider allows five minutes).
const maxWindow = 24 * time.Hour

// maxJTILen bounds a proof's jti. RFC 9449 asks for at least 96 bits of
// randomness; 256 bytes is far more than any client sends.
const maxJTILen = 256

// Config configures a Verifier. Every field has a safe default.
type Config struct {
	// Algorithms is the allow-list of proof signature algorithms, from
	// ES256, ES384, ES512, EdDSA (with an Ed25519 key), Ed25519 (RFC
	// 9864), RS256, RS384, RS512, PS256, PS384 and PS512. Default
	// DefaultAlgorithms() (ES256, EdDSA, Ed25519). none, HS* and Ed448 are
	// refused by New.
	Algorithms []string

	// MaxAge is how long after its iat a proof is accepted, and so how
	// long its jti is remembered. Default DefaultMaxAge (5 minutes); at
	// most 24 hours. Verifiers sharing a ReplayCache need the same MaxAge,
	// unless it keeps proofs for the longest: a *MemoryReplayCache, or a
	// type that embeds one, does, and a RetainingReplayCache of yours is
	// told each Verifier's (see ReplayCache).
	MaxAge time.Duration

	// Leeway is how far in the future a proof's iat may lie. Default
	// DefaultLeeway (10 seconds); negative means none; at most 24 hours.
	Leeway time.Duration

	// Origins lists further origins ("https://api.example.com",
	// "https://api.example.com:8443") accepted in a proof's htu besides
	// the request's own scheme and authority, for servers behind a proxy
	// whose public URL differs from what the server sees. Each is
	// normalised (case, default port) by New; a path, query, fragment,
	// user info or wildcard ("https://*.example.com") is refused. Default:
	// none. No field names a path prefix: behind a proxy that strips one
	// ("https://example.com/api/pkg.Svc/Method" forwarded as
	// "/pkg.Svc/Method") the htu's path is not the request's, and every
	// proof is refused; route by the service's own path (or by host)
	// without rewriting it instead (docs/dpop.md, "Behind a proxy").
	Origins []string

	// OnlyOrigins accepts in a proof's htu only the origins in Origins,
	// never the request's own scheme and authority: the authority is what
	// the client sends (:authority, Host), so by default a proof made for
	// one server can be used at another that accepts the same tokens by
	// naming the first one's authority, if the two do not share a
	// ReplayCache. With OnlyOrigins and Origins listing this server's
	// public origins, it cannot. New refuses OnlyOrigins without Origins.
	// Default false.
	OnlyOrigins bool

	// ReplayCache remembers the jti of accepted proofs until they expire.
	// Default: a MemoryReplayCache of DefaultReplayCacheEntries, of which
	// one proof key may fill a quarter. It protects one process only; see
	// ReplayCache for a shared store. A nil pointer (a nil
	// *MemoryReplayCache, or of a store type of yours) is refused, and so
	// is a MemoryReplayCache not built by NewMemoryReplayCache.
	ReplayCache ReplayCache

	// Nonces, when set, makes a server nonce (RFC 9449, section 9)
	// mandatory: a proof whose nonce Nonces does not accept fails with
	// ErrUseNonce, and the caller must send the client Verifier.Nonce
	// (Nonces.Nonce, checked). Default nil: no nonce is required (one
	// sent anyway is ignored). A nil pointer (a nil *HMACNonces, or of a
	// type of yours) is refused, and so is an HMACNonces not built by
	// NewHMACNonces.
	Nonces NonceSource

	// MaxProofSize bounds the proof in bytes: a longer one is refused
	// before it is decoded. Default DefaultMaxProofSize (16 KiB), which
	// takes an RSA-4096 key's chain of three certificates in the jwk's
	// x5c; raise it for longer chains.
	MaxProofSize int

	// Now returns the current time. Default time.Now. For tests. A Now
	// that panics as NewVerifier reads it (to tell a shared
	// MemoryReplayCache a longer MaxAge: see RetainingReplayCache) fails
	// NewVerifier with an error ("dpop: Config.Now panicked ..."); one
	// that panics in Verify panics Verify, on the caller's goroutine.
	Now func() time.Time
}

// replayWindow is how long after its iat Verify records a proof in the
// ReplayCache: MaxAge, since the proof is accepted until iat+MaxAge
// inclusive, and a second more, for stores that expire a key at its
// expiry instant or round it.
func (s settings) replayWindow() time.Duration { return s.maxAge + time.Second }

// settings is a validated Config with its defaults applied.
type settings struct {
	algorithms []string
	maxAge     time.Duration
	leeway     time.Duration
	origins    []origin
	// onlyOrigins: Config.OnlyOrigins.
	onlyOrigins bool
	replay      ReplayCache
	nonces      NonceSource
	maxSize     int
	now         func() time.Time
}

func validate(cfg Config) (settings, error) {
	s := settings{
		maxAge:  cfg.MaxAge,
		leeway:  cfg.Leeway,
		replay:  cfg.ReplayCache,
		nonces:  cfg.Nonces,
		maxSize: cfg.MaxProofSize,
		now:     cfg.Now,
	}
	if len(cfg.Algorithms) == 0 {
		s.algorithms = DefaultAlgorithms()
	}
	for _, alg := range cfg.Algorithms {
		if !slices.Contains(supportedAlgorithms[:], alg) {
			return s, fmt.Errorf("dpop: Config.Algorithms: %q is not an asymmetric JWS algorithm (supported: %s)", alg, strings.Join(supportedAlgorithms[:], " "))
		}
		if !slices.Contains(s.algorithms, alg) {
			s.algorithms = append(s.algorithms, alg)
		}
	}
	switch {
	case s.maxAge == 0:
		s.maxAge = DefaultMaxAge
	case s.maxAge < 0:
		return s, errors.New("dpop: Config.MaxAge is negative")
	}
	switch {
	case s.leeway == 0:
		s.leeway = DefaultLeeway
	case s.leeway < 0:
		s.leeway = 0
	}
	if s.maxAge > maxWindow || s.leeway > maxWindow {
		return s, fmt.Errorf("dpop: Config.MaxAge or Config.Leeway is more than %s", maxWindow)
	}
	switch {
	case s.maxSize == 0:
		s.maxSize = DefaultMaxProofSize
	case s.maxSize < 0:
		return s, errors.New("dpop: Config.MaxProofSize is negative")
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, o := range cfg.Origins {
		n, err := parseOrigin(o)
		if err != nil {
			return s, fmt.Errorf("dpop: Config.Origins: %w", err)
		}
		s.origins = append(s.origins, n)
	}
	if cfg.OnlyOrigins && len(s.origins) == 0 {
		return s, errors.New("dpop: Config.OnlyOrigins needs Config.Origins")
	}
	s.onlyOrigins = cfg.OnlyOrigins
	// A nil pointer (of this package's types or the caller's own: a
	// shared store's client never assigned) is a non-nil interface whose
	// methods panic on the first proof, which ends a gRPC server's process.
	if s.replay != nil && isnil.Value(s.replay) {
		return s, fmt.Errorf("dpop: Config.ReplayCache is a nil %T (leave it nil for the default)", s.replay)
	}
	if s.nonces != nil && isnil.Value(s.nonces) {
		return s, fmt.Errorf("dpop: Config.Nonces is a nil %T (leave it nil for no nonces)", s.nonces)
	}
	// A zero value of this package's types (not built by its
	// constructor) has no period or secret, whose Nonce divides by zero,
	// or no capacity, which refuses every proof as if full.
	if c, ok := s.replay.(*MemoryReplayCache); ok && c.entries == nil {
		return s, errors.New("dpop: Config.ReplayCache is a zero MemoryReplayCache: build it with NewMemoryReplayCache (or leave it nil for the default)")
	}
	if n, ok := s.nonces.(*HMACNonces); ok && n.zero() {
		return s, errors.New("dpop: Config.Nonces is a zero HMACNonces: build it with NewHMACNonces")
	}
	if s.replay == nil {
		s.replay = NewMemoryReplayCache(DefaultReplayCacheEntries, s.now)
	}
	return s, nil
}
