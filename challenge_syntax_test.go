package grpcauth

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth/dpop"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// authParam is one auth-param of a parsed challenge: its name and its
// value, unescaped when it was a quoted-string.
type authParam struct{ name, value string }

// isTchar reports whether c is an RFC 9110 tchar (section 5.6.2).
func isTchar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// parseChallenge parses v as one challenge of RFC 9110's grammar (section
// 11.6.1): auth-scheme [ 1*SP #auth-param ], each auth-param token BWS "="
// BWS ( token / quoted-string ). token68 is not accepted: the package
// never sends one. It is written from the RFC, not from challenge.go, so
// that it reads the challenges as a client would.
func parseChallenge(v string) (scheme string, params []authParam, err error) {
	i := 0
	token := func() string {
		j := i
		for i < len(v) && isTchar(v[i]) {
			i++
		}
		return v[j:i]
	}
	ows := func() {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
	}
	if scheme = token(); scheme == "" {
		return "", nil, fmt.Errorf("no auth-scheme at %d", i)
	}
	if i == len(v) {
		return scheme, nil, nil
	}
	if v[i] != ' ' {
		return "", nil, fmt.Errorf("%q after the auth-scheme", v[i])
	}
	for i < len(v) && v[i] == ' ' {
		i++
	}
	seen := map[string]bool{}
	for {
		name := token()
		if name == "" {
			return "", nil, fmt.Errorf("no auth-param name at %d", i)
		}
		ows()
		if i == len(v) || v[i] != '=' {
			return "", nil, fmt.Errorf("no '=' after %s", name)
		}
		i++
		ows()
		var value string
		if i < len(v) && v[i] == '"' {
			i++
			var b strings.Builder
			for {
				if i == len(v) {
					return "", nil, fmt.Errorf("unterminated quoted-string for %s", name)
				}
				c := v[i]
				i++
				if c == '"' {
					break
				}
				if c == '\\' {
					if i == len(v) || !(v[i] == '\t' || v[i] >= 0x20 && v[i] != 0x7f) {
						return "", nil, fmt.Errorf("bad quoted-pair in %s", name)
					}
					c = v[i]
					i++
				} else if !(c == '\t' || c == ' ' || c == 0x21 || c >= 0x23 && c <= 0x5b || c >= 0x5d && c <= 0x7e || c >= 0x80) {
					return "", nil, fmt.Errorf("%q in the quoted-string of %s", c, name)
				}
				b.WriteByte(c)
			}
			value = b.String()
		} else if value = token(); value == "" {
			return "", nil, fmt.Errorf("no value for %s", name)
		}
		// RFC 9110, section 11.2: names are case-insensitive, and each
		// occurs at most once in a challenge.
		if lower := strings.ToLower(name); seen[lower] {
			return "", nil, fmt.Errorf("auth-param %s repeated", name)
		} else {
			seen[lower] = true
		}
		params = append(params, authParam{name, value})
		ows()
		if i == len(v) {
			return scheme, params, nil
		}
		if v[i] != ',' {
			return "", nil, fmt.Errorf("%q after the auth-param %s", v[i], name)
		}
		i++
		ows()
	}
}

func TestParseChallenge_ReadsRFC9110Syntax(t *testing.T) {
	for _, tt := range []struct {
		in     string
		scheme string
		params []authParam
		ok     bool
	}{
		{"Bearer", "Bearer", nil, true},
		{`Bearer realm="a\"b\\c", error=invalid_token`, "Bearer", []authParam{{"realm", `a"b\c`}, {"error", "invalid_token"}}, true},
		{`DPoP algs = "ES256" ,max_age="5"`, "DPoP", []authParam{{"algs", "ES256"}, {"max_age", "5"}}, true},
		{`Bearer error="a", error="b"`, "", nil, false},
		{`Bearer error="a`, "", nil, false},
		{`Bearer error="a" x="b"`, "", nil, false},
		{"Bearer error=\"a\x01\"", "", nil, false},
		{` Bearer`, "", nil, false},
	} {
		scheme, params, err := parseChallenge(tt.in)
		if (err == nil) != tt.ok || scheme != tt.scheme || fmt.Sprint(params) != fmt.Sprint(tt.params) {
			t.Errorf("parseChallenge(%q) = %q, %q, %v; want %q, %q, ok %v", tt.in, scheme, params, err, tt.scheme, tt.params, tt.ok)
		}
	}
}

