package jwks

import (
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/panictext"
)

// nowPanicEvery is how often a Set logs that Config.Now panicked.
const nowPanicEvery = time.Minute

// readNow returns now's reading (Config.Now's) or, when now panics,
// the process's clock's (wallNow, time.Now): the Set's goroutines (the
// background refresher, a fetch, the timer of the refresh waiting lookups
// share), where no caller's recovery runs, read Config.Now, and a panic
// there would end the process. The key set goes on by the process's clock
// meanwhile: that decides when it is refreshed and how old it is, never
// whether a token is accepted, which the verifier judges on Config.Now on
// the caller's goroutine (where a panic is the caller's, as before). The
// panic is logged at error level, with its value and stack, once a
// nowPanicEvery by the process's clock, with the number suppressed since.
func (s *Set) readNow(now func() time.Time) (t time.Time) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		t = s.cfg.wallNow()
		if ok, suppressed := s.nowPanics.Allow(t, nowPanicEvery); ok {
			defer func() { _ = recover() }() // the Logger's own panic
			s.log.Error("jwks: Config.Now panicked; the key set reads the process's clock instead",
				slog.String("panic", panictext.Text(p, endpoint.MaxErrorText)), slog.Int64("suppressed", suppressed),
				slog.String("stack", string(debug.Stack())))
		}
	}()
	return now()
}
