package verifier

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// assertion is one compiled Config.AssertClaims entry.
type assertion struct {
	claim string
	want  []scalar // every one must be present in the claim
}

type scalarKind uint8

const (
	kindString scalarKind = iota + 1
	kindNumber
	kindBool
)

// scalar is a JSON string, number or bool. Numbers are compared exactly, as
// rationals, so 10, 10.0 and 1e1 are equal and large integers do not lose
// precision.
type scalar struct {
	kind scalarKind
	s    string
	n    *big.Rat
	b    bool
}

func (a scalar) equal(b scalar) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kindString:
		return a.s == b.s
	case kindNumber:
		return a.n.Cmp(b.n) == 0
	default:
		return a.b == b.b
	}
}

// compileAssertions validates Config.AssertClaims and converts it into
// assertions sorted by claim name, so failures are reported deterministically.
func compileAssertions(m map[string]any) ([]assertion, error) {
	out := make([]assertion, 0, len(m))
	for name, v := range m {
		if name == "" {
			return nil, configError("AssertClaims has an empty claim name")
		}
		a := assertion{claim: name}
		rv := reflect.ValueOf(v)
		if v != nil && (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) {
			if rv.Len() == 0 {
				return nil, configError("AssertClaims[%q] is an empty list", name)
			}
			for i := range rv.Len() {
				s, ok := toScalar(rv.Index(i).Interface())
				if !ok {
					return nil, configError("AssertClaims[%q][%d] is a %T; want a string, number or bool", name, i, rv.Index(i).Interface())
				}
				a.want = append(a.want, s)
			}
		} else {
			s, ok := toScalar(v)
			if !ok {
				return nil, configError("AssertClaims[%q] is a %T; want a string, number or bool, or a slice of them", name, v)
			}
			a.want = []scalar{s}
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b assertion) int { return strings.Compare(a.claim, b.claim) })
	return out, nil
}

// toScalar converts a configured expected value.
func toScalar(v any) (scalar, bool) {
	switch v := v.(type) {
	case string:
		return scalar{kind: kindString, s: v}, true
	case bool:
		return scalar{kind: kindBool, b: v}, true
	case json.Number:
		if !comparableNumber(string(v)) {
			return scalar{}, false
		}
		r, ok := new(big.Rat).SetString(string(v))
		return scalar{kind: kindNumber, n: r}, ok
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar{kind: kindNumber, n: new(big.Rat).SetInt64(rv.Int())}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return scalar{kind: kindNumber, n: new(big.Rat).SetFrac(new(big.Int).SetUint64(rv.Uint()), big.NewInt(1))}, true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return scalar{}, false
		}
		// The shortest decimal that reads back as f, so that a configured
		// 0.1 equals a token's 0.1 (SetFloat64 would give the binary
		// value, 0.1000000000000000055...).
		return toScalar(json.Number(strconv.FormatFloat(f, 'g', -1, 64)))
	}
	return scalar{}, false
}

// maxNumberText and maxNumberExponent bound the JSON numbers AssertClaims
// compares. big.Rat computes 10^e exactly for an exponent e, which for a
// 9-byte "1e999999" takes tens of milliseconds of CPU, so a token could
// make its own rejection expensive. No configured value (an int64, a
// uint64, a float64: exponents within ±324, at most 17 significant digits,
// or a json.Number within these bounds) can equal a number outside them,
// except one written with hundreds of redundant zeros, which matches
// nothing.
const (
	maxNumberText     = 400
	maxNumberExponent = 400
)

// comparableNumber reports whether the JSON number s is within the bounds
// above.
func comparableNumber(s string) bool {
	if len(s) > maxNumberText {
		return false
	}
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return true
	}
	e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
	return err == nil && -maxNumberExponent <= e && e <= maxNumberExponent
}

// claimValues returns the scalars of a claim's JSON: the value itself when it
// is a scalar, or the scalar elements of an array. Objects, nested arrays and
// null yield nothing, so they never match.
func claimValues(raw json.RawMessage) []scalar {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	fromJSON := func(v any) (scalar, bool) {
		switch v := v.(type) {
		case string, bool:
			return toScalar(v)
		case json.Number:
			return toScalar(v)
		}
		return scalar{}, false
	}
	if arr, ok := v.([]any); ok {
		out := make([]scalar, 0, len(arr))
		for _, e := range arr {
			if s, ok := fromJSON(e); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if s, ok := fromJSON(v); ok {
		return []scalar{s}
	}
	return nil
}

// check reports a *ClaimError unless every expected value is present in the
// claim. It never includes a value in the error.
func (a *assertion) check(c *claimSet) error {
	raw, ok := c.get(a.claim)
	if !ok || isNull(raw) {
		return &ClaimError{Claim: a.claim, Reason: "missing"}
	}
	have := claimValues([]byte(raw))
	for _, w := range a.want {
		if !slices.ContainsFunc(have, w.equal) {
			return &ClaimError{Claim: a.claim, Reason: "value not allowed"}
		}
	}
	return nil
}
