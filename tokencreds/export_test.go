package tokencreds

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/grpcauth/grpcauth/dpop"
)

// NewWithClock is New with now in place of time.Now for the backoff after
// a failure and for the expiry of a token kept through one.
func NewWithClock(ts oauth2.TokenSource, now func() time.Time) *Credentials {
	c := New(ts)
	c.now = now
	return c
}

// BackoffDelay is backoffDelay.
var BackoffDelay = backoffDelay

// NonceBytes returns the size of the servers' names and nonces t
// remembers.
func (t *DPoPTransport) NonceBytes() int {
	t.nonces.mu.Lock()
	defer t.nonces.mu.Unlock()
	n := 0
	for k, v := range t.nonces.m {
		n += len(k) + len(v)
	}
	return n
}

// NewDPoPWithClock is NewDPoP with now in place of time.Now, as for
// NewWithClock.
func NewDPoPWithClock(ts oauth2.TokenSource, signer *dpop.Signer, now func() time.Time) *Credentials {
	c := NewDPoP(ts, signer)
	c.now = now
	return c
}

// SetFetchWait makes c's calls wait at most d for one TokenSource call, in
// place of a minute.
func SetFetchWait(c *Credentials, d time.Duration) { c.fetchWait = d }

// SetLogger makes c log to l in place of slog.Default().
func SetLogger(c *Credentials, l *slog.Logger) { c.logger = l }

// SetProxyFromEnvironment makes the credentials take f for
// http.ProxyFromEnvironment until the test ends.
func SetProxyFromEnvironment(t interface{ Cleanup(func()) }, f func(*http.Request) (*url.URL, error)) {
	old := proxyFromEnvironment
	proxyFromEnvironment = f
	t.Cleanup(func() { proxyFromEnvironment = old })
}

// AwaitFetch waits until the TokenSource call c has in flight, if any, has
// answered.
func AwaitFetch(c *Credentials) {
	c.mu.Lock()
	f := c.fetch
	c.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

// LastExpiry returns the expiry of the token c keeps, if any.
func LastExpiry(c *Credentials) (time.Time, bool) {
	t := c.last.Load()
	if t == nil {
		return time.Time{}, false
	}
	return t.Expiry, true
}

// LastHalfLife returns the end of the first half-life of the token c keeps,
// if any.
func LastHalfLife(c *Credentials) (time.Time, bool) {
	k := c.last.Load()
	if k == nil {
		return time.Time{}, false
	}
	return k.halfLife, true
}

// ErrSourceExited is errSourceExited.
var ErrSourceExited = errSourceExited

// ErrUserInfoURL is errUserInfoURL.
var ErrUserInfoURL = errUserInfoURL
