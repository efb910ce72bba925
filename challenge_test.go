package grpcauth

import "testing"

// A value that held '"' or '\' must not end its quoted-string early nor
// smuggle in another auth-param (RFC 9110, section 5.6.4).
func TestAuthParams_QuotedStringEscapesQuoteAndBackslash(t *testing.T) {
	var p authParams
	p.quoted("acr_values", `a", max_age=0, x="\`).quoted("max_age", "300")
	const want = `acr_values="a\", max_age=0, x=\"\\", max_age="300"`
	if got := p.String(); got != want {
		t.Errorf("auth-params = %s, want %s", got, want)
	}
}
