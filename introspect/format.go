package introspect

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/redact"
)

// redactedSecret stands for a set Config.ClientSecret wherever a Config is
// formatted or logged.
const redactedSecret = "[REDACTED]"

// Format formats c as fmt formats a struct of its fields, for every verb
// and flag (%v, %+v, %#v, %s, %q, %x, ...), except that ClientSecret, when
// set, reads "[REDACTED]", and Endpoint and Issuer, when they hold user
// info ("user:password@"), a query or a fragment, read as
// verifier.Config's URLs do: without any of them, with "?…" and "#…"
// marking a query and a fragment that were there (an endpoint's query may
// carry an API key), "<URL with userinfo>" for a URL with user info (or an
// "@" after its host, where a password may end), "<invalid URL>" for one
// that does not parse. A Config printed or logged never shows this
// service's client secret, a password written into a URL (which New
// refuses in either), nor the endpoint's query (nor the issuer's, which
// New refuses). HTTPClient and Logger
// print as the pointers they are: a verb that fmt cannot print a pointer
// with (%s, %q, %t, ...; it would print the HTTPClient's transport) prints
// the Config as %v does, with the same flags. %#v names the type
// introspect.Config (also for a *Config, without the "&"). fmt cannot call
// this method on a Config it reaches through an unexported field, or
// prints for a wrong verb (%p of a Config value, or fmt.Errorf's %w, both
// of which go vet reports): it prints the fields as they are. Keep a
// Config out of the unexported fields of values you print. A struct that
// embeds a Config gets this method and LogValue, and prints and logs as
// its Config alone: name the field instead to see the others. A type
// defined from Config has neither method: convert it back before printing
// it. A Verifier keeps the secret where fmt cannot print it.
func (c Config) Format(f fmt.State, verb rune) {
	type config Config // the fields without the methods: no recursion
	if c.ClientSecret != "" {
		c.ClientSecret = redactedSecret
	}
	// New refuses URLs with user info, but a Config may be printed
	// first; the endpoint's query may carry a key.
	c.Endpoint, c.Issuer = endpoint.ForConfig(c.Endpoint), endpoint.ForConfig(c.Issuer)
	redact.WriteStruct(f, verb, config(c), "introspect.config", "introspect.Config")
}

// LogValue makes log/slog log c as its %+v text, ClientSecret redacted
// (see Format), whatever the handler: a JSON handler would otherwise
// encode the fields themselves. A nil *Config logs as slog's "LogValue
// panicked" text and a stack trace (Go calls a value method through a nil
// pointer by panicking, and slog recovers), which shows nothing of any
// Config: LogValue keeps its value receiver so that a Config logged by
// value, which has no pointer methods, is redacted whatever the handler.
func (c Config) LogValue() slog.Value { return slog.StringValue(fmt.Sprintf("%+v", c)) }

// Format writes v, for every verb, as introspect.Verifier{Endpoint: "…",
// Issuer: "…"}: the endpoint (without query or fragment) and the issuer
// (which New accepts only without user info, query or fragment, so that
// it shows as a printed Config shows it, and as Stats does), which never
// change. Printing the Verifier's fields instead would read its caches and
// in-flight requests without their locks, which may crash a busy process
// (a map iterated while it is written). A Verifier New did not build (see
// built) writes introspect.Verifier{not built with New}, a nil one <nil>.
func (v *Verifier) Format(f fmt.State, _ rune) {
	switch {
	case v == nil:
		io.WriteString(f, "<nil>")
	case !v.built():
		io.WriteString(f, "introspect.Verifier{not built with New}")
	default:
		fmt.Fprintf(f, "introspect.Verifier{Endpoint: %q, Issuer: %q}", v.endpoint, v.s.Issuer)
	}
}

// Format writes c, for every verb, as introspect.Combined{Opaque: …}, the
// introspection Verifier as its Format writes it, for the same reason. A
// Combined Combine did not build writes introspect.Combined{not built with
// Combine}, a nil one <nil>.
func (c *Combined) Format(f fmt.State, _ rune) {
	switch {
	case c == nil:
		io.WriteString(f, "<nil>")
	case !c.built():
		io.WriteString(f, "introspect.Combined{not built with Combine}")
	default:
		fmt.Fprintf(f, "introspect.Combined{Opaque: %v}", c.opaque)
	}
}
