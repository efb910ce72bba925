package grpcauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/grpcauth/grpcauth/dpop"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
)

// Metadata keys of DPoP (RFC 9449): the proof a client sends, and the
// server's answers: a nonce to use in the next proof, and the challenge of
// a refusal.
const (
	// MetadataDPoP is the request metadata key of a DPoP proof.
	MetadataDPoP = "dpop"
	// MetadataDPoPNonce is the response metadata key of the server nonce
	// (header on a successful call whose proof used an older nonce;
	// trailer of a USE_DPOP_NONCE refusal).
	MetadataDPoPNonce = "dpop-nonce"
	// MetadataWWWAuthenticate is the trailer key of the challenge sent
	// with every refusal about the caller's credentials: a DPoP refusal's
	// in the DPoP scheme, e.g.
	// DPoP error="invalid_dpop_proof", algs="ES256 EdDSA Ed25519"; any other's
	// (RFC 6750, section 3; step-up: RFC 9470) in the scheme of the call,
	// e.g. Bearer error="invalid_token", error_description="access token
	// expired"; a call without credentials, or with another scheme (such
	// as Basic), gets two values, bare "Bearer"
	// and DPoP algs="...", where both schemes are taken, and a DPoP-bound
	// token sent with the Bearer scheme gets Bearer error="invalid_token",
	// error_description="..." and DPoP algs="...". See the Reason
	// constants. Under grpc.Server.ServeHTTP, whose net/http server
	// drops a www-authenticate trailer (RFC 9110 forbids it there) and
	// logs a line for each, the challenge is a response header instead,
	// with the same values; a stream cut after its headers went out then
	// carries none. grpc-go's own transport sends it as a trailer.
	MetadataWWWAuthenticate = "www-authenticate"
)

// The error codes of a DPoP challenge of its own (RFC 9449, sections 7.1
// and 9); a DPoP refusal about the token uses errInvalidToken.
const (
	dpopErrProof = "invalid_dpop_proof"
	dpopErrNonce = "use_dpop_nonce"
)

// The logged causes of DPoP binding refusals.
var (
	errDPoPUnbound   = errors.New("grpcauth: DPoP scheme with a token that has no cnf claim")
	errDPoPCertBound = errors.New("grpcauth: DPoP scheme with a certificate-bound token (cnf x5t#S256)")
	errDPoPAsBearer  = errors.New("grpcauth: DPoP-bound token (cnf jkt) sent with the Bearer scheme")
	errNotDPoPBound  = errors.New("grpcauth: the method requires a DPoP-bound token (cnf jkt) and the token is not")
	errDPoPKeyMoved  = fmt.Errorf("grpcauth: the re-verified token is bound (cnf jkt) to another key than the one that signed the stream's DPoP proof: %w", dpop.ErrKeyMismatch)
)

// dpopRejection is newRejection for a refusal that carries a DPoP
// challenge with the error code errCode ("" for a bare challenge).
func dpopRejection(code codes.Code, reason, msg, errCode string) *rejection {
	var p *authParams
	if errCode != "" {
		p = errorParams(errCode, "")
	}
	return newRejection(code, reason, msg, nil).withChallenge(newChallenge(true, p))
}

// credential is what the authorization and dpop metadata of a call hold.
type credential struct {
	token string
	dpop  bool   // the DPoP scheme
	proof string // the dpop proof, with the DPoP scheme
	// proven, set for a DPoP stream's re-verification (streamWatch.rejudge)
	// only, is the key thumbprint (cnf jkt) the stream's proof was
	// checked against as the stream opened. The proof is not checked
	// again (it was spent then, and the client sends no other): checkDPoP
	// compares the re-verified token's jkt with this one instead.
	proven *[sha256.Size]byte
}

