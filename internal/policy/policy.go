package policy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/grpcauth/grpcauth/internal/isnil"
	"github.com/grpcauth/grpcauth/internal/safelog"
)

// Policy is what a token must be to be accepted, and how the authorization
// server is reached: the fields of verifier.Config and introspect.Config of
// the same names, documented there.
type Policy struct {
	Issuer            string
	Audiences         []string
	SkipAudienceCheck bool
	ClientIDs         []string
	ScopeClaims       []string
	ClockSkew         time.Duration
	Now               func() time.Time
	MaxTokenSize      int
	MaxResponseSize   int64
	HTTPClient        *http.Client
	Logger            *slog.Logger
}

// Defaults are the values Validate gives zero fields. They differ between
// the packages: a JWT is larger than an opaque token, a key set than an
// introspection response.
type Defaults struct {
	ScopeClaims     []string
	ClockSkew       time.Duration
	MaxTokenSize    int
	MaxResponseSize int64
}

// Validate checks p and returns it with d applied to its zero fields,
// ClockSkew replaced by the tolerance to apply (zero means d.ClockSkew, a
// negative value none), Now and Logger defaulted (time.Now,
// slog.Default()), Logger wrapped so that a panic of its handler loses
// its record and goes no further (internal/safelog), and its slices
// copied, so that later changes by the caller have no effect. HTTPClient is left as it is: each package builds
// its own default. The error names the field, without a package prefix.
func Validate(p Policy, d Defaults) (Policy, error) {
	if p.Issuer == "" {
		return p, errors.New("Issuer is required")
	}
	switch {
	case !p.SkipAudienceCheck && len(p.Audiences) == 0:
		return p, errors.New("Audiences is required (or set SkipAudienceCheck)")
	case p.SkipAudienceCheck && len(p.Audiences) > 0:
		// Skipping wins, so the audiences listed would never be checked:
		// a configuration that reads as checked and is not.
		return p, errors.New("SkipAudienceCheck and Audiences are both set; the audiences would not be checked, so set one")
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"Audiences", p.Audiences}, {"ClientIDs", p.ClientIDs}, {"ScopeClaims", p.ScopeClaims}} {
		if slices.Contains(l.list, "") {
			return p, fmt.Errorf("%s contains an empty string", l.name)
		}
	}
	p.Audiences = slices.Clone(p.Audiences)
	p.ClientIDs = slices.Clone(p.ClientIDs)
	p.ScopeClaims = slices.Clone(p.ScopeClaims)
	if len(p.ScopeClaims) == 0 {
		p.ScopeClaims = slices.Clone(d.ScopeClaims)
	}
	switch {
	case p.ClockSkew == 0:
		p.ClockSkew = d.ClockSkew
	case p.ClockSkew < 0:
		p.ClockSkew = 0
	case p.ClockSkew > MaxClockSkew:
		return p, fmt.Errorf("ClockSkew must be at most %v: a larger tolerance would keep expired tokens valid for that long", MaxClockSkew)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if err := isnil.Logger(p.Logger); err != nil {
		return p, err
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	// The packages log where no caller's recovery runs (the key set's
	// goroutines, an introspection flight's), or where a panic would
	// replace the answer a record reports: a handler that panics loses
	// its record, nothing more.
	p.Logger = safelog.New(p.Logger)
	var err error
	p.MaxTokenSize = Positive(&err, "MaxTokenSize", p.MaxTokenSize, d.MaxTokenSize)
	p.MaxResponseSize = Positive(&err, "MaxResponseSize", p.MaxResponseSize, d.MaxResponseSize)
	if err == nil && p.MaxResponseSize > MaxResponseSizeLimit {
		// Readers take one byte more than the limit to detect an
		// oversized body; bounding the limit keeps that from overflowing.
		err = fmt.Errorf("MaxResponseSize must be at most %d (1 GiB)", int64(MaxResponseSizeLimit))
	}
	return p, err
}

// MaxClockSkew is the largest ClockSkew Validate accepts. Real clock drift
// is seconds; Okta's Go verifier allows 2 minutes.
const MaxClockSkew = time.Hour

// MaxResponseSizeLimit is the largest MaxResponseSize Validate accepts: far
// beyond any key set, discovery document or introspection response.
const MaxResponseSizeLimit = 1 << 30

// Positive returns v, or def when v is zero. A negative v is an error
// naming the field, stored in *err unless it already holds one (then v is
// returned unchecked): a run of calls reports the first bad field.
func Positive[T int | int64 | time.Duration](err *error, name string, v, def T) T {
	switch {
	case *err != nil:
		return v
	case v < 0:
		*err = fmt.Errorf("%s must not be negative", name)
		return v
	case v == 0:
		return def
	}
	return v
}