// isRFC6750Text reports whether s holds only the characters RFC 6750
// allows in error_description (section 3: %x20-21 / %x23-5B / %x5D-7E).
func isRFC6750Text(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// isNQCharList reports whether s is one or more NQCHAR words separated by
// single spaces (RFC 6749's scope, section 3.3; RFC 9470's acr_values).
func isNQCharList(s string) bool {
	for _, w := range strings.Split(s, " ") {
		if !validScope(w) {
			return false
		}
	}
	return true
}

// Every challenge the package can send, in either scheme, is one RFC 9110
// challenge that a client's parser reads back: a grpc-go metadata value
// (printable ASCII), the auth-params of RFC 6750 (section 3), RFC 9449
// (section 7.1) and RFC 9470 (section 3) each once, error_description the
// status message without its prefix and within RFC 6750's characters,
// scope and acr_values lists of NQCHAR words, max_age digits, algs only
// in the DPoP scheme; and rendering what was parsed gives the value back.
// The rules' scopes and acr values use every character an NQCHAR may be,
// ',' and '=' among them.
func TestChallenge_EveryChallengeParsesAsRFC9110(t *testing.T) {
	const odd = "!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~"
	rules := map[string]*grpcauthv1.Rule{
		"scopes":       {Scopes: []string{"items:write", odd}},
		"any_of":       {AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"a"}}, {Scopes: []string{"b", odd}}}},
		"one any_of":   {Scopes: []string{"a"}, AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{odd}}}},
		"acr and age":  {AcrValues: []string{"urn:mace:incommon:iap:silver", odd, "phr"}, MaxAgeSeconds: 300},
		"acr only":     {AcrValues: []string{odd}},
		"max age only": {MaxAgeSeconds: maxAgeSeconds},
	}
	rejections := map[string]*rejection{
		"rejMissing": rejMissing, "rejMalformed": rejMalformed, "rejInvalid": rejInvalid, "rejExpired": rejExpired,
		"rejScheme": rejScheme, "rejTokenType": rejTokenType, "rejNotConfigured": rejNotConfigured,
		"rejUnavailable": rejUnavailable, "rejCanceled": rejCanceled, "rejDeadline": rejDeadline,
		"rejStreamExpired": rejStreamExpired, "rejStreamRevoked": rejStreamRevoked, "rejInternal": rejInternal,
		"rejTransport": rejTransport, "rejBindingMismatch": rejBindingMismatch, "rejNoClientCert": rejNoClientCert,
		"rejBindingRequired": rejBindingRequired, "rejBindingUnsupported": rejBindingUnsupported,
		"rejDPoPNoProof": rejDPoPNoProof, "rejDPoPProofInvalid": rejDPoPProofInvalid, "rejDPoPReplayed": rejDPoPReplayed,
		"rejDPoPKeyMismatch": rejDPoPKeyMismatch, "rejDPoPBoundAsBearer": rejDPoPBoundAsBearer,
		"rejDPoPUnbound": rejDPoPUnbound, "rejDPoPRequired": rejDPoPRequired, "rejDPoPRuleRequired": rejDPoPRuleRequired,
		"rejUseDPoPNonce": rejUseDPoPNonce, "rejDPoPReplayCheck": rejDPoPReplayCheck, "rejDPoPRateLimit": rejDPoPRateLimit,
		"rejConditionFailed": rejConditionFailed, "rejConditionError": rejConditionError,
	}
	for name, pb := range rules {
		r, err := compileRule(pb)
		if err != nil {
			t.Fatalf("rule %s: %v", name, err)
		}
		if r.stepUp != nil {
			rejections["step-up, "+name] = r.stepUp.rej
		} else {
			rejections["scope, "+name] = r.denied
		}
	}
	algSets := [][]string{dpop.DefaultAlgorithms(), {"ES256"}}
	errorCodes := map[string]map[string]bool{
		"Bearer": {errInvalidRequest: true, errInvalidToken: true, errInsufficientScope: true, errInsufficientUserAuthentication: true},
		"DPoP":   {errInvalidRequest: true, errInvalidToken: true, errInsufficientScope: true, errInsufficientUserAuthentication: true, dpopErrProof: true, dpopErrNonce: true},
	}
	for name, rej := range rejections {
		msg := status.Convert(rej.err).Message()
		if !strings.HasPrefix(msg, "grpcauth: ") || !isRFC6750Text(msg) {
			t.Errorf("%s: status message %q is not a fixed grpcauth: message in RFC 6750's characters", name, msg)
		}
		for _, algs := range algSets {
			for _, dpopScheme := range []bool{false, true} {
				for _, v := range rej.challenge.values(dpopScheme, dpopAlgs(algs)) {
					checkParsedChallenge(t, fmt.Sprintf("%s, DPoP call %v", name, dpopScheme), v, msg, algs, errorCodes)
				}
			}
		}
	}
}

