package grpcauth

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

const mServerStream = "/authtest.v1.TestService/ServerStream"

// tenantCondition is a condition that reads no request, only the claims:
// it holds when the tenant claim is "acme".
var tenantCondition = mutCompiler{cond: mutAtStart{mutCond(func(_ context.Context, in ConditionInput) (bool, error) {
	var tenant string
	_ = in.Claims.Claim("tenant", &tenant)
	return tenant == "acme", nil
})}}

// cutStatus receives on s, a server stream the server cut, and returns
// the status and its www-authenticate challenges.
func cutStatus(t *testing.T, s grpc.ServerStreamingClient[authtestv1.ServerStreamResponse]) (error, []string) {
	t.Helper()
	_, err := s.Recv()
	if err == nil {
		t.Fatal("Recv after the cut returned a message")
	}
	return err, s.Trailer().Get(MetadataWWWAuthenticate)
}

// checkSameRefusal fails unless cut (its status and challenges) is what
// a new stream opened in ctx gets when the verifier v answers c.
func checkSameRefusal(t *testing.T, e *env, v *chanRevalidator, ctx context.Context, c verifier.Claims, cut error, cutChallenges []string) {
	t.Helper()
	v.answers <- c
	n, err := e.client.ServerStream(ctx, &authtestv1.ServerStreamRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	newErr, newChallenges := cutStatus(t, n)
	got, want := status.Convert(cut), status.Convert(newErr)
	if got.Code() != want.Code() || got.Message() != want.Message() || errorInfo(cut).GetReason() != errorInfo(newErr).GetReason() {
		t.Errorf("cut = %v, want what a new call gets, %v", cut, newErr)
	}
	if !slices.Equal(cutChallenges, newChallenges) {
		t.Errorf("cut's www-authenticate = %q, want a new call's %q", cutChallenges, newChallenges)
	}
}

// TestStream_RevalidatedClaimsFailingTheStepUpAreCut: a stream opened
// with a sign-in its method's step-up accepts is re-verified, and the
// verifier now answers claims whose sign-in the rule refuses (another acr;
// an auth_time older than max_age_seconds): the stream is cut with the
// rule's step-up refusal, UNAUTHENTICATED and
// INSUFFICIENT_USER_AUTHENTICATION with the rule's challenge, as a new
// stream with those claims gets, reported as a denied Decision carrying
// them. Without the re-judgement the stream ran on.
func TestStream_RevalidatedClaimsFailingTheStepUpAreCut(t *testing.T) {
	for _, tt := range []struct {
		name          string
		rule          *grpcauthv1.Rule
		opened, fresh map[string]any
		challenge     string // in the cut's challenge
		timersBefore  int    // set before the re-verification's (max_age's own cut)
	}{
		{
			name:      "acr changed",
			rule:      &grpcauthv1.Rule{Scopes: []string{"test:read", "test:stream"}, AcrValues: []string{"urn:example:mfa"}},
			opened:    map[string]any{"acr": "urn:example:mfa"},
			fresh:     map[string]any{"acr": "urn:example:pwd"},
			challenge: `acr_values="urn:example:mfa"`,
		},
		{
			name:         "auth_time older than max_age",
			rule:         &grpcauthv1.Rule{Scopes: []string{"test:read", "test:stream"}, MaxAgeSeconds: 300},
			opened:       map[string]any{"auth_time": t0.Unix()},
			fresh:        map[string]any{"auth_time": t0.Add(-time.Hour).Unix()},
			challenge:    `max_age="300"`,
			timersBefore: 1,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			fake := newFakeClock()
			v := newChanRevalidator(claimsOf(t, "test:read test:stream", tt.opened))
			e, s := openWatchedStream(t, v, fake, func(c *Config, _ *verifier.Config) {
				c.OnDecision = rec.record
				c.Rules = map[string]*grpcauthv1.Rule{mServerStream: tt.rule}
			})
			for range tt.timersBefore {
				fake.next(t)
			}
			recheck := fake.next(t)

			fresh := claimsOf(t, "test:read test:stream", tt.fresh)
			reverifyWith(fake, v, recheck, fresh)
			await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled")
			cut, challenges := cutStatus(t, s)
			checkStatus(t, cut, codes.Unauthenticated, ReasonInsufficientUserAuthentication)
			if len(challenges) != 1 || !strings.Contains(challenges[0], `error="insufficient_user_authentication"`) || !strings.Contains(challenges[0], tt.challenge) {
				t.Errorf("www-authenticate = %q, want the rule's step-up challenge with %s", challenges, tt.challenge)
			}
			d := rec.last(t)
			if d.Allowed || d.DryRun || d.Reason != ReasonInsufficientUserAuthentication {
				t.Errorf("cut's decision = %+v, want denied %s with the re-verified claims", d, ReasonInsufficientUserAuthentication)
			}
			k := firstKey(tt.fresh)
			want, _ := json.Marshal(tt.fresh[k])
			if got, _ := d.Claims.Raw(k); string(got) != string(want) {
				t.Errorf("cut's decision carries %s %s, want the re-verified claims' %s", k, got, want)
			}
			checkSameRefusal(t, e, v, withAuth(bounded(t), bearer("opaque-token")), fresh, cut, challenges)
		})
	}
}

