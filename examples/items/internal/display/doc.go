// Package display holds what the items example's two clients, the Go
// client's report and the web page's call log, agree on about showing a
// server's or an issuer's text. It imports nothing, so that the Go client
// does not depend on package web (the page's files) for it.
//
//	// The Go client cuts each string a server sends to this many bytes,
//	// at a character's boundary; app.js's MAX_SHOWN is the same number.
//	const maxField = display.MaxShown
package display
