// Package panictext turns a recovered panic's value into text fit for a
// log record or an error.
//
//	defer func() {
//		if v := recover(); v != nil {
//			logger.Error("grpcauth: panic recovered", "panic", panictext.Text(v, endpoint.MaxErrorText))
//		}
//	}()
package panictext
