// Package jwxpanictest makes jwx panic, for the tests of the code that
// recovers jwx's panics (package jwxpanic): a real panic of jwx's, raised
// in jwx, as its bugs raise them. It also fails a test, with the stack,
// on an error that wraps a recovered panic, as the fuzz targets do.
//
//	parseJWK = func([]byte, ...jwk.ParseOption) (jwk.Key, error) {
//		jwxpanictest.Panic() // panics in jwx
//		return nil, nil
//	}
//	...
//	jwxpanictest.FailOnRecovered(t, err) // in a fuzz target, on each refusal
package jwxpanictest
