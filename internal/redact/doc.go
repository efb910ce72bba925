// Package redact removes secrets from configuration strings that an error
// or a log record repeats.
//
//	func (c Config) Format(f fmt.State, verb rune) {
//		type config Config // the fields without the methods: no recursion
//		c.Issuer = endpoint.ForConfig(c.Issuer)
//		redact.WriteStruct(f, verb, config(c), "verifier.config", "verifier.Config")
//	}
//
//	return fmt.Errorf("%q is not an origin", redact.UserInfo(s)) // "https://…@host"
package redact
