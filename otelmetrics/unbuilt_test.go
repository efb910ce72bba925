package otelmetrics_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/grpcauthtest"
	"github.com/grpcauth/grpcauth/introspect"
	"github.com/grpcauth/grpcauth/otelmetrics"
	"github.com/grpcauth/grpcauth/verifier"
)

// noIssuerJWT is a JWT verifier of an application's own whose Stats name
// no issuer.
type noIssuerJWT struct{}

func (noIssuerJWT) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return verifier.Claims{}, verifier.ErrKeysUnavailable
}
func (noIssuerJWT) Stats() verifier.Stats { return verifier.Stats{} }

// TestNew_RejectsAVerifierNotBuiltByItsConstructor: a verifier its
// constructor did not build (a zero value), and a zero Combined, are
// refused by New with an error saying so, rather than observed as zeros
// under issuer "" as if they served (before, a zero introspect.Verifier,
// MultiVerifier or Combined was accepted, and a zero verifier.Verifier
// panicked in New). So is a Source whose Stats name no issuer, alone or as
// a Combined's JWT part (Combine refuses a zero verifier.Verifier there).
func TestNew_RejectsAVerifierNotBuiltByItsConstructor(t *testing.T) {
	rs := grpcauthtest.Client{ID: "rs", Secret: "rs-secret"}
	iss := grpcauthtest.NewIssuer(t, grpcauthtest.Config{Clients: []grpcauthtest.Client{rs}})
	opaque := introspector(t, introspect.Config{
		Endpoint: iss.IntrospectionURL(), Issuer: iss.URL(), ClientID: rs.ID, ClientSecret: rs.Secret,
		Audiences: []string{iss.Audience()},
	})
	combinedOfNoIssuer, err := introspect.Combine(noIssuerJWT{}, opaque)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []otelmetrics.Source{
		&verifier.Verifier{}, &verifier.MultiVerifier{},
		&introspect.Verifier{}, &introspect.Combined{}, combinedOfNoIssuer,
		statsFunc(func() verifier.Stats { return verifier.Stats{} }),
	} {
		name := fmt.Sprintf("%T", s)
		if s == combinedOfNoIssuer {
			name = "Combined of a JWT verifier whose Stats name no issuer"
		}
		t.Run(name, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			t.Cleanup(func() { mp.Shutdown(context.Background()) })
			m, err := otelmetrics.New(otelmetrics.Config{MeterProvider: mp, Verifiers: []otelmetrics.Source{s}})
			if err == nil {
				m.Close()
				t.Fatal("New = nil error, want one")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "otelmetrics: Config.Verifiers: ") || !strings.Contains(msg, "not built by its constructor") {
				t.Fatalf("New = %q, want an otelmetrics: Config.Verifiers error saying it was not built by its constructor", msg)
			}
		})
	}
}

// TestMetrics_NotBuiltByNewRecordsNothingAndNeverPanics: a nil *Metrics
// (New's result with its error ignored) or a zero Metrics (a struct field
// never assigned) given as grpcauth.Config.OnDecision records nothing
// rather than panic on the request path, where grpc-go does not recover
// an interceptor's panic and the first call would end the server; it logs
// one error record, through slog.Default(), for the process. Its Close
// returns nil. (Before, both panicked with a nil dereference.)
func TestMetrics_NotBuiltByNewRecordsNothingAndNeverPanics(t *testing.T) {
	var logged strings.Builder
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	otelmetrics.ForgetNotBuiltLogged()
	t.Cleanup(otelmetrics.ForgetNotBuiltLogged)

	for _, m := range []*otelmetrics.Metrics{nil, new(otelmetrics.Metrics)} {
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("%T %v: panicked: %v", m, m == nil, v)
				}
			}()
			for range 3 {
				m.OnDecision(t.Context(), grpcauth.Decision{Method: "/a.B/C", Allowed: true, Latency: time.Microsecond})
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close = %v, want nil", err)
			}
		}()
	}
	if n := strings.Count(logged.String(), "level=ERROR"); n != 1 || !strings.Contains(logged.String(), "not built with New") {
		t.Errorf("logged %q, want one error record saying the Metrics was not built with New", logged.String())
	}
}
