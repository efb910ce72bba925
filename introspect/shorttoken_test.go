package introspect_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/introspect"
)

// A caller's token of fewer than 4 bytes (a letter, here) is no secret to
// cut out of a failure's text: during an outage, the refused connection's
// error reads as net/http wrote it, in the log and in the call's error,
// whatever tokens callers send. Before, each "e" of the text read
// [REDACTED], so that any caller could make the one failure a minute that
// the log shows unreadable to whoever is debugging the outage.
func TestVerify_ShortTokenLeavesAFailuresTextReadable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	logs := &syncBuffer{}
	v := newVerifier(t, introspect.Config{Endpoint: endpoint, Issuer: "https://issuer.example", ClientID: "rs",
		ClientSecret: "s3cret-of-the-rs", Audiences: []string{"a"},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	_, err = v.VerifyAccessToken(context.Background(), "e")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, out := range []string{err.Error(), logs.String()} {
		if !strings.Contains(out, "connection refused") || strings.Contains(out, "[REDACTED]") {
			t.Errorf("the failure's text is not as net/http wrote it: %s", out)
		}
	}
}