// credentials reads the call's access token (see accessToken) and, with
// the DPoP scheme, its proof: exactly one dpop value, or the call is
// refused (DPOP_PROOF_INVALID). With Config.RequireDPoP the Bearer scheme
// is refused (DPOP_REQUIRED). A dpop value next to a Bearer token is
// ignored: the token is then checked as a bearer token, and refused if it
// is DPoP-bound. With a rejection, the credential is empty but for dpop,
// which says the call used the DPoP scheme (its challenge is in that
// scheme).
func (a *Authenticator) credentials(ctx context.Context) (credential, bool, *rejection) {
	token, isDPoP, present, rej := accessToken(ctx)
	switch {
	case rej != nil || !present:
		return credential{dpop: isDPoP}, present, rej
	case !isDPoP && a.requireDPoP:
		return credential{}, true, rejDPoPRequired
	case !isDPoP:
		return credential{token: token}, true, nil
	}
	proofs := metadata.ValueFromIncomingContext(ctx, MetadataDPoP)
	if len(proofs) != 1 {
		return credential{dpop: true}, true, rejDPoPNoProof
	}
	return credential{token: token, dpop: true, proof: proofs[0]}, true, nil
}

// newDPoP builds the Authenticator's DPoP proof verifier from cfg, and
// returns it with its clock: Config.DPoP.Now, or else Config.Now, or else
// time.Now. checkDPoP judges a nonce's freshness on that clock, the one
// the Verifier checks and hands out nonces on, not the Authenticator's.
func newDPoP(cfg Config) (*dpop.Verifier, func() time.Time, error) {
	dc := cfg.DPoP
	if dc.Now == nil {
		dc.Now = cfg.Now
	}
	if dc.Now == nil {
		dc.Now = time.Now
	}
	v, err := dpop.NewVerifier(dc)
	if err != nil {
		return nil, nil, fmt.Errorf("grpcauth: Config.DPoP: %w", err)
	}
	return v, dc.Now, nil
}

// checkDPoP is checkBinding for a DPoP-bound token (kind cnfJKT, thumbprint
// jkt) or a DPoP-scheme call: the token must be DPoP-bound and come with
// the DPoP scheme, and the proof must be valid for this call (htm POST, htu
// the call's scheme://authority/method or a Config.DPoP.Origins origin,
// ath the token's hash; see pseudoHeader for calls through ServeCall) and
// signed by the token's key. With server nonces, a USE_DPOP_NONCE refusal
// gets the nonce to retry with in the dpop-nonce trailer, and an accepted
// proof that used an older nonce the current one in the dpop-nonce header;
// a nonce the NonceSource made malformed (dpop.ErrBadNonce) is never sent:
// the call is refused with rejInternal, fail closed, and the cause logged.
// For a stream's re-verification (cred.proven set) the proof is not
// checked again: the token must still be bound to the key the proof was
// checked against as the stream opened, or it is refused as a new call
// with a proof by that key is (DPOP_BINDING_MISMATCH).
func (a *Authenticator) checkDPoP(ctx context.Context, method string, cred credential, kind cnfKind, jkt [sha256.Size]byte) (binding, *rejection, error) {
	switch {
	case !cred.dpop:
		return binding{}, rejDPoPBoundAsBearer, errDPoPAsBearer
	case kind != cnfJKT:
		return binding{}, rejDPoPUnbound, errDPoPCertBound
	case cred.proven != nil && *cred.proven != jkt:
		return binding{}, rejDPoPKeyMismatch, errDPoPKeyMoved
	case cred.proven != nil:
		return binding{dpop: true}, nil, nil
	}
	scheme := "http"
	if _, isTLS := peerTLS(ctx); isTLS {
		scheme = "https"
	}
	p, err := verifyDPoP(a.dpop, ctx, cred.proof, dpop.Request{
		Method:        pseudoHeader(ctx, ":method", "POST"),
		Scheme:        scheme,
		Authority:     pseudoHeader(ctx, ":authority", ""),
		Path:          pseudoHeader(ctx, ":path", method),
		AccessToken:   cred.token,
		KeyThumbprint: base64.RawURLEncoding.EncodeToString(jkt[:]),
	})
	if err != nil {
		if e, ok := jwxpanic.Find(err); ok {
			// A bug (jwx's, or the dpop package's) that the proof reached:
			// the proof is refused as invalid, and the stack logged for
			// the report, at most once a minute (a.dpopPanics): anyone may
			// send the proof again and again.
			a.logRecovered(ctx, "grpcauth: panic recovered while checking a DPoP proof; the proof is refused as invalid", &a.dpopPanics, e.Stack,
				slog.String("method", clipLogged(method)), slog.String("panic", e.Error()))
		}
		rej := dpopErrorRejection(ctx, err)
		if rej == rejUseDPoPNonce {
			nonce, nerr := a.dpop.Nonce()
			if nerr != nil {
				return binding{}, rejInternal, fmt.Errorf("%w; %w", err, nerr)
			}
			setTrailer(ctx, metadata.Pairs(MetadataDPoPNonce, nonce))
		}
		return binding{}, rej, err
	}
	if n := a.dpop.Nonces(); n != nil && !nonceCurrent(n, p.Nonce, a.dpopNow()) {
		nonce, err := a.dpop.Nonce()
		if err != nil {
			return binding{}, rejInternal, err
		}
		_ = grpc.SetHeader(ctx, metadata.Pairs(MetadataDPoPNonce, nonce))
	}
	return binding{dpop: true}, nil, nil
}

