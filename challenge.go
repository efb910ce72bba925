package grpcauth

import (
	"context"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// The error codes of a Bearer challenge (RFC 6750, section 3.1), which
// RFC 9449's DPoP scheme shares (section 7.1).
const (
	errInvalidRequest    = "invalid_request"
	errInvalidToken      = "invalid_token"
	errInsufficientScope = "insufficient_scope"
)

// challenge is the www-authenticate challenge a refusal carries
// (RFC 9110, section 11.6.1): a scheme, then auth-params. It is rendered
// once, with the rejection it belongs to, so that a refusal sets it
// without building a string (but for a DPoP challenge's algs, which belong
// to the Authenticator).
type challenge struct {
	// dpop: the DPoP scheme (RFC 9449, section 7.1) whatever the call
	// used, for a DPoP refusal. Otherwise the challenge is in the scheme
	// of the call's credentials: DPoP or Bearer (RFC 6750, section 3).
	dpop bool
	// bothSchemes: the refusal of a call that used neither scheme (no
	// credentials, or another scheme such as Basic), or of a DPoP-bound
	// token sent with the Bearer scheme, which challenges in both, Bearer
	// then a bare DPoP challenge, unless only DPoP is taken (RFC 9449,
	// section 7.2, Figures 17 and 18; RFC 9110, section 11.6.1). The
	// auth-params, if any, are the Bearer challenge's: the call used that
	// scheme, if any.
	bothSchemes bool
	// bearer is the whole challenge in the Bearer scheme: "Bearer", or
	// "Bearer " and the auth-params.
	bearer string
	// dpopPrefix is the challenge in the DPoP scheme up to the algs
	// auth-param, which Authenticator.setChallenge appends: "DPoP ", or
	// "DPoP ", the auth-params and ", ".
	dpopPrefix string
}

// newChallenge renders the challenge with the auth-params p (nil for
// none), in the DPoP scheme only when dpop.
func newChallenge(dpop bool, p *authParams) *challenge {
	ch := &challenge{dpop: dpop, bearer: "Bearer", dpopPrefix: "DPoP "}
	if params := p.String(); params != "" {
		ch.bearer += " " + params
		ch.dpopPrefix += params + ", "
	}
	return ch
}

// errorParams returns the auth-params error=code and, unless description
// is "", error_description=description: a fixed string within RFC 6750's
// characters for it (section 3: printable ASCII but '"' and '\').
func errorParams(code, description string) *authParams {
	var p authParams
	p.quoted("error", code)
	if description != "" {
		p.quoted("error_description", description)
	}
	return &p
}

// withChallenge gives r the challenge ch and returns r; for building the
// fixed rejections.
func (r *rejection) withChallenge(ch *challenge) *rejection {
	r.challenge = ch
	return r
}

// inBothSchemes marks r's challenge as offering both schemes
// (challenge.bothSchemes) and returns r; for building the fixed rejections.
func (r *rejection) inBothSchemes() *rejection {
	r.challenge.bothSchemes = true
	return r
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

// String returns the auth-params rendered so far ("" for a nil p).
func (p *authParams) String() string {
	if p == nil {
		return ""
	}
	return p.b.String()
}

// dpopAlgs renders the algs auth-param of the DPoP challenges of an
// Authenticator accepting proofs signed with algs (RFC 9449, section 7.1).
func dpopAlgs(algs []string) string {
	var p authParams
	return p.quoted("algs", strings.Join(algs, " ")).String()
}

// setChallenge sets the www-authenticate trailer of a refusal that carries
// a challenge (rejection.challenge; see status.go for which do): a DPoP
// refusal in the DPoP scheme with the accepted algs (RFC 9449, section
// 7.1; checkDPoP sets a USE_DPOP_NONCE refusal's dpop-nonce trailer);
// any other in the scheme of the call, DPoP when dpopScheme
// (RFC 9449's DPoP scheme carries the error codes of RFC 6750, section
// 3.1, and RFC 9470 extends those), Bearer otherwise. A refusal of a call
// that used neither scheme (challenge.bothSchemes: no credentials, or
// another scheme) gets two values instead, a bare Bearer and a DPoP
// challenge with the algs, unless dpopScheme (only DPoP is taken): the
// server takes either (RFC 9449, section 7.2). The refusal of a DPoP-bound
// token sent with the Bearer scheme gets both too, but its Bearer
// challenge carries the error: the challenge of the scheme the call used
// delivers the error information (section 7.2, Figure 18). Refusals
// without a challenge (unavailable, cancelled, no rule, condition) set
// nothing. Under grpc.Server.ServeHTTP the challenge goes out as a
// response header instead, or not at all once the headers went out: see
// setTrailer.
func (a *Authenticator) setChallenge(ctx context.Context, rej *rejection, dpopScheme bool) {
	if values := rej.challenge.values(dpopScheme, a.dpopAlgs); values != nil {
		setTrailer(ctx, metadata.MD{MetadataWWWAuthenticate: values})
	}
}

// setTrailer sets md, a refusal's response metadata, as the call's
// trailer (grpc.SetTrailer), unless the call runs under net/http
// (grpc.Server.ServeHTTP: ctx carries http.ServerContextKey, which
// grpc-go's own transport never sets) and a key of md is not a valid
// HTTP trailer name (www-authenticate: RFC 9110, section 6.5.1;
// httpguts.ValidTrailerHeader). net/http would drop such a trailer and
// log "ignoring invalid trailer" for every refused call, a line any
// caller could repeat at will; md is then set as a response header
// (grpc.SetHeader) instead, which reaches the caller when the headers
// have not gone out yet (a unary refusal, a stream refused as it opens),
// and is dropped otherwise (a stream cut after its headers were sent:
// grpc.SetHeader fails). The context is the only sign: the
// grpc.ServerTransportStream in it is of the same type under both of
// grpc-go's transports, and a call a net/http handler makes to a grpc-go
// server in the same process (bufconn) reaches it in a context of that
// server's transport, without the key. Behind vanguard, whose writer
// would relay the trailer to a Connect or gRPC-Web caller, a stream cut
// after its headers thus carries no challenge either. connectauth, also
// under net/http, collects what grpc.SetHeader and grpc.SetTrailer set
// alike, so nothing changes there.
func setTrailer(ctx context.Context, md metadata.MD) {
	if ctx.Value(http.ServerContextKey) != nil {
		for k := range md {
			if !httpguts.ValidTrailerHeader(k) {
				_ = grpc.SetHeader(ctx, md)
				return
			}
		}
	}
	_ = grpc.SetTrailer(ctx, md)
}

// values returns the www-authenticate values of ch (nil for a nil ch) for
// a call in the DPoP scheme when dpopScheme, algs being the rendered algs
// auth-param (dpopAlgs); see Authenticator.setChallenge.
func (ch *challenge) values(dpopScheme bool, algs string) []string {
	if ch == nil {
		return nil
	}
	values := []string{ch.bearer}
	switch {
	case ch.dpop || dpopScheme:
		values[0] = ch.dpopPrefix + algs
	case ch.bothSchemes:
		values = append(values, "DPoP "+algs)
	}
	return values
}
