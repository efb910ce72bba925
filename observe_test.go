package grpcauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// jsonRecords decodes the JSON log records in buf.
func jsonRecords(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var recs []map[string]any
	dec := json.NewDecoder(buf)
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestLog_EveryDecisionIsOneRecordWithItsFieldsAndNoToken(t *testing.T) {
	var logs bytes.Buffer
	var rec recorder
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.OnDecision = rec.record
		c.DryRunMethods = []string{mAnyOf}
	})
	read := e.scoped(t, "test:read")
	expired := e.token(t, map[string]any{"exp": t0.Add(-time.Hour), "iat": t0.Add(-2 * time.Hour)})

	calls := []struct {
		call    callKind
		token   string
		code    codes.Code
		want    map[string]any // fields the record must have
		level   string
		subject bool // subject, client id and issuer present
	}{
		{callInherited, read, codes.OK, map[string]any{"msg": "grpcauth: call allowed", "method": mInherited,
			"outcome": "allowed", "code": "OK", "reason": ""}, "DEBUG", true},
		{callAllOf, read, codes.PermissionDenied, map[string]any{"msg": "grpcauth: call denied", "method": mAllOf,
			"outcome": "denied", "code": "PermissionDenied", "reason": ReasonScopeInsufficient}, "INFO", true},
		{callAllOf, expired, codes.Unauthenticated, map[string]any{"outcome": "denied", "reason": ReasonTokenExpired}, "INFO", false},
		{callAllOf, "", codes.Unauthenticated, map[string]any{"outcome": "denied", "reason": ReasonCredentialsMissing}, "INFO", false},
		{callAnyOf, read, codes.OK, map[string]any{"msg": "grpcauth: call would be denied (dry run)", "method": mAnyOf,
			"outcome": "would_deny", "code": "PermissionDenied", "reason": ReasonScopeInsufficient}, "INFO", true},
		{callUnannotated, read, codes.PermissionDenied, map[string]any{"outcome": "denied", "reason": ReasonMethodNotConfigured}, "WARN", true},
	}
	for i, c := range calls {
		ctx := t.Context()
		if c.token != "" {
			ctx = withAuth(ctx, bearer(c.token))
		}
		if _, err := c.call(ctx, e); status.Code(err) != c.code {
			t.Fatalf("call %d: %v, want %v", i, err, c.code)
		}
		recs := jsonRecords(t, &logs)
		if len(recs) != 1 {
			t.Fatalf("call %d: %d records, want 1", i, len(recs))
		}
		r := recs[0]
		for k, v := range c.want {
			if r[k] != v {
				t.Errorf("call %d: %s = %v, want %v (record %v)", i, k, r[k], v, r)
			}
		}
		if r["level"] != c.level {
			t.Errorf("call %d: level %v, want %s", i, r["level"], c.level)
		}
		if lat, ok := r["latency"].(float64); !ok || lat <= 0 {
			t.Errorf("call %d: latency %v, want a positive duration", i, r["latency"])
		}
		if d := rec.last(t); d.Latency <= 0 || time.Duration(r["latency"].(float64)) != d.Latency {
			t.Errorf("call %d: Decision.Latency %v, logged %v", i, d.Latency, r["latency"])
		}
		if _, has := r["subject"]; has != c.subject {
			t.Errorf("call %d: subject present = %v, want %v", i, has, c.subject)
		}
		if c.subject && (r["subject"] != "user-1" || r["client_id"] != grpcauthtest.DefaultClientID || r["issuer"] != e.iss.URL()) {
			t.Errorf("call %d: caller fields %v %v %v", i, r["subject"], r["client_id"], r["issuer"])
		}
		for _, tok := range []string{read, expired} {
			for _, v := range r {
				if s, ok := v.(string); ok && strings.Contains(s, tok[strings.LastIndexByte(tok, '.')+1:]) {
					t.Errorf("call %d: record carries a token: %v", i, r)
				}
			}
		}
	}
}

