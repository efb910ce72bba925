package tokencreds

import (
	"time"

	"golang.org/x/oauth2"
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
