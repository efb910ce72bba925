// Package settings holds what the items example's server and client share
// about reading their settings from the environment: which variable a flag
// reads (EnvName), the warning about a variable that is likely a
// misspelling of one they read (Typos), and the check of a HOST:PORT
// address, to listen on or to dial (HostPort). The rule an ISSUER must
// follow beyond a URL's, no query or fragment, is endpoint.CheckIssuer,
// which the library's verifier.New and introspect.New apply too.
//
//	fs := flag.NewFlagSet("client", flag.ContinueOnError)
//	addr := fs.String("addr", getenv("ADDR"), "server address (env ADDR)")
//	// ... parse ...
//	if _, err := settings.HostPort("ADDR", *addr, settings.Dial); err != nil {
//		return fmt.Errorf("client: %w", err)
//	}
//	warnings := settings.Typos("client", fs, os.LookupEnv)
package settings
