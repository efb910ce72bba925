package grpcauth

import (
	"context"
	"strings"

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
//     disagree about which token was checked;
//   - a scheme other than Bearer or DPoP (RFC 9449, section 7.1; both
//     compared case-insensitively, RFC 9110, section 11.1): ACCESS_TOKEN_TYPE_UNSUPPORTED;
//   - no token after the scheme: ACCESS_TOKEN_INVALID.
//
// The token itself is passed to the verifier as is, apart from the spaces
// separating it from the scheme. isDPoP reports the DPoP scheme.
func accessToken(ctx context.Context) (token string, isDPoP, present bool, rej *rejection) {
	vals := metadata.ValueFromIncomingContext(ctx, authorizationKey)
	switch len(vals) {
	case 0:
		return "", false, false, nil
	case 1:
	default:
		return "", false, true, rejMalformed
	}
	scheme, rest, _ := strings.Cut(vals[0], " ")
	isDPoP = strings.EqualFold(scheme, "DPoP")
	if !isDPoP && !strings.EqualFold(scheme, "Bearer") {
		if scheme == "" && strings.TrimLeft(rest, " ") == "" {
			return "", false, true, rejMalformed // an empty value
		}
		return "", false, true, rejScheme
	}
	token = strings.TrimLeft(rest, " ")
	if token == "" {
		return "", false, true, rejMalformed
	}
	return token, isDPoP, true, nil
}
