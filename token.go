package grpcauth

import (
	"context"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc/metadata"
)

// authorizationKey is the metadata key of the credentials (HTTP/2 header
// names are lower case).
const authorizationKey = "authorization"

// accessToken extracts the token and its scheme from the call's
// authorization metadata. It returns present == false when there is no
// authorization metadata at all, and a rejection when the metadata is there
// but unusable:
//
//   - more than one authorization value: rejected (ACCESS_TOKEN_INVALID)
//     rather than picking one, as a proxy and the server might otherwise
//     disagree about which token was checked; in the DPoP scheme when
//     every value uses it;
//   - a value that does not start with an auth-scheme, a token of RFC
//     9110 (section 11.4) ended by a space: rejected (ACCESS_TOKEN_INVALID,
//     a malformed value), such as an empty value, one starting with a
//     space, or "Bearer\t<token>" (the scheme ends with a space, never a
//     tab, unless only spaces and tabs follow) or a scheme with a
//     character outside ASCII;
//   - no credentials after the scheme, whatever the scheme (nothing, or
//     only spaces and tabs, after it): ACCESS_TOKEN_INVALID, malformed;
//     so a token sent without its scheme gets one answer, whether it
//     happens to be a valid auth-scheme (a JWT) or not (one with '=' or
//     '/'), and "Basic ", "Bearer \t" or "DPoP\t" gets the answer
//     "Basic", "Bearer" or "DPoP" does, which is what it becomes over
//     HTTP/1.1 (net/http trims the spaces and tabs after a header value);
//   - a scheme other than Bearer or DPoP (RFC 9449, section 7.1; both
//     compared case-insensitively, RFC 9110, section 11.1), followed by
//     credentials: ACCESS_TOKEN_TYPE_UNSUPPORTED.
//
// The token itself is passed to the verifier as is, apart from the spaces
// separating it from the scheme. isDPoP reports the DPoP scheme, also
// with the rejection of a DPoP scheme without a token, whose challenge is
// in the scheme the call used.
func accessToken(ctx context.Context) (token string, isDPoP, present bool, rej *rejection) {
	vals := metadata.ValueFromIncomingContext(ctx, authorizationKey)
	switch len(vals) {
	case 0:
		return "", false, false, nil
	case 1:
	default:
		return "", !slices.ContainsFunc(vals, func(v string) bool { return !isDPoPScheme(v) }), true, rejMalformed
	}
	scheme, rest := authScheme(vals[0])
	// "Bearer" as spelled, the usual case, is a valid scheme, and no
	// scheme is both Bearer and DPoP: each comparison is skipped when
	// its answer is known.
	bearer := scheme == "Bearer"
	if !bearer && !httpguts.ValidHeaderFieldName(scheme) { // a token: a header name's syntax
		return "", false, true, rejMalformed
	}
	bearer = bearer || strings.EqualFold(scheme, "Bearer")
	isDPoP = !bearer && strings.EqualFold(scheme, "DPoP")
	switch token = strings.TrimLeft(rest, " "); {
	case trimBlankRight(token) == "": // a scheme without credentials, or a bare token
		return "", isDPoP, true, rejMalformed
	case !isDPoP && !bearer:
		return "", false, true, rejScheme
	}
	return token, isDPoP, true, nil
}

// isDPoPScheme reports whether the authorization value v starts with the
// DPoP scheme (in any case) ended by a space, or is that scheme alone,
// perhaps followed by spaces and tabs (authScheme).
func isDPoPScheme(v string) bool {
	scheme, _ := authScheme(v)
	return strings.EqualFold(scheme, "DPoP")
}

// authScheme splits the authorization value v into what precedes its
// first space, the auth-scheme if v is well formed, and the rest, which
// starts with that space (or is only the spaces and tabs ending v). The
// spaces and tabs that end v are never part of the scheme: "DPoP\t" is
// the DPoP scheme alone, as HTTP/1.1, which drops them, delivers it.
func authScheme(v string) (scheme, rest string) {
	scheme, _, _ = strings.Cut(trimBlankRight(v), " ")
	return scheme, v[len(scheme):]
}

// trimBlankRight is strings.TrimRight(s, " \t"), without building the
// cutset's table on every call: a token's value is read on every call.
func trimBlankRight(s string) string {
	i := len(s)
	for i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
		i--
	}
	return s[:i]
}
