//go:build !grpcauthroot

package main

// TEMPORARY until package grpcauth lands.
func grpcauthVariants() []serverVariant { return nil }