func TestLog_LevelsAreConfigurableAndDynamic(t *testing.T) {
	var logs bytes.Buffer
	denied := new(slog.LevelVar) // Info
	a := mustNew(t, Config{
		Logger:    slog.New(slog.NewJSONHandler(&logs, nil)), // Info and above
		LogLevels: LogLevels{Allowed: slog.LevelInfo, Denied: denied, Problem: slog.LevelError},
		Verifier:  staticVerifier{err: verifier.ErrKeysUnavailable},
	})
	ok := mustNew(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), LogLevels: LogLevels{Allowed: slog.LevelInfo}})

	if _, err := callUnary(ok, bearerCtx("tok"), mAuth); err != nil {
		t.Fatal(err)
	}
	if _, err := callUnary(a, bearerCtx("tok"), mAuth); status.Code(err) != codes.Unavailable {
		t.Fatal(err)
	}
	if _, err := callUnary(a, loopbackPeer(context.Background()), mAuth); status.Code(err) != codes.Unauthenticated {
		t.Fatal(err)
	}
	denied.Set(slog.LevelDebug) // below the handler's level: no record
	if _, err := callUnary(a, loopbackPeer(context.Background()), mAuth); status.Code(err) != codes.Unauthenticated {
		t.Fatal(err)
	}
	var got []string
	for _, r := range jsonRecords(t, &logs) {
		got = append(got, r["outcome"].(string)+"@"+r["level"].(string))
	}
	if want := "allowed@INFO denied@ERROR denied@INFO"; strings.Join(got, " ") != want {
		t.Errorf("records %q, want %q", got, want)
	}
}

// A level given as a *slog.LevelVar is read on every call, also to decide
// whether to time the decision: raised at run time above a logger's
// minimum, the next allowed call is logged with its latency measured.
func TestLog_LevelVarRaisedAtRunTimeTimesTheNextDecision(t *testing.T) {
	var logs bytes.Buffer
	allowed := new(slog.LevelVar)
	allowed.Set(slog.LevelDebug)
	a := mustNew(t, Config{
		Verifier:  staticVerifier{claims: mustClaims(t, "test:read", "test:write", "test:stream")},
		Logger:    slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError})),
		LogLevels: LogLevels{Allowed: allowed}, // Denied Info, Problem Warn: all below Error
	})
	if _, err := callUnary(a, bearerCtx("tok"), mAllOf); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("records below the logger's level: %s", logs.String())
	}
	allowed.Set(slog.LevelError)
	if _, err := callUnary(a, bearerCtx("tok"), mAllOf); err != nil {
		t.Fatal(err)
	}
	recs := jsonRecords(t, &logs)
	if len(recs) != 1 || recs[0]["outcome"] != "allowed" || recs[0]["level"] != "ERROR" {
		t.Fatalf("records %v, want one allowed@ERROR", recs)
	}
	if lat, ok := recs[0]["latency"].(float64); !ok || lat <= 0 {
		t.Errorf("latency %v, want a positive duration: the raised level was not read as the call started", recs[0]["latency"])
	}
}

// With a logger at Info, the default, and no OnDecision, a denial is logged
// (at Info) with its latency measured: the clock is read when the logger is
// enabled at any of the levels, not only at the lowest (Debug).
func TestLog_InfoLoggerRecordsTheLatencyOfADenial(t *testing.T) {
	var logs bytes.Buffer
	a := mustNew(t, Config{Verifier: staticVerifier{err: verifier.ErrBadSignature}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if _, err := callUnary(a, bearerCtx("tok"), mAuth); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("call: %v, want Unauthenticated", err)
	}
	recs := jsonRecords(t, &logs)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	if lat, ok := recs[0]["latency"].(float64); !ok || lat <= 0 {
		t.Errorf("latency %v, want a positive duration", recs[0]["latency"])
	}
}

// A panicking OnDecision (left to the server's recovery interceptor) does
// not cost the decision its log record: the record is written first.
func TestLog_DecisionIsLoggedWhenOnDecisionPanics(t *testing.T) {
	var logs bytes.Buffer
	a := mustNew(t, Config{
		Verifier:   staticVerifier{err: verifier.ErrBadSignature},
		Logger:     slog.New(slog.NewJSONHandler(&logs, nil)),
		OnDecision: func(context.Context, Decision) { panic("hook failed") },
	})
	func() {
		defer func() {
			if r := recover(); r != "hook failed" {
				t.Errorf("recovered %v, want the hook's panic", r)
			}
		}()
		_, _ = callUnary(a, bearerCtx("tok"), mAuth)
	}()
	recs := jsonRecords(t, &logs)
	if len(recs) != 1 || recs[0]["reason"] != ReasonTokenInvalid {
		t.Fatalf("records %v, want the denial's one", recs)
	}
}

// A panicking Logger (left to the server's recovery interceptor) does not
// cost the decision its OnDecision call, by which metrics and audits count
// it: the hook still runs, as the panic unwinds. That holds whether the
// handler panics as it writes the record or as it is asked whether it is
// enabled (a wrapping handler whose inner one is nil panics there first).
func TestLog_OnDecisionRunsWhenTheLoggerPanics(t *testing.T) {
	inHandle := &panickyHandler{Handler: slog.NewJSONHandler(&bytes.Buffer{}, nil)}
	inEnabled := &panickyEnabledHandler{Handler: slog.NewJSONHandler(&bytes.Buffer{}, nil)}
	for _, tt := range []struct {
		name  string
		h     slog.Handler
		armed *atomic.Bool
	}{
		{"in Handle", inHandle, &inHandle.armed},
		{"in Enabled", inEnabled, &inEnabled.armed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.armed.Store(true)
			var got []Decision
			a := mustNew(t, Config{
				Verifier:   staticVerifier{err: verifier.ErrBadSignature},
				Logger:     slog.New(tt.h),
				LogLevels:  LogLevels{Denied: slog.LevelWarn}, // the level the handlers panic at
				OnDecision: func(_ context.Context, d Decision) { got = append(got, d) },
			})
			func() {
				defer func() {
					if r := recover(); r != panicMarker+" in the Logger" {
						t.Errorf("recovered %v, want the Logger's panic", r)
					}
				}()
				_, _ = callUnary(a, bearerCtx("tok"), mAuth)
			}()
			if len(got) != 1 || got[0].Reason != ReasonTokenInvalid {
				t.Fatalf("decisions %+v, want the denial's one", got)
			}
		})
	}
}

