package introspect_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// recoveries returns the "introspection recovered" records among recs, and
// wants no other record.
func recoveries(t *testing.T, recs []record) []record {
	t.Helper()
	for _, r := range recs {
		if r.msg != "introspect: introspection recovered" || r.level != slog.LevelInfo {
			t.Fatalf("record %+v, want only info records saying introspection recovered", r)
		}
	}
	return recs
}

// A single failure left unlogged in the minute is said, suppressed=1, by
// the next record: a count of one is a count, not left out as nothing.
func TestVerify_OneFailureNotLoggedIsSaidAsSuppressedOne(t *testing.T) {
	clk := newClock()
	h := &switchable{}
	h.failWith(status500)
	v, logs := failingVerifier(t, h, clk, nil)
	flood(t, v, "first", 2)
	oneFailure(t, logs, slog.LevelWarn, 0, "for two failures within a minute")
	clk.Advance(time.Minute)
	flood(t, v, "next", 1)
	oneFailure(t, logs, slog.LevelWarn, 1, "a minute on, after one failure not logged")
}

// Once a recovery has been logged, answers with no failure since log
// nothing, a minute on or later: the recovery closed the account, and
// "introspection recovered" is not said again for an endpoint that never
// failed again.
func TestVerify_AnswersAfterALoggedRecoveryLogNothingWithoutANewFailure(t *testing.T) {
	clk := newClock()
	h := &switchable{}
	v, logs := failingVerifier(t, h, clk, nil)
	failedAndRecovered(t, v, h, logs)
	for i := range 3 {
		clk.Advance(time.Minute)
		answerInactive(t, v, fmt.Sprint("later-", i), 1)
		if recs := logs.take(); len(recs) != 0 {
			t.Fatalf("records for answers %d minutes after the recovery, no failure since: %+v, want none", i+1, recs)
		}
	}
}

// The recovery record says the failures not logged at every level: the
// warnings' (an outage), the errors' (a 403 without invalid_client) and
// the refused credentials' (invalid_client), each counted in its own
// minute, so that none goes unsaid.
func TestVerify_RecoverySaysTheFailuresNotLoggedOfEveryKind(t *testing.T) {
	clk := newClock()
	h := &switchable{}
	v, logs := failingVerifier(t, h, clk, nil)
	h.failWith(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
	})
	flood(t, v, "credentials", 1)
	// Past the credentials' pause (NegativeTTL, 10s), within the minute.
	clk.Advance(11 * time.Second)
	flood(t, v, "credentials-again", 1) // counted: 1
	clk.Advance(11 * time.Second)
	h.failWith(forbidden403)
	flood(t, v, "refused", 3) // one logged, 2 counted
	h.failWith(status500)
	flood(t, v, "outage", 5) // one logged, 4 counted
	if got := len(logs.take()); got != 3 {
		t.Fatalf("%d records for failures of three kinds within a minute, want 3 (one each)", got)
	}
	h.recover()
	answerInactive(t, v, "back", 1)
	recs := recoveries(t, logs.take())
	if len(recs) != 1 {
		t.Fatalf("%d recovery records, want 1", len(recs))
	}
	if s, _ := recs[0].suppressed(); s != 1+2+4 {
		t.Fatalf("the recovery says suppressed=%d, want %d (credentials 1, refusals 2, outage 4)", s, 1+2+4)
	}
}

// A malformed answer is a failure, not an answer: it logs no
// "introspection recovered" after its own warning, however many follow.
func TestVerify_MalformedAnswersLogNoRecovery(t *testing.T) {
	clk := newClock()
	h := &switchable{}
	h.failWith(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[]`)
	})
	v, logs := failingVerifier(t, h, clk, nil)
	flood(t, v, "malformed", 3)
	clk.Advance(time.Minute)
	flood(t, v, "malformed-later", 1)
	recs := logs.take()
	if len(recs) != 2 || len(failedAt(t, recs, slog.LevelWarn)) != 2 {
		t.Fatalf("records for malformed answers a minute apart: %+v, want two warnings and no recovery", recs)
	}
}
