package grpcauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/peer"

	"github.com/grpcauth/grpcauth/internal/localpeer"
	"github.com/grpcauth/grpcauth/verifier"
)

// The confirmation claim (RFC 7800), its certificate-thumbprint member
// (RFC 8705, 3.1) and its DPoP key-thumbprint member (RFC 9449, 6.1).
const (
	cnfClaim   = "cnf"
	x5tS256Key = "x5t#S256"
	jktKey     = "jkt"
)

var (
	errNoClientCert   = errors.New("grpcauth: the token is certificate-bound but the connection has no TLS client certificate")
	errCertMismatch   = errors.New("grpcauth: the token is bound to another certificate than the connection's TLS client certificate")
	errTokenUnbound   = errors.New("grpcauth: the method requires a certificate-bound token (cnf x5t#S256) and the token is not bound")
	errMalformedCnf   = errors.New("grpcauth: malformed cnf claim")
	errUnsupportedCnf = errors.New("grpcauth: the token is bound by a confirmation method grpcauth cannot check")
)

// binding says how a verified token is bound to its client, once the
// binding has been checked.
type binding struct {
	cert bool // certificate-bound (RFC 8705), matching the connection
	dpop bool // DPoP-bound (RFC 9449), with a matching proof
}

// cnfKind is the confirmation method of a cnf claim.
type cnfKind uint8

const (
	cnfNone cnfKind = iota
	cnfCert         // x5t#S256
	cnfJKT          // jkt
)

// cnfMembers are the cnf members grpcauth checks, by kind, and
// cnfPrefixes the start of their usual compact encoding, {"member":"….
var (
	cnfMembers  = [...]string{cnfCert: x5tS256Key, cnfJKT: jktKey}
	cnfPrefixes = [...]string{cnfCert: `{"` + x5tS256Key + `":"`, cnfJKT: `{"` + jktKey + `":"`}
)

// checkBinding enforces the binding of a token that has a cnf claim, and
// the agreement of the scheme with it:
//
//   - x5t#S256 (RFC 8705, 3): it must equal the base64url-encoded SHA-256
//     of the DER of the connection's TLS client certificate, compared in
//     constant time;
//   - jkt (RFC 9449, 7): the call must use the DPoP scheme, and its proof
//     must pass every check of RFC 9449, 4.3 and be signed by the key with
//     that thumbprint (checkDPoP);
//   - no cnf: a DPoP-scheme call is refused, as its proof would prove
//     nothing about the token.
//
// rej is nil when the checks passed. A token bound by any other
// confirmation method (jwk, kid, …) is refused, fail closed: accepting it
// as a plain bearer token would throw away the sender constraint its issuer
// put on it. A bearer token without cnf costs one scan of the claim names.
func (a *Authenticator) checkBinding(ctx context.Context, method string, cred credential, c verifier.Claims) (binding, *rejection, error) {
	if !c.Has(cnfClaim) {
		if cred.dpop {
			return binding{}, rejDPoPUnbound, errDPoPUnbound
		}
		return binding{}, nil, nil
	}
	raw, _ := c.Raw(cnfClaim)
	kind, want, err := cnfThumbprint(raw)
	if err != nil {
		if errors.Is(err, errUnsupportedCnf) {
			return binding{}, rejBindingUnsupported, err
		}
		return binding{}, rejInvalid, err
	}
	if kind == cnfJKT || cred.dpop {
		return a.checkDPoP(ctx, method, cred, kind, want)
	}
	cert := clientCertificate(ctx)
	if cert == nil {
		return binding{}, rejNoClientCert, errNoClientCert
	}
	got := sha256.Sum256(cert.Raw)
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return binding{}, rejBindingMismatch, errCertMismatch
	}
	return binding{cert: true}, nil, nil
}

// dpopKey returns the DPoP key thumbprint (cnf jkt) c binds its token to,
// and whether it binds it to one. For the claims a DPoP-scheme call was
// admitted with, it is the thumbprint its proof was checked against.
func dpopKey(c verifier.Claims) (jkt [sha256.Size]byte, ok bool) {
	raw, ok := c.Raw(cnfClaim)
	if !ok {
		return jkt, false
	}
	kind, jkt, err := cnfThumbprint(raw)
	return jkt, err == nil && kind == cnfJKT
}

// jsonWhiteSpace is the white space JSON allows around a value (RFC 8259,
// section 2); bytes.TrimSpace would also trim \v, \f and Unicode spaces,
// which encoding/json refuses.
const jsonWhiteSpace = " \t\n\r"

// thumbprintLen is the length of the unpadded base64url encoding of a
// SHA-256 digest.
const thumbprintLen = 43

// thumbprintEncoding decodes a cnf thumbprint: unpadded base64url, strict.
// The last of its 43 characters carries 4 bits of the digest and 2 bits
// that must be zero (RFC 4648, 3.5); a lenient decoder ignores them, so
// that four strings decode to one digest, and a token that another
// implementation, comparing the encoded strings, refuses would pass here.
var thumbprintEncoding = base64.RawURLEncoding.Strict()

