package grpcauth

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// FuzzStepUpCheck gives a step-up requirement arbitrary acr and auth_time
// claims (any JSON text), ages, clock skews and clocks. The check must not
// panic, must give a cause with every refusal and none with an admission,
// and must admit only what an independent reading of the claims admits: an
// acr that is a string among the rule's values, and an auth_time that is a
// number no older than max_age_seconds and no further ahead than the skew;
// and a stream so admitted is cut (staleAt) after now, the first instant
// the check refuses the claims: a nanosecond before, it admits them.
//
//	go test -run '^$' -fuzz FuzzStepUpCheck -fuzztime 45s -parallel 1 .
func FuzzStepUpCheck(f *testing.F) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).Unix()
	for _, s := range []struct {
		acr, at      string
		maxAge, skew int64
	}{
		{`"phr"`, `1893553445`, 300, 60},
		{`"phr"`, `1893553145`, 300, 60},
		{`"phr"`, `1893553144.5`, 300, 60},
		{`"phr"`, `1893553505`, 300, 60},
		{`"phr"`, `1893553506`, 300, 60},
		{`"PHR"`, `1893553445`, 300, 60},
		{`"phr "`, `1893553445`, 300, 60},
		{`["phr"]`, `1893553445`, 300, 60},
		{`null`, `1893553445`, 300, 60},
		{`"phr"`, `null`, 300, 60},
		{`"phr"`, `"1893553445"`, 300, 60},
		{`"phr"`, `-0`, maxAgeSeconds, 60},
		{`"phr"`, `9223372036`, maxAgeSeconds, 60},
		{`"phr"`, `9223372036.5`, maxAgeSeconds, 60},
		{`"phr"`, `1e308`, 300, 60},
		{`"\u0070hr"`, `1893553445`, 300, 0},
		{`2`, `true`, 1, 0},
	} {
		f.Add(s.acr, s.at, s.maxAge, s.skew, now)
	}
	acrValues := []string{"urn:example:mfa", "phr"}
	f.Fuzz(func(t *testing.T, acrJSON, atJSON string, maxAge, skewSec, nowSec int64) {
		if maxAge < 1 || maxAge > maxAgeSeconds || skewSec < 0 || skewSec > 24*60*60 || nowSec < 0 || nowSec > 1<<33 {
			return
		}
		c, err := verifier.ParseClaims([]byte(`{"sub":"alice","acr":` + acrJSON + `,"auth_time":` + atJSON + `}`))
		if err != nil {
			return
		}
		s, err := compileStepUp(&grpcauthv1.Rule{AcrValues: acrValues, MaxAgeSeconds: maxAge})
		if err != nil {
			t.Fatal(err)
		}
		clock := time.Unix(nowSec, 0)
		skew := time.Duration(skewSec) * time.Second
		skewFor := func(verifier.Claims) time.Duration { return skew }
		rej, cause := s.check(c, func() time.Time { return clock }, skewFor)
		if (rej == nil) != (cause == nil) {
			t.Fatalf("rejection %v with cause %v: want both or neither", rej, cause)
		}
		if rej != nil {
			if rej != s.rej {
				t.Fatalf("rejection %v, want the rule's step-up refusal", rej)
			}
			return
		}
		var acr any
		if raw, _ := c.Raw("acr"); json.Unmarshal(raw, &acr) != nil {
			t.Fatalf("admitted an acr of %s, which does not decode", raw)
		}
		if v, ok := acr.(string); !ok || !slices.Contains(acrValues, v) {
			t.Fatalf("admitted acr %s, not one of %q", acrJSON, acrValues)
		}
		var at any
		if raw, _ := c.Raw("auth_time"); json.Unmarshal(raw, &at) != nil {
			t.Fatalf("admitted an auth_time of %s, which does not decode", raw)
		}
		sec, ok := at.(float64)
		// A float64 of about 2^33 seconds is exact to a microsecond.
		const slack = 1e-6
		switch {
		case !ok || math.IsNaN(sec) || math.IsInf(sec, 0):
			t.Fatalf("admitted auth_time %s, not a number", atJSON)
		case sec < float64(nowSec)-float64(maxAge)-slack:
			t.Fatalf("admitted auth_time %s, more than max_age_seconds %d before %d", atJSON, maxAge, nowSec)
		case sec > float64(nowSec)+float64(skewSec)+slack:
			t.Fatalf("admitted auth_time %s, more than the skew %d after %d", atJSON, skewSec, nowSec)
		}
		stale, ok := s.staleAt(c)
		if !ok || !stale.After(clock) {
			t.Fatalf("admitted auth_time %s at %d, and a stream is cut at %v (%v): want after now", atJSON, nowSec, stale, ok)
		}
		for at, admit := range map[time.Time]bool{stale.Add(-time.Nanosecond): true, stale: false} {
			if rej, _ := s.check(c, func() time.Time { return at }, skewFor); (rej == nil) != admit {
				t.Fatalf("auth_time %s, max_age_seconds %d: the check at %v admits %v, want %v: the stream's cut at %v is not when the check starts refusing",
					atJSON, maxAge, at, rej == nil, admit, stale)
			}
		}
	})
}
