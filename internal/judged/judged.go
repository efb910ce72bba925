package judged

import "context"

// Key is the context key under which WrapHandler puts its request's
// Marker.
type Key struct{}

// Marker is the value WrapHandler puts under Key: it records that a call
// of its request was judged.
type Marker interface{ MarkJudged() }

// Mark records that the call whose context is ctx was judged, when ctx
// descends from a request that carries a Marker; it does nothing
// otherwise. It does not allocate.
func Mark(ctx context.Context) {
	if m, ok := ctx.Value(Key{}).(Marker); ok {
		m.MarkJudged()
	}
}
