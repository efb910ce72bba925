package jwks

// exposedKeys remembers, for a Set's lifetime, the RFC 7638 thumbprints of
// the keys whose private material a document published. Such a key is
// refused in every later document too, even one that publishes only its
// public half (an issuer that "fixed" its key set without rotating): anyone
// who fetched the earlier document can sign with it. At most maxExposedKeys
// are remembered; past that the oldest is forgotten. Only the fetch in
// flight uses it, and fetches run one at a time (see startFetchLocked).
type exposedKeys struct {
	ring []string // thumbprints, at most maxExposedKeys; ring[next] is the oldest once full
	next int
	has  map[string]bool
}

// add remembers every key an entry of skipped exposes.
func (e *exposedKeys) add(skipped []skippedKey) {
	for _, sk := range skipped {
		for _, tp := range sk.Exposes {
			e.remember(tp)
		}
	}
}

// remember adds the thumbprint tp, forgetting the oldest past maxExposedKeys.
func (e *exposedKeys) remember(tp string) {
	if e.has[tp] {
		return
	}
	if e.has == nil {
		e.has = make(map[string]bool)
	}
	if len(e.ring) < maxExposedKeys {
		e.ring = append(e.ring, tp)
	} else {
		delete(e.has, e.ring[e.next])
		e.ring[e.next] = tp
		e.next = (e.next + 1) % maxExposedKeys
	}
	e.has[tp] = true
}

// refuse splits keys into those never exposed (kept) and those an earlier
// document exposed (refused). keys is not modified.
func (e *exposedKeys) refuse(keys []*Key) (kept, refused []*Key) {
	if len(e.has) == 0 {
		return keys, nil
	}
	kept = keys[:0:0]
	for _, k := range keys {
		if e.has[k.thumb] {
			refused = append(refused, k)
		} else {
			kept = append(kept, k)
		}
	}
	return kept, refused
}
