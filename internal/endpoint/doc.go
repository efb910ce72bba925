// Package endpoint holds what grpcauth applies to every URL of an
// authorization server it talks to (issuer, discovery document, key set,
// introspection endpoint): which URLs are acceptable, how such a URL is
// requested (LowerLocalhost, for a client of the caller's), and the
// default HTTP client for such requests. The verifier, its key set and the introspection
// verifier share it, so the rule is written once; tokencreds' DPoPTransport
// uses its loopback test for token requests, and, without a base transport
// of the caller's, NewClient's transport for those to localhost. Its Clip
// helpers bound, module-wide, what others chose in logs and errors, and
// WithoutSecrets and RequestErrorText take out of a request's failure the
// secrets the request carried, which net/http quotes when a server echoed
// them into a line it cannot parse (tokencreds' DPoPTransport cleans its
// failures' error trees of RequestSecrets alike).
//
//	u, err := endpoint.Parse(raw) // its error repeats nothing of raw
//	if err != nil {
//		return err
//	}
//	if err := endpoint.Check(u); err != nil { // https, or http to a loopback host; no userinfo
//		return fmt.Errorf("JWKSURL %s: %w", endpoint.RedactConfigured(u), err)
//	}
//	client := endpoint.NewClient(10*time.Second, 2)
//	resp, err := client.Get(u.String())
//	if err != nil {
//		logger.Warn("key set fetch failed", "url", endpoint.Redact(u), "error", endpoint.ClipError(err))
//	}
package endpoint
