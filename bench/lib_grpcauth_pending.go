//go:build !grpcauth

package main

// TEMPORARY until package verifier lands.
func grpcauthLibraries() []library { return nil }