// panickyEnabledHandler is a handler that, once armed, panics the first
// time it is asked whether it is enabled at Warn or above.
type panickyEnabledHandler struct {
	slog.Handler
	armed atomic.Bool
}

func (h *panickyEnabledHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l >= slog.LevelWarn && h.armed.Swap(false) {
		panic(panicMarker + " in the Logger")
	}
	return h.Handler.Enabled(ctx, l)
}

func TestLog_DefaultLevelsHideAllowedCalls(t *testing.T) {
	var logs bytes.Buffer
	a := mustNew(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if _, err := callUnary(a, bearerCtx("tok"), mAuth); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("allowed call logged at the default level: %s", logs.String())
	}
}

func TestDecision_UnknownMethodIsMarked(t *testing.T) {
	var rec recorder
	a := mustNew(t, Config{OnDecision: rec.record, DefaultRule: &grpcauthv1.Rule{}})
	for _, c := range []struct {
		method  string
		unknown bool
	}{{mAuth, false}, {mUnannotated, false}, {"/ghost.v1.Ghost/Haunt", true}, {"not a method", true}} {
		callUnary(a, bearerCtx("tok"), c.method)
		if d := rec.last(t); d.Method != c.method || d.UnknownMethod != c.unknown {
			t.Errorf("%s: UnknownMethod = %v, want %v", c.method, d.UnknownMethod, c.unknown)
		}
	}
}

