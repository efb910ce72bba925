package introspect

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/verifier"
)

// issuedLater is an http.RoundTripper that passes requests to base and
// sets, in the answer to the second one, iat to its iat (Unix seconds),
// as an authorization server whose clock jumped ahead would.
type issuedLater struct {
	base http.RoundTripper
	n    atomic.Int64
	iat  atomic.Int64
}

func (s *issuedLater) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(r)
	if err != nil || s.n.Add(1) != 2 {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	m["iat"] = json.RawMessage(strconv.FormatInt(s.iat.Load(), 10))
	if body, err = json.Marshal(m); err != nil {
		return nil, err
	}
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// A known token's request that passed MaxRequestRate and that its callers
// abandoned after the server had answered it active, but with an iat an
// hour ahead (a refusal here, ErrNotYetValid), makes it unknown, as an
// inactive answer does (TestFlight_AbandonedBypassAnsweredInactiveForgetsTheToken):
// its next request waits for the budget as a made-up token's does. Before,
// only a refusal cached by a waited-for answer forgot the token; an
// abandoned one kept it known, its requests passing MaxRequestRate again
// NegativeTTL later.
func TestFlight_AbandonedBypassAnsweredNotYetValidForgetsTheToken(t *testing.T) {
	late := &issuedLater{}
	r, release, tok := abandonHeldBypass(t,
		func(r *rateLimited, _ string) { late.iat.Store(r.Now().Add(time.Hour).Unix()) },
		func(c *Config) { // the held request's answer goes through late
			rt := c.HTTPClient.Transport.(*answerThenHold)
			late.base, rt.base = rt.base, late
		})
	release()
	<-r.ran // the abandoned flight lands, with the refused "active"
	r.advance(DefaultNegativeCacheTTL)
	r.checkForgotten(t, tok)
}

// keepEnded, which keeps a not-yet-valid answer's exp, evicts no live
// entry of a full cache to make room for an entry never used, and does not
// replace a live entry of its own token.
func TestResultCache_KeepEndedEvictsAndReplacesNoLiveEntry(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	live := result{err: ErrInactive, until: now.Add(time.Minute)}
	c := newResultCache(1, math.MaxInt64)
	c.put(tokenKey{1}, live, now)
	c.keepEnded(tokenKey{2}, verifier.Claims{}, now)
	if _, ok := c.lookup(tokenKey{1}, now); !ok || c.len() != 1 {
		t.Fatalf("full cache: %d entries, the live one kept: %v; want it alone", c.len(), ok)
	}
	c.keepEnded(tokenKey{1}, verifier.Claims{}, now)
	if r, ok := c.lookup(tokenKey{1}, now); !ok || r.err != ErrInactive {
		t.Fatal("keepEnded replaced a live entry of its own token")
	}
}
