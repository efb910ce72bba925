// Package dev holds the fixed development settings the items example shares
// between its server, its client and its end-to-end test: where the
// embedded development issuer listens and the three OAuth 2.0 clients it
// knows.
//
//	issuer := dev.IssuerURL(dev.IssuerAddr) // "http://127.0.0.1:50052/oauth2/default"
//	cc := clientcredentials.Config{
//		ClientID:     dev.Reader.ID,
//		ClientSecret: dev.Reader.Secret,
//		TokenURL:     issuer + "/v1/token",
//		Scopes:       []string{dev.ScopeRead},
//	}
//
// Every value here is public and for local development only. The secrets
// are printed by the server and committed to the repository; nothing they
// unlock may ever be reachable from another machine, which is why the
// development issuer only ever listens on a loopback address.
package dev
