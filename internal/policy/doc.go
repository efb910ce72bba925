// Package policy holds the settings verifier.Config and introspect.Config
// share, and their one validation. Both packages keep their fields flat, so
// that a Config literal reads the same in either; their validate functions
// copy the shared fields into a Policy, call Validate with their own
// defaults, and copy the result back. Error messages name the user's field.
//
//	p, err := policy.Validate(cfg.policy(), policy.Defaults{
//		ScopeClaims:     verifier.DefaultScopeClaims(),
//		ClockSkew:       verifier.DefaultClockSkew,
//		MaxTokenSize:    DefaultMaxTokenSize,
//		MaxResponseSize: DefaultMaxResponseSize,
//	})
//	if err != nil {
//		return s, configError("%v", err)
//	}
//	s.setPolicy(p) // the shared fields, defaults filled in, back into the package's own
//	s.Timeout = policy.Positive(&err, "Timeout", cfg.Timeout, DefaultTimeout) // a field of its own
package policy