func TestDecision_Outcome(t *testing.T) {
	for _, tt := range []struct {
		d    Decision
		want string
	}{
		{Decision{Allowed: true}, OutcomeAllowed},
		{Decision{}, OutcomeDenied},
		{Decision{Allowed: true, DryRun: true}, OutcomeWouldDeny},
	} {
		if got := tt.d.Outcome(); got != tt.want {
			t.Errorf("%+v.Outcome() = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestDecision_MethodRegisteredOnTheServerIsKnownAfterCheck(t *testing.T) {
	var rec recorder
	a := mustNew(t, Config{OnDecision: rec.record, DefaultRule: &grpcauthv1.Rule{}})
	const ghost = "/ghost.v1.Ghost/Haunt" // in no descriptor and no Config entry
	callUnary(a, bearerCtx("tok"), ghost)
	if d := rec.last(t); !d.UnknownMethod {
		t.Fatalf("before Check: UnknownMethod = false, want true")
	}
	_ = a.Check(fakeServer{"ghost.v1.Ghost": {Methods: []grpc.MethodInfo{{Name: "Haunt"}}}})
	callUnary(a, bearerCtx("tok"), ghost)
	if d := rec.last(t); d.UnknownMethod {
		t.Errorf("after Check registered it: UnknownMethod = true, want false")
	}
}

// TestLog_MethodNotConfiguredIsAProblemOnlyForKnownMethods: with a valid
// token, a refusal for want of a rule is logged at Problem (Warn) when the
// method is known, an operator's gap, and at Denied (Info) when the caller
// made the name up, which it could repeat at will.
func TestLog_MethodNotConfiguredIsAProblemOnlyForKnownMethods(t *testing.T) {
	for _, tt := range []struct {
		method string
		level  string
	}{
		{mUnannotated, "WARN"},            // in the descriptors, no rule
		{"/ghost.v1.Ghost/Haunt", "INFO"}, // in nothing: made up
		{"not a method", "INFO"},
	} {
		var logs bytes.Buffer
		a := mustNew(t, Config{Verifier: staticVerifier{claims: mustClaims(t, "test:read")},
			Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		_, err := callUnary(a, bearerCtx("tok"), tt.method)
		checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
		recs := jsonRecords(t, &logs)
		if len(recs) != 1 || recs[0]["level"] != tt.level {
			t.Errorf("%s: records %v, want one at %s", tt.method, recs, tt.level)
		}
	}
}

// A call denied because Config.Descriptors failed (UNAVAILABLE,
// RULES_UNAVAILABLE) is logged at Problem (Warn), as unavailable keys
// are: the server's resolver, not the caller, failed, and an operator
// must act, though the method is not known yet (its plan is never kept
// while the resolver fails).
func TestLog_ResolverFailureIsAProblemThoughTheMethodIsNotKnownYet(t *testing.T) {
	r := new(flakyResolver)
	r.set(errUnreachable)
	var logs bytes.Buffer
	a := mustNew(t, Config{Verifier: staticVerifier{claims: mustClaims(t, "test:read")}, Descriptors: r,
		DefaultRule: &grpcauthv1.Rule{}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	_, err := callUnary(a, bearerCtx("tok"), mAllOf)
	checkStatus(t, err, codes.Unavailable, ReasonRulesUnavailable)
	if recs := jsonRecords(t, &logs); len(recs) != 1 || recs[0]["level"] != "WARN" || recs[0]["reason"] != ReasonRulesUnavailable {
		t.Errorf("records %v, want one at WARN", recs)
	}
}

// TestLog_MadeUpMethodNameIsClippedInRecordAndError calls, through
// grpc.UnknownServiceHandler (a proxy), a made-up method whose name is 1 MiB
// long (gRPC admits a :path of up to 16 MiB by default): the record of its
// denial holds a clipped name, in "method" and in "error", so a caller
// cannot make each refused call write megabytes into the server's log.
// Decision.Method keeps the full name; Decision.Err is clipped too. So it
// is when a rule with a condition covers the name (the DefaultRule, or a
// Config rule for its service): the condition cannot be compiled for a
// method without a descriptor, and the error saying so names the method.
func TestLog_MadeUpMethodNameIsClippedInRecordAndError(t *testing.T) {
	long := "/ghost.v1.Ghost/" + strings.Repeat("a", 1<<20)
	withCondition := &grpcauthv1.Rule{Scopes: []string{"test:read"}, Condition: "request.owner == subject"}
	for _, cfg := range []struct {
		name string
		cfg  Config
	}{
		{"no rule", Config{}},
		{"DefaultRule with a condition", Config{Conditions: refuseAll{}, DefaultRule: withCondition}},
		{"service rule with a condition", Config{Conditions: refuseAll{}, Rules: map[string]*grpcauthv1.Rule{"ghost.v1.Ghost": withCondition}}},
	} {
		for _, tt := range []struct {
			name   string
			ctx    context.Context
			code   codes.Code
			reason string
		}{
			{"no token", t.Context(), codes.Unauthenticated, ReasonCredentialsMissing},
			{"valid token", withAuth(t.Context(), bearer("tok")), codes.PermissionDenied, ReasonMethodNotConfigured},
		} {
			t.Run(cfg.name+"/"+tt.name, func(t *testing.T) {
				var logs bytes.Buffer
				var rec recorder
				c := cfg.cfg
				c.Verifier, c.Logger, c.OnDecision = staticVerifier{claims: mustClaims(t, "test:read")}, slog.New(slog.NewJSONHandler(&logs, nil)), rec.record
				a := mustNew(t, c)
				_, addr := serve(t, &testService{}, grpc.UnknownServiceHandler(recordingHandler(make(chan string, 1))),
					grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(a.StreamServerInterceptor()))
				conn := dial(t, addr, insecure.NewCredentials())
				err := conn.Invoke(tt.ctx, long, &emptypb.Empty{}, &emptypb.Empty{})
				checkStatus(t, err, tt.code, tt.reason)
				if d := rec.last(t); d.Method != long || !d.UnknownMethod {
					t.Errorf("Decision.Method is %d bytes (UnknownMethod %v), want the full %d", len(d.Method), d.UnknownMethod, len(long))
				} else if n := len(d.Err.Error()); n > 1024 {
					t.Errorf("Decision.Err is %d bytes, want at most 1 KiB", n)
				}
				if logs.Len() > 2048 {
					t.Errorf("the record is %d bytes, want at most 2 KiB", logs.Len())
				}
				recs := jsonRecords(t, &logs)
				if len(recs) != 1 {
					t.Fatalf("%d records, want 1", len(recs))
				}
				if m, _ := recs[0]["method"].(string); !strings.HasPrefix(m, "/ghost.v1.Ghost/aaaa") || !strings.HasSuffix(m, fmt.Sprintf("…(%d bytes)", len(long))) {
					t.Errorf("method %.100q…, want the name's start and its length", m)
				}
			})
		}
	}
}

// A token's sub, client id and acr may be as long as the token (64 KiB by
// default): the record of each call clips the subject, client_id and issuer
// to 256 bytes and its length, and the step-up error quotes the acr
// clipped. The Decision keeps the claims whole, for hooks that need exact
// ids.
func TestLog_LongTokenValuesAreClippedInTheRecordButWholeInTheDecision(t *testing.T) {
	var logs bytes.Buffer
	var rec recorder
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.OnDecision = rec.record
		c.Rules = map[string]*grpcauthv1.Rule{mAllOf: {AcrValues: []string{"urn:example:mfa"}}}
	})
	sub, cid, acr := strings.Repeat("s", 15000), strings.Repeat("c", 15000), strings.Repeat("a", 15000)
	tok := e.token(t, map[string]any{"sub": sub, "cid": cid}, grpcauthtest.WithACR(acr), grpcauthtest.WithScopes("test:read"))
	ctx := withAuth(t.Context(), bearer(tok))
	if _, err := callInherited(ctx, e); err != nil {
		t.Fatal(err)
	}
	_, err := callAllOf(ctx, e)
	checkStatus(t, err, codes.Unauthenticated, ReasonInsufficientUserAuthentication)
	recs := jsonRecords(t, &logs)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for i, r := range recs {
		for k, want := range map[string]string{"subject": "ssss", "client_id": "cccc"} {
			if v, _ := r[k].(string); !strings.HasPrefix(v, want) || !strings.HasSuffix(v, "…(15000 bytes)") || len(v) > 300 {
				t.Errorf("record %d: %s is %d bytes (%.40q…), want 256 and its length", i, k, len(v), v)
			}
		}
		if r["issuer"] != e.iss.URL() {
			t.Errorf("record %d: issuer %v, want %s whole", i, r["issuer"], e.iss.URL())
		}
	}
	if s, _ := recs[1]["error"].(string); !strings.Contains(s, "aaaa…(15000 bytes)") || len(s) > 600 {
		t.Errorf("error is %d bytes (%.80q…), want the acr clipped to 256 bytes and its length", len(s), s)
	}
	if d := rec.last(t); d.Claims.Subject() != sub || d.Claims.ClientID() != cid || len(d.Err.Error()) > 600 {
		t.Errorf("Decision: subject %d bytes, client id %d bytes, Err %d bytes; want the claims whole and Err short",
			len(d.Claims.Subject()), len(d.Claims.ClientID()), len(d.Err.Error()))
	}
}

// The error of a shared DPoP replay store is its own, as long as it makes
// it: the record clips it to 1 KiB and its length; Decision.Err keeps it.
func TestLog_LongReplayStoreErrorIsClippedInTheRecord(t *testing.T) {
	var logs bytes.Buffer
	var rec recorder
	storeErr := errors.New("redis: " + strings.Repeat("x", 100_000))
	d := newDPoPEnv(t, func(c *Config, _ *verifier.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c.OnDecision = rec.record
		c.DPoP.ReplayCache = failingStore{storeErr}
	})
	ctx := dpopCtx(t.Context(), "DPoP "+d.bound, d.proof(t, d.key, mInherited, d.bound, grpcauthtest.ProofOptions{}))
	err, _, _ := d.callUnaryMD(ctx, mInherited)
	checkStatus(t, err, codes.Unavailable, ReasonDPoPReplayCheckUnavailable)
	recs := jsonRecords(t, &logs)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	if s, _ := recs[0]["error"].(string); !strings.Contains(s, "redis: xxxx") || len(s) > 1100 ||
		!strings.HasSuffix(s, fmt.Sprintf("…(%d bytes)", len(rec.last(t).Err.Error()))) {
		t.Errorf("error is %d bytes (%.80q…), want the store's error clipped to 1 KiB and its length", len(s), s)
	}
	if !errors.Is(rec.last(t).Err, storeErr) {
		t.Errorf("Decision.Err = %.80v…, want the store's error", rec.last(t).Err)
	}
}
