package verifier

import (
	"encoding/json"
	"slices"
	"strings"
	"unsafe"
)

// member is one name/value pair of a JSON object.
type member struct {
	name  string
	value json.RawMessage
}

// members holds a claims object compactly: one slice instead of a map, in
// payload order. Lookups scan from the end, so a repeated name's last value
// wins, as with encoding/json. A token carries a fixed, small number of
// lookups, so a linear scan costs less than building a map even for the
// largest token MaxTokenSize admits.
type members []member

// get returns the value of name, the last one when repeated.
func (m members) get(name string) (json.RawMessage, bool) {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i].name == name {
			return m[i].value, true
		}
	}
	return nil, false
}

// decodeObject decodes one JSON object (surrounding whitespace allowed,
// nothing else) into its members, with the same result as json.Unmarshal
// into a map[string]json.RawMessage. On the fast path (jsonscan.go) names
// and values share payload's memory: payload must never change afterwards.
func decodeObject(payload []byte) (members, bool) {
	return decodeObjectInto(nil, payload)
}

// decodeObjectInto is decodeObject storing the members in dst's array when
// it has room (its contents are overwritten), so that a reused dst decodes
// without allocating.
func decodeObjectInto(dst members, payload []byte) (members, bool) {
	// Scan into a stack array, then copy into dst, or one exactly sized slice.
	var stack [24]rawMember
	if found, ok := scanObject(payload, stack[:0]); ok {
		m := dst[:0]
		if cap(m) < len(found) {
			m = make(members, 0, len(found))
		}
		for _, f := range found {
			m = append(m, member{name: aliasString(f.name), value: f.value})
		}
		return m, true
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil || raw == nil {
		return nil, false
	}
	m := dst[:0]
	if cap(m) < len(raw) {
		m = make(members, 0, len(raw))
	}
	for name, value := range raw {
		m = append(m, member{name: name, value: value})
	}
	slices.SortFunc(m, func(a, b member) int { return strings.Compare(a.name, b.name) })
	return m, true
}

// aliasString returns a string sharing b's memory, without copying. The
// caller guarantees b is never modified afterwards: the verifier uses it only
// on buffers it decoded the token into and never writes again.
func aliasString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// readOnlyBytes returns a []byte view of s without copying, for functions
// that only read their input (base64 decoding, hashing). It must never be
// written to.
func readOnlyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
