//go:build !grpcauth

package main

// TEMPORARY until package verifier lands.
func grpcauthLibraries() []library { return nil }

// TEMPORARY until package grpcauth lands.
func grpcauthVariants() []serverVariant { return nil }