// checkParsedChallenge parses the challenge v of the refusal whose status
// message is msg and checks it (TestChallenge_EveryChallengeParsesAsRFC9110).
func checkParsedChallenge(t *testing.T, name, v, msg string, algs []string, errorCodes map[string]map[string]bool) {
	t.Helper()
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			t.Errorf("%s: %q holds %q, not a grpc-go metadata value", name, v, v[i])
		}
	}
	scheme, params, err := parseChallenge(v)
	if err != nil {
		t.Errorf("%s: %q: %v", name, v, err)
		return
	}
	if errorCodes[scheme] == nil {
		t.Errorf("%s: %q: scheme %q, want Bearer or DPoP", name, v, scheme)
	}
	got := map[string]string{}
	rendered := scheme
	var p authParams
	for _, ap := range params {
		got[ap.name] = ap.value
		p.quoted(ap.name, ap.value)
	}
	if s := p.String(); s != "" {
		rendered += " " + s
	}
	if rendered != v {
		t.Errorf("%s: %q renders back as %q", name, v, rendered)
	}
	code, hasCode := got["error"]
	for n, val := range got {
		var ok bool
		switch n {
		case "error":
			ok = errorCodes[scheme][val]
		case "error_description":
			ok = hasCode && val == strings.TrimPrefix(msg, "grpcauth: ") && isRFC6750Text(val)
		case "scope":
			ok = code == errInsufficientScope && isNQCharList(val)
		case MetadataACRValues:
			ok = code == errInsufficientUserAuthentication && isNQCharList(val)
		case MetadataMaxAge:
			ok = code == errInsufficientUserAuthentication && val != "" && strings.Trim(val, "0123456789") == "" && val[0] != '0'
		case "algs":
			ok = scheme == "DPoP" && val == strings.Join(algs, " ")
		}
		if !ok {
			t.Errorf("%s: %q: auth-param %s=%q is not one this challenge may carry", name, v, n, val)
		}
	}
	if _, ok := got["algs"]; scheme == "DPoP" && !ok {
		t.Errorf("%s: %q: DPoP challenge without algs", name, v)
	}
}

// Any printable ASCII value, '"' and '\' among them, reads back from its
// quoted-string as it was, and as one auth-param (RFC 9110, section 5.6.4).
func TestAuthParams_QuotedValueParsesBack(t *testing.T) {
	var all strings.Builder
	for c := byte(0x20); c <= 0x7e; c++ {
		all.WriteByte(c)
	}
	for _, value := range []string{all.String(), `\`, `"`, `a", error="x`, `\"`, ""} {
		var p authParams
		v := "Bearer " + p.quoted("scope", value).quoted("error", "invalid_token").String()
		_, params, err := parseChallenge(v)
		if err != nil || len(params) != 2 || params[0] != (authParam{"scope", value}) {
			t.Errorf("%q parses as %q, %v; want scope=%q and error", v, params, err, value)
		}
	}
}

// Every rule value a challenge quotes (scopes, each any_of set's scopes,
// acr_values) is refused when the rule is compiled if it is not NQCHARs:
// a '"', '\', space, control byte or byte outside ASCII would need
// escaping in the challenge, where RFC 6750 (section 3) and RFC 9470
// (section 3) allow none, or could not go in gRPC metadata at all.
func TestChallenge_RuleValuesOutsideNQCharAreInvalidRules(t *testing.T) {
	for _, bad := range []string{`a"b`, `a\b`, "a b", "a\tb", "a\x01b", "a\x7fb", "caf\u00e9", ""} {
		for field, pb := range map[string]*grpcauthv1.Rule{
			"scopes":     {Scopes: []string{"ok", bad}},
			"any_of":     {AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"ok"}}, {Scopes: []string{bad}}}},
			"acr_values": {AcrValues: []string{"ok", bad}},
		} {
			if _, err := compileRule(pb); !errors.Is(err, ErrInvalidRule) {
				t.Errorf("%s %q: compileRule = %v, want ErrInvalidRule", field, bad, err)
			}
		}
	}
}
