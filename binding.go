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

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/grpcauth/grpcauth/verifier"
)

// The confirmation claim (RFC 7800) and its certificate-thumbprint member
// (RFC 8705, 3.1).
const (
	cnfClaim   = "cnf"
	x5tS256Key = "x5t#S256"
)

var (
	errNoClientCert   = errors.New("grpcauth: the token is certificate-bound but the connection has no TLS client certificate")
	errCertMismatch   = errors.New("grpcauth: the token is bound to another certificate than the connection's TLS client certificate")
	errTokenUnbound   = errors.New("grpcauth: the method requires a certificate-bound token (cnf x5t#S256) and the token is not bound")
	errMalformedCnf   = errors.New("grpcauth: malformed cnf claim")
	errUnsupportedCnf = errors.New("grpcauth: the token is bound by a confirmation method grpcauth cannot check")
)

// checkBinding enforces a certificate-bound token (RFC 8705, 3): when the
// verified claims carry a cnf claim, its x5t#S256 member must equal the
// base64url-encoded SHA-256 of the DER of the connection's TLS client
// certificate, compared in constant time. It reports whether the token is
// bound; rej is nil when the check passed or the token is not bound.
//
// A token bound by any other confirmation method (DPoP's jkt, jwk, kid, …)
// is refused, fail closed: accepting it as a plain bearer token would throw
// away the sender constraint its issuer put on it. A token without cnf
// costs one scan of the claim names and nothing else.
func checkBinding(ctx context.Context, c verifier.Claims) (bound bool, rej *rejection, cause error) {
	if !c.Has(cnfClaim) {
		return false, nil, nil
	}
	raw, _ := c.Raw(cnfClaim)
	want, err := cnfThumbprint(raw)
	if err != nil {
		if errors.Is(err, errUnsupportedCnf) {
			return true, rejBindingUnsupported, err
		}
		return true, rejInvalid, err
	}
	cert := clientCertificate(ctx)
	if cert == nil {
		return true, rejNoClientCert, errNoClientCert
	}
	got := sha256.Sum256(cert.Raw)
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return true, rejBindingMismatch, errCertMismatch
	}
	return true, nil, nil
}

// thumbprintLen is the length of the unpadded base64url encoding of a
// SHA-256 digest.
const thumbprintLen = 43

// compactCnfPrefix and compactCnfSuffix frame the usual encoding of a cnf
// claim, {"x5t#S256":"<43 characters>"}.
const (
	compactCnfPrefix = `{"` + x5tS256Key + `":"`
	compactCnfSuffix = `"}`
)

// cnfThumbprint decodes the x5t#S256 member of a cnf claim's JSON: an
// object whose only member is x5t#S256 (RFC 7800, 3.1: a cnf claim
// represents one proof-of-possession key), holding the unpadded base64url
// encoding of 32 bytes. The usual compact form is decoded without
// encoding/json; anything else takes the general path, which
// FuzzCnfThumbprint checks agrees with it.
func cnfThumbprint(raw []byte) ([sha256.Size]byte, error) {
	if t, ok := compactCnfThumbprint(raw); ok {
		return t, nil
	}
	return decodeCnf(raw)
}

// compactCnfThumbprint decodes {"x5t#S256":"<thumbprint>"} exactly (outer
// white space aside), or reports false. base64url characters need no JSON
// escaping, so the string's bytes are its value.
func compactCnfThumbprint(raw []byte) (t [sha256.Size]byte, ok bool) {
	b := bytes.TrimSpace(raw)
	if len(b) != len(compactCnfPrefix)+thumbprintLen+len(compactCnfSuffix) ||
		!bytes.HasPrefix(b, []byte(compactCnfPrefix)) || !bytes.HasSuffix(b, []byte(compactCnfSuffix)) {
		return t, false
	}
	enc := b[len(compactCnfPrefix) : len(compactCnfPrefix)+thumbprintLen]
	for _, ch := range enc {
		if !isBase64URL(ch) {
			return t, false
		}
	}
	n, err := base64.RawURLEncoding.Decode(t[:], enc)
	return t, err == nil && n == sha256.Size
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// decodeCnf is cnfThumbprint for any JSON encoding.
func decodeCnf(raw []byte) (t [sha256.Size]byte, err error) {
	var cnf map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cnf); err != nil {
		return t, fmt.Errorf("%w: not a JSON object: %w", errMalformedCnf, err)
	}
	member, ok := cnf[x5tS256Key]
	if !ok || len(cnf) > 1 {
		if len(cnf) == 0 {
			return t, fmt.Errorf("%w: no confirmation method", errMalformedCnf)
		}
		others := make([]string, 0, len(cnf))
		for k := range cnf {
			if k != x5tS256Key {
				others = append(others, strconv.Quote(k))
			}
		}
		slices.Sort(others)
		return t, fmt.Errorf("%w: cnf has %s (only %q is supported)", errUnsupportedCnf, strings.Join(others, ", "), x5tS256Key)
	}
	var s string
	if err := json.Unmarshal(member, &s); err != nil {
		return t, fmt.Errorf("%w: %s is not a string", errMalformedCnf, x5tS256Key)
	}
	if len(s) != thumbprintLen || strings.IndexFunc(s, func(r rune) bool { return r > 0x7f || !isBase64URL(byte(r)) }) >= 0 {
		return t, fmt.Errorf("%w: %s is not the unpadded base64url encoding of a SHA-256 digest", errMalformedCnf, x5tS256Key)
	}
	if n, err := base64.RawURLEncoding.Decode(t[:], []byte(s)); err != nil || n != sha256.Size {
		return t, fmt.Errorf("%w: %s is not the unpadded base64url encoding of a SHA-256 digest", errMalformedCnf, x5tS256Key)
	}
	return t, nil
}

// clientCertificate returns the TLS client certificate of the call's
// connection, or nil. The TLS handshake proved that the client holds its
// private key, whether or not the server verified its chain (RFC 8705 also
// binds tokens to self-signed certificates, 2.2).
func clientCertificate(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok || p == nil {
		return nil
	}
	var certs []*x509.Certificate
	switch ai := p.AuthInfo.(type) {
	case credentials.TLSInfo:
		certs = ai.State.PeerCertificates
	case *credentials.TLSInfo:
		if ai != nil {
			certs = ai.State.PeerCertificates
		}
	}
	if len(certs) == 0 {
		return nil
	}
	return certs[0]
}

// CertificateThumbprint returns the x5t#S256 confirmation value of cert
// (RFC 8705, 3.1): the unpadded base64url encoding of the SHA-256 digest of
// its DER encoding. An authorization server binds a token to cert by putting
// {"cnf": {"x5t#S256": CertificateThumbprint(cert)}} in it.
func CertificateThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
