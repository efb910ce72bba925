package celcond

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

// FuzzNumber compares number, which reads a JSON number claim in one pass
// of its digits, with math/big's exact value: an integer of magnitude 2^53
// or more is an int64, or a uint64 above the int range, however it is
// written (9007199254740993.0, 9.007199254740993e15, 1E16); any other
// number is the double nearest math/big's value, with an error when out
// of range. Seeds are in testdata/fuzz/FuzzNumber and below.
//
//	go test -run '^$' -fuzz '^FuzzNumber$' ./celcond
func FuzzNumber(f *testing.F) {
	for _, s := range []string{
		"0", "-0", "-0.0", "0e5", "0.000e-7", "1.5", "9007199254740991", "9007199254740991.0",
		"9007199254740992", "9007199254740993.0", "9.007199254740993e15", "1E16", "1e+16",
		"90071992547409930e-1", "9007199254740993.5", "-9007199254740993.000",
		"9223372036854775807.0", "9223372036854775808.0", "-9223372036854775808.0",
		"-9223372036854775809.0", "1.8446744073709551615e19", "18446744073709551616.0",
		"1e19", "1e20", "1e30", "1e308", "1e309", "-1e400", "1e999999999", "1e-999999999",
		"0.00000000000000000000009007199254740993e38", "123456789012345678901234567890e-10",
		"1.5e-9223372036854775808", "1.5e9223372036854775807", "1.5e-9223372036854775809",
		"9007199254740993" + strings.Repeat("0", 1000) + "e-1000", "9.007199254740993" + strings.Repeat("0", 900) + "e15",
		"1" + strings.Repeat("0", 1000) + "e-1000", "-15" + strings.Repeat("0", 1000) + ".0e-1001",
		"1" + strings.Repeat("0", 900) + "e-9223372036854775809", "1" + strings.Repeat("0", 900) + "e99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var n json.Number
		if s == "" || s[0] != '-' && (s[0] < '0' || s[0] > '9') || d.Decode(&n) != nil || d.More() ||
			!json.Valid([]byte(s)) || strings.ContainsAny(s, " \t\r\n") {
			return // not a JSON number alone (a string would decode too)
		}
		got, err := number(n)
		if e := strings.IndexAny(s, "eE"); e >= 0 {
			if x, err := strconv.Atoi(s[e+1:]); err != nil || x > 20000 || x < -20000 {
				return // math/big would take long (1e-999999999); no panic is enough
			}
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("math/big cannot read %s", s)
		}
		var want any
		if i := r.Num(); r.IsInt() && i.IsInt64() && (i.Int64() >= exactDouble || i.Int64() <= -exactDouble) {
			want = i.Int64()
		} else if r.IsInt() && i.Sign() > 0 && i.IsUint64() && !i.IsInt64() {
			want = i.Uint64()
		}
		if want != nil {
			if err != nil || got != want { // int64 and uint64 differ
				t.Fatalf("number(%s) = %T %v, %v; want %T %v", s, got, got, err, want, want)
			}
			return
		}
		// Any other number is the double nearest its value (math/big's,
		// not strconv.ParseFloat's, which misreads more than 800 digits
		// before the point), -0 for a negative zero, and an infinity with
		// an error beyond the double range.
		f64, _ := r.Float64()
		if r.Sign() == 0 && s[0] == '-' {
			f64 = math.Copysign(0, -1)
		}
		if (err != nil) != math.IsInf(f64, 0) || !sameFloat(got, f64) {
			t.Fatalf("number(%s) = %T %v, %v; want %v", s, got, got, err, f64)
		}
	})
}

// sameFloat reports whether v is the double f, -0 apart from 0.
func sameFloat(v any, f float64) bool {
	g, ok := v.(float64)
	return ok && math.Float64bits(g) == math.Float64bits(f)
}
