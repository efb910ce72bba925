package celcond_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/celcond"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	"github.com/grpcauth/grpcauth/internal/testproto/conditiontest"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newEnv starts the condition test services behind an Authenticator with a
// celcond Compiler and cfg.
func newEnv(t *testing.T, cfg grpcauth.Config) *conditiontest.Env {
	t.Helper()
	conds, err := celcond.New(celcond.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Conditions = conds
	return conditiontest.New(t, cfg)
}

func TestCondition_UnaryCalls(t *testing.T) {
	e := newEnv(t, grpcauth.Config{})
	if err := e.Auth.Check(onlyConditionService{e}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	type call func(ctx context.Context) error
	own := func(owner string) call {
		return func(ctx context.Context) error {
			_, err := e.Client.Own(ctx, &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: owner}})
			return err
		}
	}
	ownNoItem := func(ctx context.Context) error {
		_, err := e.Client.Own(ctx, &authtestv1.OwnRequest{})
		return err
	}
	inherited := func(owner string) call {
		return func(ctx context.Context) error {
			_, err := e.Client.InheritedOwn(ctx, &authtestv1.InheritedOwnRequest{Owner: owner})
			return err
		}
	}
	tenant := func(tenant string) call {
		return func(ctx context.Context) error {
			_, err := e.Client.Tenant(ctx, &authtestv1.TenantRequest{Tenant: tenant})
			return err
		}
	}
	method := func(ctx context.Context) error {
		_, err := e.Client.Method(ctx, &authtestv1.MethodRequest{})
		return err
	}
	tests := []struct {
		name   string
		claims map[string]any
		scopes []string
		call   call
		code   codes.Code
		reason string
	}{
		{"owner is the caller", nil, []string{"test:write"}, own("alice"), codes.OK, ""},
		{"owner is someone else", nil, []string{"test:write"}, own("bob"), codes.PermissionDenied, grpcauth.ReasonConditionFailed},
		{"someone else's item, but admin", nil, []string{"test:write", "test:admin"}, own("bob"), codes.OK, ""},
		{"unset message field reads as its default", nil, []string{"test:write"}, ownNoItem, codes.PermissionDenied, grpcauth.ReasonConditionFailed},
		{"scopes are checked before the condition", nil, []string{"test:read"}, own("alice"), codes.PermissionDenied, grpcauth.ReasonScopeInsufficient},
		{"service rule's condition, true", nil, []string{"test:read"}, inherited("alice"), codes.OK, ""},
		{"service rule's condition, false", nil, []string{"test:read"}, inherited("bob"), codes.PermissionDenied, grpcauth.ReasonConditionFailed},
		{"claim equals request field", map[string]any{"tenant": "acme"}, nil, tenant("acme"), codes.OK, ""},
		{"claim differs from request field", map[string]any{"tenant": "acme"}, nil, tenant("other"), codes.PermissionDenied, grpcauth.ReasonConditionFailed},
		{"claim missing: evaluation error", nil, nil, tenant("acme"), codes.PermissionDenied, grpcauth.ReasonConditionError},
		{"claim of another type is unequal (CEL equality)", map[string]any{"tenant": 7}, nil, tenant("acme"), codes.PermissionDenied, grpcauth.ReasonConditionFailed},
		{"method and client_id", nil, nil, method, codes.OK, ""},
		{"another client_id", map[string]any{"cid": "client-2"}, nil, method, codes.PermissionDenied, grpcauth.ReasonConditionFailed},
		// A token that names no user is no owner of an item that names none.
		{"empty sub: subject is an evaluation error", map[string]any{"sub": ""}, []string{"test:write"}, ownNoItem, codes.PermissionDenied, grpcauth.ReasonConditionError},
		{"null sub: subject is an evaluation error", map[string]any{"sub": nil}, []string{"test:write"}, ownNoItem, codes.PermissionDenied, grpcauth.ReasonConditionError},
		{"no sub, but admin", map[string]any{"sub": ""}, []string{"test:write", "test:admin"}, ownNoItem, codes.OK, ""},
		{"no client: client_id is an evaluation error", map[string]any{"cid": ""}, nil, method, codes.PermissionDenied, grpcauth.ReasonConditionError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := conditiontest.Bearer(t.Context(), e.Token(t, tt.claims, tt.scopes))
			conditiontest.CheckStatus(t, tt.call(ctx), tt.code, tt.reason)
		})
	}
}

