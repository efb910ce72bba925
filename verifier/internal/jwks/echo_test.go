package jwks

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpcauth/grpcauth/internal/endpoint/echotest"
)

// A key set's URL whose query carries an API key: a server or a proxy
// echoing the request into a status or header line, which net/http
// quotes in its error, gets the query into neither the log nor the
// fetch's error, in any form the request line carried it (before, both
// quoted it).
func TestSet_EchoedRequestLineLeavesTheQueryOutOfLogsAndErrors(t *testing.T) {
	const key = "APIKEYmarker+/=0123"
	for _, line := range echotest.Lines {
		t.Run(line.String(), func(t *testing.T) {
			srv := httptest.NewServer(echotest.Handler(line))
			t.Cleanup(srv.Close)
			addr := srv.Listener.Addr().String()
			log, buf := capturingLogger()
			s, ft := startSet(t, Config{URL: "http://" + addr + "/keys?api_key=" + strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(key) + "&x=" + key[:6], Logger: log})
			ft.peek(t)
			logs := buf.String()
			if !containsAll(logs, "refresh failed", "malformed", "[REDACTED]") {
				t.Fatalf("failure not logged with the echo redacted:\n%s", logs)
			}
			_, _, err := s.get(t.Context(), "http://"+addr+"/keys?api_key="+key)
			if err == nil {
				t.Fatal("fetch of an echo succeeded")
			}
			for _, secret := range []string{key, "%2B%2F%3D0123", "APIKEY"} {
				if strings.Contains(logs, secret) || strings.Contains(err.Error(), secret) {
					t.Errorf("%q reached the log or the error:\nlog: %s\nerror: %v", secret, logs, err)
				}
			}
		})
	}
}
