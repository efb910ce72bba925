package httpchallenge_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/grpcauth/grpcauth/internal/httpchallenge"
)

// get serves h on loopback and returns its answer to a GET.
func get(t *testing.T, h http.Handler) *http.Response {
	t.Helper()
	srv := httptest.NewServer(httpchallenge.Handler(h))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// The writer a handler gets unwraps to the connection's for
// http.ResponseController: deadlines and full duplex reach the server.
func TestHandler_ResponseControllerReachesTheConnection(t *testing.T) {
	errs := make(chan error, 2)
	get(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		rc := http.NewResponseController(w)
		errs <- rc.SetWriteDeadline(time.Now().Add(time.Minute))
		errs <- rc.EnableFullDuplex()
	}))
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("through the writer: %v", err)
		}
	}
}

// A 401 keeps a WWW-Authenticate of its own; the Connect trailer stays
// beside it.
func TestHandler_OwnChallengeIsKept(t *testing.T) {
	resp := get(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.Header()["Trailer-www-authenticate"] = []string{"DPoP"}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	if got := resp.Header.Values("WWW-Authenticate"); !slices.Equal(got, []string{"Bearer"}) {
		t.Errorf("WWW-Authenticate = %q, want [Bearer]", got)
	}
	if got := resp.Header.Values("Trailer-WWW-Authenticate"); !slices.Equal(got, []string{"DPoP"}) {
		t.Errorf("Trailer-WWW-Authenticate = %q, want [DPoP]", got)
	}
}