// verifyDPoP is dpop.Verifier.Verify, which checkDPoP calls; a test
// replaces it with one that recovers a panic of jwx's.
var verifyDPoP = (*dpop.Verifier).Verify

// nonceCurrent reports whether nonce, from a proof that verified, needs no
// newer one in the response: by the NonceSource's Current method when it
// has one (HMACNonces does: a nonce of the next window, which a replica
// whose clock is ahead made, is newer than this replica's own), or else by
// being the nonce it would hand out now.
func nonceCurrent(n dpop.NonceSource, nonce string, now time.Time) bool {
	if c, ok := n.(interface{ Current(string, time.Time) bool }); ok {
		return c.Current(nonce, now)
	}
	return nonce == n.Nonce(now)
}

// pseudoHeader returns the one value of the HTTP/2 pseudo-header name in
// the call's incoming metadata, or def when there is none or more than one.
// grpc-go passes on ":authority" only, so its calls are POSTs to the method
// (the defaults); ServeCall's adapters may set ":method" and ":path" to the
// request line the client sent (a Connect GET, a REST route through
// vanguard). No client can set a pseudo-header itself: both grpc-go's
// transports and connectauth drop request metadata keys starting with ":".
func pseudoHeader(ctx context.Context, name, def string) string {
	if v := metadata.ValueFromIncomingContext(ctx, name); len(v) == 1 {
		return v[0]
	}
	return def
}

// dpopErrorRejection maps an error of dpop.Verifier.Verify on the call
// whose context is ctx to what the caller gets: the call's own context
// ending first (callEnded); a replay store that timed out while the call
// still had time is ErrReplayCheckUnavailable.
func dpopErrorRejection(ctx context.Context, err error) *rejection {
	if r := callEnded(ctx, err); r != nil {
		return r
	}
	switch {
	case errors.Is(err, dpop.ErrKeyMismatch):
		return rejDPoPKeyMismatch
	case errors.Is(err, dpop.ErrUseNonce):
		return rejUseDPoPNonce
	case errors.Is(err, dpop.ErrReplayed):
		return rejDPoPReplayed
	case errors.Is(err, dpop.ErrReplayQuotaExceeded): // before the ErrReplayCheckUnavailable wrapping it
		return rejDPoPRateLimit
	case errors.Is(err, dpop.ErrReplayCheckUnavailable):
		return rejDPoPReplayCheck
	default:
		return rejDPoPProofInvalid
	}
}