// onlyConditionService lists the methods of ConditionService alone, for
// Check.
type onlyConditionService struct{ e *conditiontest.Env }

func (o onlyConditionService) GetServiceInfo() map[string]grpc.ServiceInfo {
	all := o.e.Server.GetServiceInfo()
	return map[string]grpc.ServiceInfo{"authtest.v1.ConditionService": all["authtest.v1.ConditionService"]}
}

func TestCondition_CheckReportsEveryBrokenExpression(t *testing.T) {
	e := newEnv(t, grpcauth.Config{})
	err := e.Auth.Check(e.Server)
	var ce *grpcauth.CheckError
	if !errors.As(err, &ce) || !errors.Is(err, grpcauth.ErrInvalidRule) {
		t.Fatalf("Check = %v, want a *CheckError wrapping ErrInvalidRule", err)
	}
	want := map[string]string{ // method: part of CEL's message
		"/authtest.v1.BrokenConditionService/NotBool": "want bool",
		"/authtest.v1.BrokenConditionService/Syntax":  "Syntax error",
		"/authtest.v1.BrokenConditionService/Typo":    "undefined field 'ownr'",
	}
	if got := ce.Methods(); !slices.Equal(got, []string{"/authtest.v1.BrokenConditionService/NotBool",
		"/authtest.v1.BrokenConditionService/Syntax", "/authtest.v1.BrokenConditionService/Typo"}) {
		t.Fatalf("Methods = %v, want the three broken ones", got)
	}
	for _, p := range ce.Problems {
		if msg := p.Err.Error(); !strings.Contains(msg, p.Method) || !strings.Contains(msg, want[p.Method]) {
			t.Errorf("%s: %q does not name the method and CEL's message %q", p.Method, msg, want[p.Method])
		}
	}
	// A broken condition denies its method.
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, nil))
	_, err = e.Broken.Typo(ctx, &authtestv1.TypoRequest{Owner: "alice"})
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonMethodNotConfigured)
}

func TestCondition_ServerStreamChecksItsRequest(t *testing.T) {
	e := newEnv(t, grpcauth.Config{})
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, nil))

	s, err := e.Client.OwnServerStream(ctx, &authtestv1.OwnServerStreamRequest{Owner: "alice", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of stream = %v, want EOF", err)
	}
	<-e.Handled

	s, err = e.Client.OwnServerStream(ctx, &authtestv1.OwnServerStreamRequest{Owner: "bob", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv()
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionFailed)
	if n := len(e.Handled); n != 0 {
		t.Errorf("the handler ran %d times for a refused request", n)
	}
}

func TestCondition_ClientStreamRefusesAtTheFirstFailingMessage(t *testing.T) {
	e := newEnv(t, grpcauth.Config{})
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, nil))
	s, err := e.Client.OwnClientStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"alice", "alice", "bob"} {
		if err := s.Send(&authtestv1.OwnClientStreamRequest{Owner: owner}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Send(&authtestv1.OwnClientStreamRequest{Owner: "alice"}) // may fail: the server has ended the stream
	_, err = s.CloseAndRecv()
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionFailed)
	if n := len(e.Handled); n != 2 {
		t.Errorf("the handler saw %d messages, want the 2 before the refused one", n)
	}
}

func TestCondition_BidiStreamRefusalStandsEvenIfTheHandlerSwallowsIt(t *testing.T) {
	e := newEnv(t, grpcauth.Config{})
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, nil))
	s, err := e.Client.OwnBidiStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&authtestv1.OwnBidiStreamRequest{Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first message: %v", err)
	}
	if err := s.Send(&authtestv1.OwnBidiStreamRequest{Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	// The handler gets the refusal from Recv, tries to Send anyway (which
	// fails: the handler returns an error if it does not) and returns nil;
	// the caller still gets the refusal.
	_, err = s.Recv()
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionFailed)
}

