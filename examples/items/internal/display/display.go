package display

// MaxShown bounds how much of one string a server or issuer supplies (a
// status message, an error code or reason, an issuer, an item's name) the
// example's clients show: the page's call log (MAX_SHOWN in
// web/app.js, kept equal by web's TestAppJS_MaxShownIsDisplayMaxShown)
// and the Go client's report cut it to MaxShown bytes of UTF-8, at a
// character's boundary, with a note of its whole length. A server may
// send up to gRPC's 4 MiB in each.
const MaxShown = 256