// firstKey returns the one key of m.
func firstKey(m map[string]any) string {
	for k := range m {
		return k
	}
	return ""
}

// openTenantStream opens a server stream whose method's rule has a
// condition that reads only the claims (tenantCondition), with the
// verifier v, on fake's clock, then opts, and returns the env, the stream
// and its re-verification timer.
func openTenantStream(t *testing.T, v *chanRevalidator, fake *fakeClock, opts ...envOption) (*env, authtestv1.TestService_ServerStreamClient, *fakeTimer) {
	t.Helper()
	e, s := openWatchedStream(t, v, fake, append([]envOption{func(c *Config, _ *verifier.Config) {
		c.Conditions = tenantCondition
		c.Rules = map[string]*grpcauthv1.Rule{mServerStream: {Scopes: []string{"test:read", "test:stream"}, Condition: "claims.tenant == 'acme'"}}
	}}, opts...)...)
	return e, s, fake.next(t)
}

// TestStream_RevalidatedClaimsFailingTheConditionAreCut: a stream whose
// method's condition reads only the claims passed it as it opened; the
// re-verified claims fail it (the tenant changed): the stream is cut with
// PERMISSION_DENIED and CONDITION_FAILED, the refusal a new stream with
// those claims gets, its Decision carrying them and the condition's
// cause. Without the re-judgement the stream ran on.
func TestStream_RevalidatedClaimsFailingTheConditionAreCut(t *testing.T) {
	var rec recorder
	fake := newFakeClock()
	v := newChanRevalidator(claimsOf(t, "test:read test:stream", map[string]any{"tenant": "acme"}))
	e, s, recheck := openTenantStream(t, v, fake, func(c *Config, _ *verifier.Config) { c.OnDecision = rec.record })

	fresh := claimsOf(t, "test:read test:stream", map[string]any{"tenant": "other"})
	reverifyWith(fake, v, recheck, fresh)
	if err := await(t, e.svc.streamEnded, "the stream's handler did not end: its context was not cancelled"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Send after the cut = %v, want PermissionDenied", err)
	}
	cut, challenges := cutStatus(t, s)
	checkStatus(t, cut, codes.PermissionDenied, ReasonConditionFailed)
	d := rec.last(t)
	var tenant string
	if d.Allowed || d.DryRun || d.Reason != ReasonConditionFailed || d.Claims.Claim("tenant", &tenant) != nil || tenant != "other" ||
		d.Err == nil || !strings.Contains(d.Err.Error(), "is false") {
		t.Errorf("cut's decision = %+v, want denied %s with the re-verified claims and the condition's cause", d, ReasonConditionFailed)
	}
	checkSameRefusal(t, e, v, withAuth(bounded(t), bearer("opaque-token")), fresh, cut, challenges)
}

// TestStream_RevalidatedClaimsFailingADryRunConditionAreReportedOnce: in
// dry run, re-verified claims that fail the condition are reported once
// as a would-deny (CONDITION_FAILED, with those claims) and the stream
// goes on, re-verified again; a second failing re-verification reports
// nothing more.
func TestStream_RevalidatedClaimsFailingADryRunConditionAreReportedOnce(t *testing.T) {
	var rec recorder
	fake := newFakeClock()
	v := newChanRevalidator(claimsOf(t, "test:read test:stream", map[string]any{"tenant": "acme"}))
	e, _, recheck := openTenantStream(t, v, fake, func(c *Config, _ *verifier.Config) { c.OnDecision, c.DryRun = rec.record, true })

	fresh := claimsOf(t, "test:read test:stream", map[string]any{"tenant": "other"})
	reverifyWith(fake, v, recheck, fresh)
	recheck = fake.next(t)
	e.stillRunning(t)
	d := rec.last(t)
	var tenant string
	if d.Outcome() != OutcomeWouldDeny || d.Reason != ReasonConditionFailed || d.Claims.Claim("tenant", &tenant) != nil || tenant != "other" {
		t.Fatalf("decision = %+v, want a would-deny %s with the re-verified claims", d, ReasonConditionFailed)
	}
	v.at = v.at.Add(time.Minute) // set before the next timer reads it: no race
	reverifyWith(fake, v, recheck, fresh)
	if next := fake.next(t); next.stopped.Load() {
		t.Fatal("the next re-verification's timer was stopped: the stream was cut")
	}
	e.stillRunning(t)
	if n := rec.count(); n != 2 {
		t.Fatalf("%d decisions, want 2: the start and one would-deny", n)
	}
	if denied := rec.denied(); len(denied) != 0 {
		t.Errorf("denied decisions %q, want none in dry run", denied)
	}
}