func TestCondition_DryRunReportsEachFailingMessageAndLetsItThrough(t *testing.T) {
	var mu sync.Mutex
	var got []grpcauth.Decision
	e := newEnv(t, grpcauth.Config{DryRunMethods: []string{"authtest.v1.ConditionService"}, OnDecision: func(_ context.Context, d grpcauth.Decision) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
	}})
	ctx := conditiontest.Bearer(t.Context(), e.Token(t, nil, []string{"test:write"}))
	if _, err := e.Client.Own(ctx, &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "bob"}}); err != nil {
		t.Fatalf("unary in dry run: %v", err)
	}
	s, err := e.Client.OwnBidiStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"bob", "alice", "carol"} {
		if err := s.Send(&authtestv1.OwnBidiStreamRequest{Owner: owner}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatalf("message for %s in dry run: %v", owner, err)
		}
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of stream = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var wouldDeny []string
	for _, d := range got {
		if d.DryRun {
			if d.Reason != grpcauth.ReasonConditionFailed || d.Code != codes.PermissionDenied || d.Err == nil {
				t.Errorf("would-deny %+v, want CONDITION_FAILED with a cause", d)
			}
			wouldDeny = append(wouldDeny, d.Method)
		}
	}
	want := []string{"/authtest.v1.ConditionService/Own", "/authtest.v1.ConditionService/OwnBidiStream", "/authtest.v1.ConditionService/OwnBidiStream"}
	if !slices.Equal(wouldDeny, want) {
		t.Errorf("would-deny decisions for %v, want %v (the unary call and the two failing messages)", wouldDeny, want)
	}
}

func TestCondition_ServeCallChecksTheRequest(t *testing.T) {
	e := newEnv(t, grpcauth.Config{})
	ctx := metadata.NewIncomingContext(loopbackCtx(), metadata.Pairs("authorization", "Bearer "+e.Token(t, nil, []string{"test:write"})))
	tests := []struct {
		name   string
		req    any
		code   codes.Code
		reason string
	}{
		{"own item", &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "alice"}}, codes.OK, ""},
		{"another's item", &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "bob"}}, codes.PermissionDenied, grpcauth.ReasonConditionFailed},
		{"no request given: fails closed", nil, codes.PermissionDenied, grpcauth.ReasonConditionError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			served := false
			err := e.Auth.ServeCall(ctx, "/authtest.v1.ConditionService/Own", false, tc.req, func(context.Context, *grpcauth.Guard) error {
				served = true
				return nil
			})
			if tc.code == codes.OK {
				if err != nil || !served {
					t.Fatalf("ServeCall = %v, served %v; want the call served", err, served)
				}
				return
			}
			conditiontest.CheckStatus(t, err, tc.code, tc.reason)
			if served {
				t.Error("ServeCall ran a call its condition refused")
			}
		})
	}
}

