package judged

import (
	"context"
	"testing"
)

type marker struct{ marked int }

func (m *marker) MarkJudged() { m.marked++ }

// TestMark_MarksTheRequestsMarkerOnly: Mark reaches the Marker of a
// context that descends from the request's, and does nothing (no panic)
// on a context without one, or with another value under the key.
func TestMark_MarksTheRequestsMarkerOnly(t *testing.T) {
	m := &marker{}
	type other struct{}
	ctx := context.WithValue(context.WithValue(t.Context(), Key{}, m), other{}, 1)
	Mark(ctx)
	if m.marked != 1 {
		t.Fatalf("marked %d times, want 1", m.marked)
	}
	Mark(t.Context())
	Mark(context.WithValue(t.Context(), Key{}, "not a marker"))
	if m.marked != 1 {
		t.Fatalf("marked %d times after calls without the marker, want 1", m.marked)
	}
}
