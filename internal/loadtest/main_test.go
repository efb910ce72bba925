package loadtest

import (
	"flag"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Flags of the soak. With their defaults the test runs the short
// configuration meant for CI.
var (
	soakDuration = flag.Duration("soak.duration", 0, "how long callers keep calling; 0 runs the short CI configuration ("+shortDuration.String()+")")
	soakCallers  = flag.Int("soak.callers", 32, "number of concurrent callers")
	soakRotate   = flag.Duration("soak.rotate", 0, "time between key rotations; 0 means "+shortRotate.String()+" in the short configuration, "+soakRotateDefault.String()+" otherwise")
	soakAlg      = flag.String("soak.alg", "RS256", "the issuer's signing algorithm (RS256, ES256, EdDSA, ...)")
	soakConns    = flag.Int("soak.conns", 4, "number of client connections the callers share")
	soakSeed     = flag.Uint64("soak.seed", 1, "seed of the callers' random choices")
)

// Defaults of the two configurations.
const (
	shortDuration     = 3 * time.Second
	shortRotate       = 400 * time.Millisecond
	soakRotateDefault = 20 * time.Second
)