func TestCondition_StreamWithClaimsOnlyConditionIsRefusedAtItsStart(t *testing.T) {
	tenantOnly := map[string]*grpcauthv1.Rule{
		"/authtest.v1.ConditionService/OwnClientStream": {Condition: "claims.tenant == 'acme'"},
		"/authtest.v1.ConditionService/OwnBidiStream":   {Condition: "claims.tenant == 'acme'"},
	}
	e := newEnv(t, grpcauth.Config{Rules: tenantOnly})
	other := conditiontest.Bearer(t.Context(), e.Token(t, map[string]any{"tenant": "other"}, nil))
	acme := conditiontest.Bearer(t.Context(), e.Token(t, map[string]any{"tenant": "acme"}, nil))

	// A stream that sends no message never gives a message to check: the
	// condition, which does not read the request, must be checked anyway.
	cs, err := e.Client.OwnClientStream(other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CloseAndRecv()
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionFailed)

	bs, err := e.Client.OwnBidiStream(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	_, err = bs.Recv()
	conditiontest.CheckStatus(t, err, codes.PermissionDenied, grpcauth.ReasonConditionFailed)

	// The right tenant streams as before.
	bs, err = e.Client.OwnBidiStream(acme)
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Send(&authtestv1.OwnBidiStreamRequest{Owner: "anyone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Recv(); err != nil {
		t.Fatalf("acme's message: %v", err)
	}
	if err := bs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of acme's stream = %v", err)
	}
}

// TestCondition_CallThatEndsIsNotGrantedByALongComprehension: a call
// cancelled while its condition runs a comprehension (here, cancelled
// before it starts) is refused with Canceled, not served, and its
// decision's error is the call's cancellation: the evaluation stopped
// rather than running on, to a grant, for a caller that is gone. Dry run
// does not relax it, as it relaxes no cancellation.
func TestCondition_CallThatEndsIsNotGrantedByALongComprehension(t *testing.T) {
	const own = "/authtest.v1.ConditionService/Own"
	for _, dryRun := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry run %v", dryRun), func(t *testing.T) {
			var decided []grpcauth.Decision
			e := newEnv(t, grpcauth.Config{
				Rules:      map[string]*grpcauthv1.Rule{own: {Condition: "claims.l.exists(x, x == request.item.owner)"}},
				DryRun:     dryRun,
				OnDecision: func(_ context.Context, d grpcauth.Decision) { decided = append(decided, d) },
			})
			l := make([]string, 1000)
			l[len(l)-1] = "alice"
			ctx, cancel := context.WithCancel(metadata.NewIncomingContext(loopbackCtx(),
				metadata.Pairs("authorization", "Bearer "+e.Token(t, map[string]any{"l": l}, nil))))
			req := &authtestv1.OwnRequest{Item: &authtestv1.Item{Owner: "alice"}}
			serve := func(ctx context.Context) (served bool, err error) {
				err = e.Auth.ServeCall(ctx, own, false, req, func(context.Context, *grpcauth.Guard) error {
					served = true
					return nil
				})
				return served, err
			}
			if served, err := serve(ctx); err != nil || !served {
				t.Fatalf("live call: ServeCall = %v, served %v; want served", err, served)
			}
			cancel()
			served, err := serve(ctx)
			if status.Code(err) != codes.Canceled || served {
				t.Fatalf("cancelled call: ServeCall = %v, served %v; want a refusal with Canceled", err, served)
			}
			if d := decided[len(decided)-1]; d.Allowed || !errors.Is(d.Err, context.Canceled) || d.Reason != grpcauth.ReasonCanceled {
				t.Errorf("decision: allowed %v, reason %q, err %v; want refused, %q, with context.Canceled", d.Allowed, d.Reason, d.Err, grpcauth.ReasonCanceled)
			}
		})
	}
}

// TestCondition_StreamMessageWhoseCallEndedIsRefusedInDryRun: a stream
// message checked after the call's context ended stops the condition's
// comprehension, and the receive is refused with Canceled, in dry run as
// well (dry run relaxes no cancellation), rather than reported and let
// through to a handler whose caller is gone.
func TestCondition_StreamMessageWhoseCallEndedIsRefusedInDryRun(t *testing.T) {
	const bidi = "/authtest.v1.ConditionService/OwnBidiStream"
	var mu sync.Mutex
	var decided []grpcauth.Decision
	e := newEnv(t, grpcauth.Config{
		Rules:      map[string]*grpcauthv1.Rule{bidi: {Condition: "claims.l.exists(x, x == request.owner)"}},
		DryRun:     true,
		OnDecision: func(_ context.Context, d grpcauth.Decision) { mu.Lock(); decided = append(decided, d); mu.Unlock() },
	})
	l := make([]string, 1000)
	l[len(l)-1] = "alice"
	ctx, cancel := context.WithCancel(metadata.NewIncomingContext(loopbackCtx(),
		metadata.Pairs("authorization", "Bearer "+e.Token(t, map[string]any{"l": l}, nil))))
	defer cancel()
	var live, ended error
	err := e.Auth.ServeCall(ctx, bidi, true, nil, func(_ context.Context, g *grpcauth.Guard) error {
		live = g.Received(&authtestv1.OwnBidiStreamRequest{Owner: "alice"})
		cancel()
		ended = g.Received(&authtestv1.OwnBidiStreamRequest{Owner: "alice"})
		return ended
	})
	if live != nil {
		t.Fatalf("message on the live call: %v, want it passed", live)
	}
	if status.Code(ended) != codes.Canceled || status.Code(err) != codes.Canceled {
		t.Fatalf("message after the call ended: %v, ServeCall = %v; want both Canceled", ended, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if d := decided[len(decided)-1]; d.Allowed || d.DryRun || d.Reason != grpcauth.ReasonCanceled {
		t.Errorf("decision: allowed %v, dry run %v, reason %q; want refused, %q", d.Allowed, d.DryRun, d.Reason, grpcauth.ReasonCanceled)
	}
}
