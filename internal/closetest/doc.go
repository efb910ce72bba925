// Package closetest checks that a Close called while another Close runs
// returns only once the shutdown is complete, for the tests of the
// verifiers' Close methods.
//
//	tr := closetest.NewTransport()
//	v := newVerifier(t, Config{Issuer: "https://issuer.example", Audiences: []string{"api"},
//		JWKSURL: "https://issuer.example/jwks", HTTPClient: &http.Client{Transport: tr}})
//	<-tr.Entered() // New's first fetch, held by tr
//	closetest.SecondCloseWaits(t, tr, v.Close)
package closetest
