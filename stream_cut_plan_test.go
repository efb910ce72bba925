package grpcauth

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoregistry"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// A stream cut at its token's expiry reports the cut with the plan it was
// admitted under: the timer's goroutine does not look the plan up again,
// which would ask Config.Descriptors (the plan of a method of a service
// it does not describe is not kept for good) and, were it failing then,
// report a rule the stream never had.
func TestStream_CutIsReportedWithoutAskingTheResolver(t *testing.T) {
	r := new(countingResolver)
	r.set(protoregistry.NotFound)
	var rec recorder
	e, clock, tok := expiryEnv(t, withResolver(r, func(c *Config) {
		c.Rules = map[string]*grpcauthv1.Rule{"authtest.v1.TestService": {Scopes: []string{"test:stream"}}}
		c.OnDecision = rec.record
	}))
	s := openBidiStarted(t, e, tok)
	timer := clock.next(t)
	r.set(errUnreachable)
	before := r.asked.Load()
	clock.expire(timer) // the timer's function, run here
	if n := r.asked.Load() - before; n != 0 {
		t.Errorf("the cut asked the resolver %d times, want none", n)
	}
	if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Recv()
	checkStatus(t, err, codes.Unauthenticated, ReasonTokenExpired)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n := len(rec.ds); n != 2 || rec.ds[1].Reason != ReasonTokenExpired || rec.ds[1].Source != SourceConfigService {
		t.Errorf("decisions %+v; want the admission, then the cut (%s) with the source the stream was admitted under, %v", rec.ds, ReasonTokenExpired, SourceConfigService)
	}
}
