package verifier

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/redact"
)

// Format formats c as fmt formats a struct of its fields, for every verb
// and flag (%v, %+v, %#v, %s, %q, %x, ...), except that Issuer and
// JWKSURL, when they hold user info ("user:password@"), a query or a
// fragment, read as in the package's errors: without any of them, with
// "?…" and "#…" marking a query and a fragment that were there (a key-set
// URL's query may carry an API key), "<URL with userinfo>" for a URL with
// user info (or an "@" after its host, where a password may end), and
// "<invalid URL>" for one that does not parse (introspect.Config reads its
// URLs alike). New refuses user info in either. A Config printed or logged
// never shows them. HTTPClient, Now and Logger print as the pointers they
// are, never what they point to: a verb that fmt cannot print a pointer
// with (%s, %q, %t, ...; it would print the HTTPClient's transport) prints
// the Config as %v does, with the same flags. %#v names the type verifier.Config (also
// for a *Config, without the "&"). fmt cannot call this method on a Config
// it reaches through an unexported field, or prints for a wrong verb (%p
// of a Config value, or fmt.Errorf's %w, both of which go vet reports): it
// prints the fields as they are. Keep a Config out of the unexported
// fields of values you print. A type defined from Config (type C
// verifier.Config) has neither method either: convert it back
// (verifier.Config(c)) before printing or logging it. A struct that embeds
// a Config gets this method and LogValue, and prints and logs as its
// Config alone: name the field instead to see the others.
func (c Config) Format(f fmt.State, verb rune) {
	type config Config // the fields without the methods: no recursion
	c.Issuer, c.JWKSURL = endpoint.ForConfig(c.Issuer), endpoint.ForConfig(c.JWKSURL)
	redact.WriteStruct(f, verb, config(c), "verifier.config", "verifier.Config")
}

// LogValue makes log/slog log c as its %+v text, its URLs redacted (see
// Format), whatever the handler: a JSON handler would otherwise encode
// the fields themselves, the HTTP client's transport (and any header it
// holds) included.
func (c Config) LogValue() slog.Value { return slog.StringValue(fmt.Sprintf("%+v", c)) }

// Format writes v, for every verb, as verifier.Verifier{Issuer: "…"}: its
// issuer, which never changes. Printing the Verifier's fields instead
// would read its counters, cache and key set without their atomics and
// locks (a data race), and show its key-set URL in full. A Verifier New
// did not build (see Verifier) writes verifier.Verifier{not built with
// New}, a nil one <nil>.
func (v *Verifier) Format(f fmt.State, _ rune) {
	switch {
	case v == nil:
		io.WriteString(f, "<nil>")
	case !v.built():
		io.WriteString(f, "verifier.Verifier{not built with New}")
	default:
		fmt.Fprintf(f, "verifier.Verifier{Issuer: %q}", v.s.Issuer)
	}
}

// Format writes m, for every verb, as verifier.MultiVerifier{Issuers:
// ["…" "…"]}: its issuers in Config order, for the same reason as
// Verifier's Format. A MultiVerifier NewMulti did not build writes
// verifier.MultiVerifier{not built with NewMulti}, a nil one <nil>.
func (m *MultiVerifier) Format(f fmt.State, _ rune) {
	switch {
	case m == nil:
		io.WriteString(f, "<nil>")
	case !m.built():
		io.WriteString(f, "verifier.MultiVerifier{not built with NewMulti}")
	default:
		fmt.Fprintf(f, "verifier.MultiVerifier{Issuers: %q}", m.Issuers())
	}
}