// cnfThumbprint decodes a cnf claim's JSON: an object whose only member
// (RFC 7800, 3.1: a cnf claim represents one proof-of-possession key) is
// x5t#S256 or jkt, holding the unpadded base64url encoding of 32 bytes,
// in its one canonical form (thumbprintEncoding). Member names match
// exactly: a case variant ("X5T#S256") is a member grpcauth does not
// know. Of a repeated member the last counts, as of a repeated claim
// (RFC 7519, 4). The
// usual compact forms are decoded without encoding/json; anything else
// takes the general path, which FuzzCnfThumbprint checks agrees with them.
func cnfThumbprint(raw []byte) (cnfKind, [sha256.Size]byte, error) {
	if kind, t, ok := compactCnfThumbprint(raw); ok {
		return kind, t, nil
	}
	return decodeCnf(raw)
}

// compactCnfThumbprint decodes {"x5t#S256":"<thumbprint>"} or
// {"jkt":"<thumbprint>"} exactly (outer JSON white space aside), or reports
// false. base64url characters need no JSON escaping, so the string's bytes
// are its value.
func compactCnfThumbprint(raw []byte) (kind cnfKind, t [sha256.Size]byte, ok bool) {
	b := bytes.Trim(raw, jsonWhiteSpace)
	for k := cnfCert; k <= cnfJKT; k++ {
		prefix := cnfPrefixes[k]
		if len(b) != len(prefix)+thumbprintLen+len(`"}`) || !bytes.HasPrefix(b, []byte(prefix)) || !bytes.HasSuffix(b, []byte(`"}`)) {
			continue
		}
		enc := b[len(prefix) : len(prefix)+thumbprintLen]
		for _, ch := range enc {
			if !isBase64URL(ch) {
				return cnfNone, t, false
			}
		}
		n, err := thumbprintEncoding.Decode(t[:], enc)
		return k, t, err == nil && n == sha256.Size
	}
	return cnfNone, t, false
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// decodeCnf is cnfThumbprint for any JSON encoding.
func decodeCnf(raw []byte) (kind cnfKind, t [sha256.Size]byte, err error) {
	var cnf map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cnf); err != nil {
		return cnfNone, t, fmt.Errorf("%w: not a JSON object: %w", errMalformedCnf, err)
	}
	if len(cnf) == 0 {
		return cnfNone, t, fmt.Errorf("%w: no confirmation method", errMalformedCnf)
	}
	var member json.RawMessage
	for k := cnfCert; k <= cnfJKT; k++ {
		if m, ok := cnf[cnfMembers[k]]; ok && len(cnf) == 1 {
			kind, member = k, m
		}
	}
	if kind == cnfNone {
		others := make([]string, 0, len(cnf))
		for k := range cnf {
			others = append(others, strconv.Quote(k))
		}
		slices.Sort(others)
		return cnfNone, t, fmt.Errorf("%w: cnf has %s (one of %q or %q is supported)", errUnsupportedCnf, clipLogged(strings.Join(others, ", ")), x5tS256Key, jktKey)
	}
	name := cnfMembers[kind]
	var s string
	if err := json.Unmarshal(member, &s); err != nil {
		return cnfNone, t, fmt.Errorf("%w: %s is not a string", errMalformedCnf, name)
	}
	if len(s) != thumbprintLen || strings.IndexFunc(s, func(r rune) bool { return r > 0x7f || !isBase64URL(byte(r)) }) >= 0 {
		return cnfNone, t, fmt.Errorf("%w: %s is not the unpadded base64url encoding of a SHA-256 digest", errMalformedCnf, name)
	}
	if n, err := thumbprintEncoding.Decode(t[:], []byte(s)); err != nil || n != sha256.Size {
		return cnfNone, t, fmt.Errorf("%w: %s is not the unpadded base64url encoding of a SHA-256 digest", errMalformedCnf, name)
	}
	return kind, t, nil
}

// clientCertificate returns the TLS client certificate of the call's
// connection, or nil. The TLS handshake proved that the client holds its
// private key, whether or not the server verified its chain (RFC 8705 also
// binds tokens to self-signed certificates, 2.2); on a resumed session,
// the full handshake the session came from did, and crypto/tls restores
// its certificate. A connection state whose handshake is not complete
// (State.HandshakeComplete false, which grpc-go and net/http never hand
// over, but an adapter building its own peer for ServeCall might, and
// connectauth behind an HTTP/3 server for a request in 0-RTT early data)
// has proved nothing, so its certificates are ignored.
func clientCertificate(ctx context.Context) *x509.Certificate {
	certs, _ := peerTLS(ctx)
	if len(certs) == 0 {
		return nil
	}
	return certs[0]
}

// peerTLS reports whether the call's connection is a TLS connection, and
// returns the client's certificate chain when it is and its handshake is
// complete (see clientCertificate). The connection is TLS when its
// AuthInfo is a credentials.TLSInfo, by value or pointer, or a type of
// its own that embeds one; tokencreds names the connection by the same
// rule (localpeer.TLS) for a DPoP proof's htu.
func peerTLS(ctx context.Context) (certs []*x509.Certificate, isTLS bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p == nil {
		return nil, false
	}
	return localpeer.TLS(p.AuthInfo)
}

// CertificateThumbprint returns the x5t#S256 confirmation value of cert
// (RFC 8705, 3.1): the unpadded base64url encoding of the SHA-256 digest of
// its DER encoding. An authorization server binds a token to cert by putting
// {"cnf": {"x5t#S256": CertificateThumbprint(cert)}} in it.
func CertificateThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
