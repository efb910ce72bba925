// Package panictext turns a recovered panic's value into text fit for a
// log record or an error (Text), and runs a function that may panic,
// saying whether it returned and, if not, why (Run), or with the value of
// its panic, told from a runtime.Goexit whatever that value (Catch).
//
//	defer func() {
//		if v := recover(); v != nil {
//			logger.Error("grpcauth: panic recovered", "panic", panictext.Text(v, endpoint.MaxErrorText))
//		}
//	}()
//
//	if text, panicked := panictext.Run(func() { now = cfg.Now() }, endpoint.MaxErrorText); panicked {
//		... // text says what panicked
//	}
package panictext
