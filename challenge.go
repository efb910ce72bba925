package grpcauth

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// challenge is the www-authenticate challenge a refusal carries
// (RFC 9110, section 11.6.1): a scheme, then auth-params.
type challenge struct {
	// dpop: the DPoP scheme (RFC 9449, section 7.1) whatever the call
	// used, for a DPoP refusal. Otherwise the challenge is in the scheme
	// of the call's credentials: DPoP or Bearer (RFC 6750, section 3).
	dpop bool
	// params are the auth-params after the scheme, rendered by
	// authParams ("" for none). A DPoP challenge adds algs.
	params string
}

// authParams renders the auth-params of a challenge (RFC 9110, section
// 11.2), separated by ", ".
type authParams struct{ b strings.Builder }

// quotedStringEscaper escapes the two characters a quoted-string cannot
// hold bare (RFC 9110, section 5.6.4).
var quotedStringEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// quoted adds name="value", value a quoted-string with '"' and '\'
// escaped. value holds no control character: every value is a fixed
// string or configuration checked when it was compiled.
func (p *authParams) quoted(name, value string) *authParams {
	if p.b.Len() > 0 {
		p.b.WriteString(", ")
	}
	p.b.WriteString(name)
	p.b.WriteString(`="`)
	_, _ = quotedStringEscaper.WriteString(&p.b, value)
	p.b.WriteByte('"')
	return p
}

// String returns the auth-params rendered so far.
func (p *authParams) String() string { return p.b.String() }

// setChallenge sets the www-authenticate trailer of a refusal that carries
// a challenge: every DPoP refusal, in the DPoP scheme with the accepted
// algs (RFC 9449, section 7.1), and for USE_DPOP_NONCE the dpop-nonce
// trailer with the nonce to retry with; and a step-up refusal (RFC 9470,
// section 3) in the scheme of the call, DPoP when dpopScheme (RFC 9449's
// DPoP scheme carries the error codes of RFC 6750, section 3.1, and RFC
// 9470 extends those), Bearer otherwise. Other refusals are left alone.
func (a *Authenticator) setChallenge(ctx context.Context, rej *rejection, dpopScheme bool) {
	ch := rej.challenge
	if ch == nil {
		return
	}
	var p authParams
	p.b.WriteString(ch.params)
	scheme := "Bearer"
	if ch.dpop || dpopScheme {
		scheme = "DPoP"
		p.quoted("algs", strings.Join(a.dpop.Algorithms(), " "))
	}
	value := scheme
	if params := p.String(); params != "" {
		value += " " + params
	}
	md := metadata.Pairs(MetadataWWWAuthenticate, value)
	if n := a.dpop.Nonces(); n != nil && rej == rejUseDPoPNonce {
		md.Set(MetadataDPoPNonce, n.Nonce(a.now()))
	}
	_ = grpc.SetTrailer(ctx, md)
}
