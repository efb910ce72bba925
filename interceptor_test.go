package grpcauth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpcauth/grpcauth/grpcauthtest"
	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// callKind invokes one test method and returns the Caller the handler saw.
type callKind func(ctx context.Context, e *env) (*authtestv1.Caller, error)

var (
	callAllOf = func(ctx context.Context, e *env) (*authtestv1.Caller, error) {
		r, err := e.client.AllOf(ctx, &authtestv1.AllOfRequest{})
		return r.GetCaller(), err
	}
	callAnyOf = func(ctx context.Context, e *env) (*authtestv1.Caller, error) {
		r, err := e.client.AnyOf(ctx, &authtestv1.AnyOfRequest{})
		return r.GetCaller(), err
	}
	callPublic = func(ctx context.Context, e *env) (*authtestv1.Caller, error) {
		r, err := e.client.Public(ctx, &authtestv1.PublicRequest{})
		return r.GetCaller(), err
	}
	callAuthenticated = func(ctx context.Context, e *env) (*authtestv1.Caller, error) {
		r, err := e.client.Authenticated(ctx, &authtestv1.AuthenticatedRequest{})
		return r.GetCaller(), err
	}
	callInherited = func(ctx context.Context, e *env) (*authtestv1.Caller, error) {
		r, err := e.client.Inherited(ctx, &authtestv1.InheritedRequest{})
		return r.GetCaller(), err
	}
	callUnannotated = func(ctx context.Context, e *env) (*authtestv1.Caller, error) {
		r, err := e.other.Unannotated(ctx, &authtestv1.UnannotatedRequest{})
		return r.GetCaller(), err
	}
	// callServerStream reads the first response, then cancels the call,
	// which ends the handler.
	callServerStream = func(ctx context.Context, e *env) (*authtestv1.Caller, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := e.client.ServerStream(ctx, &authtestv1.ServerStreamRequest{Count: 1})
		if err != nil {
			return nil, err
		}
		r, err := s.Recv()
		return r.GetCaller(), err
	}
	callClientStream = func(ctx context.Context, e *env) (*authtestv1.Caller, error) {
		s, err := e.client.ClientStream(ctx)
		if err != nil {
			return nil, err
		}
		for range 3 {
			if err := s.Send(&authtestv1.ClientStreamRequest{}); err != nil {
				break // the error comes from CloseAndRecv
			}
		}
		r, err := s.CloseAndRecv()
		if err == nil && r.GetReceived() != 3 {
			return nil, errors.New("handler did not receive 3 messages")
		}
		return r.GetCaller(), err
	}
	callBidiStream = func(ctx context.Context, e *env) (*authtestv1.Caller, error) {
		s, err := e.client.BidiStream(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.Send(&authtestv1.BidiStreamRequest{}); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		r, err := s.Recv()
		if err != nil {
			return nil, err
		}
		if err := s.CloseSend(); err != nil {
			return nil, err
		}
		if _, err := s.Recv(); !errors.Is(err, io.EOF) {
			return nil, err
		}
		return r.GetCaller(), nil
	}
)

func TestInterceptors_TokenKindsByMethod(t *testing.T) {
	e := newEnv(t)
	valid := func(scopes ...string) func(t *testing.T) []string {
		return func(t *testing.T) []string { return []string{bearer(e.scoped(t, scopes...))} }
	}
	raw := func(values ...string) func(t *testing.T) []string {
		return func(*testing.T) []string { return values }
	}
	minted := func(claims map[string]any, opts ...grpcauthtest.MintOption) func(t *testing.T) []string {
		return func(t *testing.T) []string { return []string{bearer(e.token(t, claims, opts...))} }
	}
	all := []string{"test:read", "test:write", "test:admin", "test:audit", "test:stream"}

	tests := []struct {
		name     string
		call     callKind
		auth     func(t *testing.T) []string
		want     codes.Code
		reason   string
		required string // ErrorInfo required_scopes, when checked
		anon     bool   // the handler saw no claims
	}{
		{name: "no metadata", call: callAllOf, auth: raw(), want: codes.Unauthenticated, reason: ReasonCredentialsMissing},
		{name: "Basic scheme", call: callAllOf, auth: raw("Basic dXNlcjpwYXNz"), want: codes.Unauthenticated, reason: ReasonTokenTypeUnsupported},
		{name: "lower-case bearer", call: callAllOf, auth: func(t *testing.T) []string { return []string{"bearer " + e.scoped(t, "test:read", "test:write")} }, want: codes.OK},
		{name: "upper-case BEARER", call: callAllOf, auth: func(t *testing.T) []string { return []string{"BEARER " + e.scoped(t, "test:read", "test:write")} }, want: codes.OK},
		{name: "two authorization values", call: callAllOf, auth: func(t *testing.T) []string {
			tok := e.scoped(t, "test:read", "test:write")
			return []string{bearer(tok), bearer(tok)}
		}, want: codes.Unauthenticated, reason: ReasonTokenInvalid},
		{name: "empty token", call: callAllOf, auth: raw("Bearer "), want: codes.Unauthenticated, reason: ReasonTokenInvalid},
		{name: "scheme only", call: callAllOf, auth: raw("Bearer"), want: codes.Unauthenticated, reason: ReasonTokenInvalid},
		{name: "empty value", call: callAllOf, auth: raw(""), want: codes.Unauthenticated, reason: ReasonTokenInvalid},
		{name: "garbage token", call: callAllOf, auth: raw("Bearer not.a.jwt"), want: codes.Unauthenticated, reason: ReasonTokenInvalid},
		{name: "expired", call: callAllOf, auth: minted(map[string]any{"exp": t0.Add(-time.Hour), "iat": t0.Add(-2 * time.Hour), "scp": all}), want: codes.Unauthenticated, reason: ReasonTokenExpired},
		{name: "wrong audience", call: callAllOf, auth: minted(map[string]any{"aud": "api://other", "scp": all}), want: codes.Unauthenticated, reason: ReasonTokenInvalid},
		{name: "wrong issuer", call: callAllOf, auth: minted(map[string]any{"iss": "https://evil.example/oauth2/default", "scp": all}), want: codes.Unauthenticated, reason: ReasonTokenInvalid},
		{name: "alg none", call: callAllOf, auth: minted(map[string]any{"scp": all}, grpcauthtest.Unsigned()), want: codes.Unauthenticated, reason: ReasonTokenInvalid},
		{name: "all-of satisfied", call: callAllOf, auth: valid("test:read", "test:write"), want: codes.OK},
		{name: "all-of missing one scope", call: callAllOf, auth: valid("test:read"), want: codes.PermissionDenied, reason: ReasonScopeInsufficient, required: `[["test:read","test:write"]]`},
		{name: "all-of scope is a prefix", call: callAllOf, auth: valid("test:read", "test:writer"), want: codes.PermissionDenied, reason: ReasonScopeInsufficient},
		{name: "any-of first alternative", call: callAnyOf, auth: valid("test:admin"), want: codes.OK},
		{name: "any-of second alternative", call: callAnyOf, auth: valid("test:write", "test:audit"), want: codes.OK},
		{name: "any-of half an alternative", call: callAnyOf, auth: valid("test:write"), want: codes.PermissionDenied, reason: ReasonScopeInsufficient, required: `[["test:admin"],["test:audit","test:write"]]`},
		{name: "any-of scopes in another case", call: callAnyOf, auth: valid("TEST:ADMIN", "test:Audit", "test:write"), want: codes.PermissionDenied, reason: ReasonScopeInsufficient},
		{name: "any-of scope is a prefix or an extension", call: callAnyOf, auth: valid("test:admi", "test:administrator", "test:audit"), want: codes.PermissionDenied, reason: ReasonScopeInsufficient},
		{name: "any-of halves of two alternatives", call: callAnyOf, auth: valid("test:audit", "test:read"), want: codes.PermissionDenied, reason: ReasonScopeInsufficient},
		{name: "any-of no token", call: callAnyOf, auth: raw(), want: codes.Unauthenticated, reason: ReasonCredentialsMissing},
		{name: "public without token", call: callPublic, auth: raw(), want: codes.OK, anon: true},
		{name: "public with valid token", call: callPublic, auth: valid(), want: codes.OK},
		{name: "public with invalid token", call: callPublic, auth: raw("Bearer not.a.jwt"), want: codes.Unauthenticated, reason: ReasonTokenInvalid},
		{name: "public with expired token", call: callPublic, auth: minted(map[string]any{"exp": t0.Add(-time.Hour), "iat": t0.Add(-2 * time.Hour)}), want: codes.Unauthenticated, reason: ReasonTokenExpired},
		{name: "public with Basic scheme", call: callPublic, auth: raw("Basic dXNlcjpwYXNz"), want: codes.Unauthenticated, reason: ReasonTokenTypeUnsupported},
		{name: "empty rule with scopeless token", call: callAuthenticated, auth: valid(), want: codes.OK},
		{name: "empty rule without token", call: callAuthenticated, auth: raw(), want: codes.Unauthenticated, reason: ReasonCredentialsMissing},
		{name: "service default satisfied", call: callInherited, auth: valid("test:read"), want: codes.OK},
		{name: "service default unsatisfied", call: callInherited, auth: valid("test:write"), want: codes.PermissionDenied, reason: ReasonScopeInsufficient, required: `[["test:read"]]`},
		{name: "unannotated with valid token", call: callUnannotated, auth: valid(all...), want: codes.PermissionDenied, reason: ReasonMethodNotConfigured},
		{name: "unannotated without token", call: callUnannotated, auth: raw(), want: codes.Unauthenticated, reason: ReasonCredentialsMissing},
		{name: "unannotated with invalid token", call: callUnannotated, auth: raw("Bearer not.a.jwt"), want: codes.Unauthenticated, reason: ReasonTokenInvalid},
		{name: "client stream allowed", call: callClientStream, auth: valid("test:write"), want: codes.OK},
		{name: "client stream missing scope", call: callClientStream, auth: valid("test:read"), want: codes.PermissionDenied, reason: ReasonScopeInsufficient, required: `[["test:write"]]`},
		{name: "client stream no token", call: callClientStream, auth: raw(), want: codes.Unauthenticated, reason: ReasonCredentialsMissing},
		{name: "bidi stream allowed", call: callBidiStream, auth: valid("test:stream"), want: codes.OK},
		{name: "bidi stream missing scope", call: callBidiStream, auth: valid("test:read"), want: codes.PermissionDenied, reason: ReasonScopeInsufficient},
		{name: "bidi stream expired", call: callBidiStream, auth: minted(map[string]any{"exp": t0.Add(-time.Hour), "iat": t0.Add(-2 * time.Hour), "scp": all}), want: codes.Unauthenticated, reason: ReasonTokenExpired},
		{name: "server stream allowed", call: callServerStream, auth: valid("test:read", "test:stream"), want: codes.OK},
		{name: "server stream missing scope", call: callServerStream, auth: valid("test:read"), want: codes.PermissionDenied, reason: ReasonScopeInsufficient, required: `[["test:read","test:stream"]]`},
		{name: "server stream no token", call: callServerStream, auth: raw(), want: codes.Unauthenticated, reason: ReasonCredentialsMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := withAuth(bounded(t), tt.auth(t)...)
			got, err := tt.call(ctx, e)
			checkStatus(t, err, tt.want, tt.reason)
			if tt.required != "" {
				if md := errorInfo(err).GetMetadata()[MetadataRequiredScopes]; md != tt.required {
					t.Errorf("required_scopes = %s, want %s", md, tt.required)
				}
			}
			if tt.want != codes.OK {
				return
			}
			if tt.anon {
				if got.GetAuthenticated() {
					t.Errorf("handler saw claims %v, want none", got)
				}
				return
			}
			if !got.GetAuthenticated() || got.GetSubject() != "user-1" || got.GetClientId() != grpcauthtest.DefaultClientID {
				t.Errorf("handler saw %v, want subject user-1, client %s", got, grpcauthtest.DefaultClientID)
			}
		})
	}
}
