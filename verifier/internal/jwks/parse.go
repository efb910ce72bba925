package jwks

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/grpcauth/grpcauth/internal/endpoint"
	"github.com/grpcauth/grpcauth/internal/jwsalg"
	"github.com/grpcauth/grpcauth/internal/jwxpanic"
)

// parseJWK is jwk.ParseKey, which parseKey and thumbprintOf call; a test
// replaces it to make jwx panic.
var parseJWK = jwk.ParseKey

// skippedKey describes one entry of a JWKS document that was not kept.
type skippedKey struct {
	Index  int    // position in "keys" (in its own "keys" member, when the document repeats it)
	KID    string // "" when absent or unreadable
	Reason string
	Warn   bool // true: suspicious or broken (log at warn); false: merely not for us (debug)
	// Exposes holds the RFC 7638 thumbprints of the public keys whose
	// private material the entry holds; empty when it holds none.
	Exposes []string
	// Factors holds the RSA prime factors the entry publishes that count
	// against the document's maxPublishedFactors: the caller tries them
	// on the last good set's keys too (exposeFactored), which no entry
	// of the document may name.
	Factors []*big.Int
	// Curves holds the curves ("P-256", "Ed25519", ...) of the private
	// scalars the entry publishes past the document's maxDerivedKeys
	// derivations, and "RSA" when it publishes prime factors past the
	// document's maxPublishedFactors: the key such a scalar makes, or
	// such a factor divides, is not known, so every key of its curve (or
	// every RSA key) is exposed, the last good set's too (exposeFactored).
	Curves []string
}

// rejection is why parseKey refused an entry.
type rejection struct {
	reason  string
	warn    bool
	exposed []string // RFC 7638 thumbprints of the keys whose private material the entry holds
	// scalar is set when the entry has a "d": the private scalar (or
	// seed) that makes the public key of the curve its "crv" names, if it
	// names one (see publicOfPrivate), whatever its kty.
	scalar bool
	// factors are the RSA prime factors the entry publishes ("p", "q", the
	// "r" of each "oth"), at most maxPublishedFactors: each exposes the
	// key whose modulus it divides, whichever "n" stands beside it.
	factors []*big.Int
	// curves are the curves of the scalars past the document's
	// maxDerivedKeys derivations, and "RSA" for factors past its
	// maxPublishedFactors (see skippedKey.Curves).
	curves []string
}

func (r *rejection) Error() string { return r.reason }

func warnf(format string, a ...any) *rejection {
	return &rejection{reason: fmt.Sprintf(format, a...), warn: true}
}

func debugf(format string, a ...any) *rejection {
	return &rejection{reason: fmt.Sprintf(format, a...)}
}

// parseJWKS parses a JWKS document ({"keys":[...]}) into its usable keys.
// Every unusable entry is skipped and reported, never failing the others.
// A kid that appears on two different usable keys is ambiguous: all of its
// keys are dropped (identical duplicates collapse into one). The error is
// non-nil only when the document itself is not a JWKS; skipped then holds
// the entries of its "keys" members that expose keys, and the document
// itself when it is one JWK that does (a private key served as the key
// set), so that the caller drops those from the last good set. Zero
// usable keys is not an error here (the caller decides). A key whose
// private material any entry holds is exposed: it is dropped too, under
// whatever kid it appears.
// The key an EC or OKP entry's "d" makes is derived for the first
// maxDerivedKeys scalars of the document that make one only (see
// publicOfPrivate; a "d" that makes none spends none); a later one, whose
// key is not known, exposes every key of its curve, of the document and,
// through the skipped entry's Curves, of the last good set. An RSA prime
// factor that an entry publishes exposes the key whose modulus it divides
// (the first maxPublishedFactors such factors only; past them, every RSA
// key, as a scalar past the derivations does every key of its curve);
// the skipped entry
// holds its factors, for the caller to try on the last good set's keys
// (exposeFactored), and skipped holds each entry that publishes one,
// whether the document is a key set or not. Each entry is
// read as canonicalEntry rewrites it. Of a document that repeats "keys"
// (or names it in another case too), the last such member gives the keys,
// as encoding/json reads it; the entries of the others give none, but
// still expose the keys whose private material they hold (keysMembers).
// A document of more than maxEntries entries (all its "keys" members
// together, counted by streaming before any entry is decoded) is refused
// with an error: its first maxEntries entries are read only for the keys
// they expose, as a document that is no key set is, and none beyond them,
// so its work is that of a document at the cap, whatever its size.
//
// A panic while parsing (jwx's, on a document that reaches one of its
// bugs, or one of this package's own) is recovered: the error then wraps
// a *jwxpanic.Error, "jwks: parsing the key set panicked in jwx: …" (or
// "outside jwx" for a panic of this package's code) with the panic's
// value quoted and clipped, and its stack, and no keys are returned. The
// fuzz target fails on it, so that such a document is still found. The
// document is refused whole, not the entry alone: the entry that
// panicked may hold private material whose key would not be known to be
// exposed. The entries skipped before the panic are returned with the
// error, so that the keys they expose are dropped all the same, and so is
// the entry jwx panicked on when it holds private material (see
// panickedEntry). parseJWKS runs on a fetch's goroutine, where a panic
// would end the process.
func parseJWKS(body []byte) (keys []*Key, skipped []skippedKey, err error) {
	var cur entry
	defer func() {
		if v := recover(); v != nil {
			keys, err = nil, fmt.Errorf("jwks: parsing the key set %w", jwxpanic.New(v))
			if sk, ok := panickedEntry(cur); ok {
				skipped = append(skipped, sk)
			}
		}
	}()
	keys, err = parseEntries(body, &skipped, &cur)
	return keys, skipped, err
}

// entry is an entry of a JWKS document and its position in "keys".
type entry struct {
	index int
	raw   json.RawMessage
}

// parseEntries is parseJWKS without its recover; it appends the entries it
// skips to *skipped as it goes, and sets *cur to the entry it is parsing
// (nil raw once none is).
func parseEntries(body []byte, skipped *[]skippedKey, cur *entry) ([]*Key, error) {
	var (
		keys    []*Key
		index   []int              // index[i] is the position of keys[i] in doc.Keys
		byKID   = map[string]int{} // kid -> position in keys
		drop    = map[string]bool{}
		exposed = map[string]bool{} // thumbprints of keys whose private material is published
		budget  = maxDerivedKeys    // scalar multiplications left (see publicOfPrivate)
		factors []*big.Int          // RSA prime factors published, at most maxPublishedFactors
		curves  = map[string]bool{} // curves of the scalars published past the budget: every key of each is exposed
	)
	// note adds what r, the rejection of the entry raw, exposes, and
	// returns the factors of the entry that count.
	note := func(r *rejection, raw json.RawMessage, shadowed []member) []*big.Int {
		if r.scalar {
			r.exposeDerived(raw, &budget)
		}
		var curve *struct{ Kty, Crv json.RawMessage } // raw's, for an earlier "d"
		past := false                                 // factors past the document's bound
		for _, sh := range shadowed {
			switch {
			case sh.name == "d" && r.scalar && budget <= 0 && len(r.curves) > 0:
				// Past the budget, with the entry's curve exposed whole
				// already: its other values of "d" expose nothing more.
			case sh.name == "d" && r.scalar:
				if curve == nil {
					curve = new(struct{ Kty, Crv json.RawMessage })
					_ = json.Unmarshal(raw, curve) // as publicOfPrivate reads them
				}
				value, left := sh.value, &budget
				if value == nil {
					// Earlier values of "d" that canonicalEntry did not
					// keep: their keys are not known, so they count as
					// past the budget (a d of 1 stands for them, to name
					// the curve of the key they would make).
					value, left = jsonString("AQ"), new(int)
				}
				entry, _ := json.Marshal(map[string]json.RawMessage{"kty": curve.Kty, "crv": curve.Crv, "d": value})
				r.exposeDerived(entry, left)
			case sh.name != "d" && sh.value == nil:
				past = true // earlier values canonicalEntry did not keep
			case sh.name != "d" && len(factors)+len(r.factors) <= maxPublishedFactors:
				r.factors = append(r.factors, primeFactors(map[string]json.RawMessage{sh.name: sh.value})...)
			}
		}
		n := min(len(r.factors), maxPublishedFactors-len(factors))
		if (past || n < len(r.factors)) && !slices.Contains(r.curves, "RSA") {
			// Factors past the document's bound, not tried on any key:
			// each may factor any RSA key.
			r.curves = append(r.curves, "RSA")
		}
		for _, tp := range r.exposed {
			exposed[tp] = true
		}
		for _, c := range r.curves {
			curves[c] = true
		}
		counted := r.factors[:n:n]
		factors = append(factors, counted...)
		return counted
	}
	// passOver reads entries that give no key (why says so): one that
	// publishes private material exposes its key all the same.
	passOver := func(entries []json.RawMessage, why string) {
		for i, raw := range entries {
			*cur = entry{index: i, raw: raw}
			raw, shadowed := canonicalEntry(raw)
			*cur = entry{index: i, raw: raw}
			_, r := parseKey(raw)
			if r == nil {
				continue
			}
			counted := note(r, raw, shadowed)
			if len(r.exposed) == 0 && len(counted) == 0 && len(r.curves) == 0 {
				continue
			}
			*skipped = append(*skipped, skippedKey{Index: i, KID: hintKID(raw), Reason: why + r.reason, Warn: true, Exposes: r.exposed, Factors: counted, Curves: r.curves})
		}
		*cur = entry{}
	}
	// Count the entries before any is decoded: a document of too many is
	// refused, its first maxEntries entries read for private material
	// only, as those of a document that is no key set.
	overCap := func(entries []json.RawMessage) error {
		passOver(entries[:min(len(entries), maxEntries)], fmt.Sprintf("in a document of more than %d entries, not read for keys: ", maxEntries))
		return fmt.Errorf("jwks: key set has more than %d entries (real issuers publish a handful): refused, none read for keys", maxEntries)
	}
	members, n := keysMembers(body, maxEntries)
	if n > maxEntries {
		return nil, overCap(entriesOf(members))
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	err := json.Unmarshal(body, &doc)
	if len(doc.Keys) > maxEntries {
		// Not reached: keysMembers counts what encoding/json reads. Kept
		// so that the cap holds should the two readers ever differ.
		return nil, overCap(doc.Keys)
	}
	if err != nil || doc.Keys == nil {
		// No key set, but the entries of its "keys" members, all of them,
		// still expose their keys, and so does the document itself when
		// it is one JWK (a private key served as the key set): the last
		// good set stops serving them.
		passOver(append(entriesOf(members), body), "in a document that is no key set, not read for keys: ")
		if err != nil {
			return nil, fmt.Errorf("jwks: key set is not valid JSON: %w", err)
		}
		return nil, errors.New(`jwks: key set has no "keys" array`)
	}
	for i, raw := range doc.Keys {
		*cur = entry{index: i, raw: raw}
		raw, shadowed := canonicalEntry(raw) // what every reader below reads
		*cur = entry{index: i, raw: raw}
		k, r := parseKey(raw)
		if r != nil {
			counted := note(r, raw, shadowed)
			*skipped = append(*skipped, skippedKey{Index: i, KID: hintKID(raw), Reason: r.reason, Warn: r.warn, Exposes: r.exposed, Factors: counted, Curves: r.curves})
			continue
		}
		if j, dup := byKID[k.ID]; dup {
			if same := keys[j]; same.thumb == k.thumb && same.Algorithm == k.Algorithm {
				*skipped = append(*skipped, skippedKey{Index: i, KID: clip(k.ID), Reason: "identical duplicate of an earlier key"})
				continue
			}
			drop[k.ID] = true
		}
		byKID[k.ID] = len(keys)
		keys = append(keys, k)
		index = append(index, i)
	}
	// The entries of the other "keys" members: none is used.
	passOver(entriesOf(members[:max(len(members)-1, 0)]), `in a "keys" member that the document repeats, not read for keys: `)
	if len(drop) == 0 && len(exposed) == 0 && len(factors) == 0 && len(curves) == 0 {
		return keys, nil
	}
	kept := keys[:0:0]
	for i, k := range keys {
		switch {
		case exposed[k.thumb]:
			*skipped = append(*skipped, skippedKey{Index: index[i], KID: clip(k.ID), Reason: "its private key material is published in the same set: the key is exposed, never used", Warn: true})
		case factoredBy(k, factors):
			// Exposes: remembered as exposed, as a key that an entry names is.
			*skipped = append(*skipped, skippedKey{Index: index[i], KID: clip(k.ID), Reason: "a prime factor of its modulus is published in the same set: the key is exposed, never used", Warn: true, Exposes: []string{k.thumb}})
		case curves[curveOf(k)]:
			*skipped = append(*skipped, skippedKey{Index: index[i], KID: clip(k.ID), Reason: "private material of its kind of key is published in the same set past what is checked per document (a scalar of its curve, or an RSA prime factor): the key may be the one it names, and is exposed, never used", Warn: true, Exposes: []string{k.thumb}})
		case drop[k.ID]:
			*skipped = append(*skipped, skippedKey{Index: index[i], KID: clip(k.ID), Reason: "kid shared by different keys: ambiguous, all dropped", Warn: true})
		default:
			kept = append(kept, k)
		}
	}
	return kept, nil
}

// keysMembers returns the entries of the members of body's outermost
// object named "keys", in any case, one slice per member in document order
// (nil for a member that is no array): encoding/json, which decodes the
// document (parseEntries), matches member names case-insensitively and
// keeps the last match, so the entries of the others are not read for
// keys, but an issuer that publishes private material there publishes it
// all the same. It streams the document, decoding no entry: it keeps the
// first limit entries of all members together, and n counts them, up to
// limit+1, where it stops: n > limit says that some were left out. It
// returns nil when there is no such member, and stops at the first member
// that does not decode (the entries of that member before the fault kept).
func keysMembers(body []byte, limit int) (members [][]json.RawMessage, n int) {
	d := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if t, err := d.ReadToken(); err != nil || t.Kind() != '{' {
		return nil, 0
	}
	for d.PeekKind() == '"' {
		t, err := d.ReadToken()
		if err != nil {
			return members, n
		}
		if !strings.EqualFold(t.String(), "keys") {
			if d.SkipValue() != nil {
				return members, n
			}
			continue
		}
		if d.PeekKind() != '[' {
			members = append(members, nil)
			if d.SkipValue() != nil {
				return members, n
			}
			continue
		}
		if _, err := d.ReadToken(); err != nil {
			return members, n
		}
		var entries []json.RawMessage
		for d.PeekKind() != ']' {
			if n++; n > limit {
				return append(members, entries), n
			}
			v, err := d.ReadValue()
			if err != nil {
				return append(members, entries), n - 1
			}
			end := int(d.InputOffset())
			entries = append(entries, json.RawMessage(body[end-len(v):end])) // v's memory is the decoder's, reused
		}
		members = append(members, entries)
		if _, err := d.ReadToken(); err != nil {
			return members, n
		}
	}
	return members, n
}

// entriesOf returns the entries of members, one after another.
func entriesOf(members [][]json.RawMessage) []json.RawMessage {
	return slices.Concat(members...)
}

// panickedEntry returns the skipped entry for e, the entry whose parsing
// panicked, when it holds private key material ("d", or one of
// rsaPrivateMembers): it exposes, as an entry jwx could not parse would
// (exposedByInvalid), the key its public members make and the one its "d"
// makes (one derivation more than maxDerivedKeys at most). jwx may panic
// on these too: that panic is recovered, and the entry then exposes what
// was taken before it, or is not reported (ok false) if nothing was. ok is
// false for an entry without private material.
func panickedEntry(e entry) (sk skippedKey, ok bool) {
	defer func() { _ = recover() }() // sk and ok as set before a panic
	if e.raw == nil {
		return skippedKey{}, false
	}
	var hint struct {
		Kty string `json:"kty"`
	}
	_ = json.Unmarshal(e.raw, &hint) // a kty that is no string stays "" (exposedByInvalid refuses a non-object)
	// e.raw is canonicalEntry's result already, unless canonicalEntry panicked.
	raw, _ := canonicalEntry(e.raw)
	r := exposedByInvalid(raw, jwa.KeyType(hint.Kty)) // the JSON alone says whether it holds private material
	if r == nil {
		return skippedKey{}, false
	}
	sk, ok = skippedKey{Index: e.index, KID: hintKID(e.raw), Warn: true, Exposes: r.exposed,
		Reason: "contains private key material, and parsing it panicked in jwx: the issuer's key is exposed, never used"}, true
	if r.scalar {
		r.exposeDerived(raw, nil)
		sk.Exposes = r.exposed
	}
	return sk, ok
}

// exposeDerived adds to r.exposed the thumbprint of the public key the
// "d" of raw, an EC or OKP entry, makes (see publicOfPrivate, which
// spends budget), or, when the budget is spent, the curve of that key to
// r.curves: every key of that curve is then exposed.
func (r *rejection) exposeDerived(raw json.RawMessage, budget *int) {
	public, over := publicOfPrivate(raw, budget)
	if over != "" && !slices.Contains(r.curves, over) {
		r.curves = append(r.curves, over)
	}
	if tp := thumbprintOf(public); tp != "" && !slices.Contains(r.exposed, tp) {
		r.exposed = append(r.exposed, tp)
	}
}

// hintKID reads an entry's kid for diagnostics only.
func hintKID(raw json.RawMessage) string {
	var h struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &h)
	return clip(h.KID)
}

// parseKey turns one JWK, as canonicalEntry returns it, into a Key, or says
// why it is not an asymmetric public signature key this package accepts.
func parseKey(raw json.RawMessage) (*Key, *rejection) {
	var hint struct {
		Kty string `json:"kty"`
	}
	if err := json.Unmarshal(raw, &hint); err != nil {
		if r := exposedByInvalid(raw, ""); r != nil { // a kty that is no string
			return nil, r
		}
		return nil, warnf("not a JWK object")
	}
	switch jwa.KeyType(hint.Kty) {
	case jwa.RSA, jwa.EC, jwa.OKP:
	case jwa.OctetSeq:
		if r := exposedByInvalid(raw, jwa.OctetSeq); r != nil {
			return nil, r
		}
		// Never parse a symmetric secret: an HMAC key must never verify.
		return nil, warnf(`symmetric key (kty "oct") in a public key set: never used`)
	default:
		if r := exposedByInvalid(raw, jwa.KeyType(hint.Kty)); r != nil {
			return nil, r
		}
		return nil, debugf("unsupported kty %q", clip(hint.Kty))
	}

	k, err := parseJWK(raw)
	if err != nil {
		if r := exposedByInvalid(raw, jwa.KeyType(hint.Kty)); r != nil {
			return nil, r
		}
		return nil, warnf("invalid JWK: %s", clip(err.Error()))
	}
	if hasPrivateMaterial(k) {
		// Checked before the kid: the entry exposes its public key
		// whatever kid (if any) it carries, and parseJWKS drops that key.
		r := warnf("contains private key material: the issuer's key is exposed, never used")
		if tp := thumbprint(k); tp != "" {
			r.exposed = []string{tp}
		}
		if m := exposedByInvalid(raw, k.KeyType()); m != nil { // also the keys of another type it names, and its factors
			for _, tp := range m.exposed {
				if !slices.Contains(r.exposed, tp) {
					r.exposed = append(r.exposed, tp)
				}
			}
			r.factors = m.factors
		}
		_, hasD := k.Get("d")
		r.scalar = hasD // see exposedByInvalid
		return nil, r
	}
	if k.KeyID() == "" {
		return nil, warnf("missing kid")
	}
	if use := k.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
		return nil, debugf("use %q is not \"sig\"", clip(use))
	}
	if _, ok := k.Get(jwk.KeyOpsKey); ok && !slices.Contains(k.KeyOps(), jwk.KeyOpVerify) {
		return nil, debugf(`key_ops lacks "verify"`)
	}
	if err := k.Validate(); err != nil { // before Thumbprint: see thumbprint
		return nil, warnf("invalid key parameters: %s", clip(err.Error()))
	}
	var pub any
	if err := k.Raw(&pub); err != nil {
		return nil, warnf("invalid key parameters: %s", clip(err.Error()))
	}
	if r := checkPublic(k, pub); r != nil {
		return nil, r
	}
	alg := k.Algorithm().String()
	if alg != "" && !slices.Contains(algorithmsFor(pub), alg) {
		return nil, warnf("alg %q does not fit this %s key", clip(alg), k.KeyType())
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, warnf("thumbprint: %s", clip(err.Error()))
	}
	return &Key{ID: k.KeyID(), Algorithm: alg, Public: pub, thumb: string(tp)}, nil
}

// rsaPrivateMembers are the members of an RSA private JWK other than "d"
// (RFC 7518, 6.3.2). Any one of them exposes the key: a prime factor
// factors n, and the CRT members do as well with the public exponent.
var rsaPrivateMembers = [...]string{"p", "q", "dp", "dq", "qi", "oth"}

// privateMembers are the members of any private JWK: "d" (RFC 7518 6.2.2.1
// and 6.3.2.1, RFC 8037 2) and rsaPrivateMembers.
var privateMembers = append([]string{"d"}, rsaPrivateMembers[:]...)

// canonicalEntry returns raw, one entry of a JWKS document, as every
// reader of it (jwx, encoding/json, this package) is to see it: with each
// member name once, and without the private key members ("d" and
// rsaPrivateMembers) that hold nothing: null, "" or []. Some serializers
// write every member of their key type, a public key's private ones empty
// (Microsoft.IdentityModel 7 writes "oth": [], others "d": null); jwx
// reads such a member as private material, and the key would be refused
// as exposed, and remembered so, while nothing secret was published. A
// repeated name keeps its last value, as jwx and encoding/json read it,
// but for a private member its last value that holds something: an empty
// repeat publishes nothing, so it must not hide what an earlier one
// published (jwx reads an RSA key whose "p" is repeated as null as a
// public key, and encoding/json an EC "d" repeated as null as no "d").
// An earlier value that holds something and differs from the one kept is
// published all the same: canonicalEntry returns it in shadowed (for "d",
// "p", "q" and "oth", whose value names a key: its scalar, or a factor of
// its modulus; at most maxPublishedFactors per entry), so that the key it
// exposes is exposed too. Past maxPublishedFactors, one more member of
// each name with a nil value stands for the earlier values of that name
// not kept: the caller exposes every key of the entry's curve for "d", as
// for a scalar past the document's derivations, and every RSA key for a
// prime, as for a factor past the document's maxPublishedFactors.
// A member named as "kty", "crv" or "d" in another case is dropped too
// when the entry has the member itself (see caseVariantOf). raw is
// returned unchanged when it needs none of these changes, and when it is
// not one JSON object (jwx then refuses it, and exposedByInvalid reads
// what it can).
func canonicalEntry(raw json.RawMessage) (canonical json.RawMessage, shadowed []member) {
	// Invalid UTF-8 is read as encoding/json and jwx read it (U+FFFD).
	d := jsontext.NewDecoder(bytes.NewReader(raw), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if t, err := d.ReadToken(); err != nil || t.Kind() != '{' {
		return raw, nil
	}
	members := make(map[string]json.RawMessage)
	changed := false
	for d.PeekKind() != '}' {
		t, err := d.ReadToken()
		if err != nil {
			return raw, nil
		}
		name := t.String()
		v, err := d.ReadValue()
		if err != nil {
			return raw, nil
		}
		if slices.Contains(privateMembers, name) && holdsNothing(json.RawMessage(v)) {
			changed = true
			continue
		}
		if prev, seen := members[name]; seen {
			changed = true
			switch {
			case !slices.Contains(shadowMembers, name) || bytes.Equal(prev, v):
			case len(shadowed) < maxPublishedFactors:
				shadowed = append(shadowed, member{name, prev})
			case !slices.ContainsFunc(shadowed, func(m member) bool { return m.name == name && m.value == nil }):
				shadowed = append(shadowed, member{name: name}) // more not kept (see above)
			}
		}
		members[name] = json.RawMessage(bytes.Clone(v)) // the decoder reuses v's memory
	}
	if _, err := d.ReadToken(); err != nil {
		return raw, nil
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return raw, nil // anything after the object
	}
	for name := range members {
		if n := caseVariantOf(name); n != "" && members[n] != nil {
			delete(members, name)
			changed = true
		}
	}
	if !changed {
		return raw, nil
	}
	b, err := json.Marshal(members)
	if err != nil {
		return raw, nil
	}
	return b, shadowed
}

// member is one member of a JSON object.
type member struct {
	name  string
	value json.RawMessage
}

// shadowMembers are the private members whose value names a key: an EC or
// OKP scalar ("d") makes it, an RSA prime ("p", "q", the "r" of each
// "oth") factors its modulus. canonicalEntry returns their earlier values.
var shadowMembers = []string{"d", "p", "q", "oth"}

// caseVariantOf returns "kty", "crv" or "d" when name differs from it
// only in case (Unicode folding included: the Kelvin sign folds to k),
// else "". JWK member names are case-sensitive (RFC 7517, 4), so such a
// member is not that member; but encoding/json matches names
// case-insensitively, keeping the last match, and both this package's
// hints (parseKey, publicOfPrivate) and jwx's choice of key type read
// "kty", "crv" and "d" with it, while jwx then decodes the key's members
// by their exact names. Read both ways, an entry publishing private
// material beside its "kty" and a "KTY": "oct" would be taken for a
// symmetric key and expose nothing, and an EC "d" followed by a "D": "AA"
// would make no public key (publicOfPrivate would read the "D"), so the
// key of the published scalar stayed usable. An entry that has only the
// variant is read alike both ways, and kept as it is.
func caseVariantOf(name string) string {
	for _, n := range [...]string{"kty", "crv", "d"} {
		if name != n && strings.EqualFold(name, n) {
			return n
		}
	}
	return ""
}

// holdsNothing reports whether v, one valid JSON value, is null, "" or
// []. It reads only v's bytes, never decoding it: a private member may
// hold a long array (an "oth" of 90,000 primes in a 1 MiB document),
// which decoding would turn into about 100 times its size in generic
// values. A JSON string is empty only as "" (any escape writes a
// character).
func holdsNothing(v json.RawMessage) bool {
	switch v = bytes.TrimSpace(v); {
	case string(v) == "null", string(v) == `""`:
		return true
	case len(v) >= 2 && v[0] == '[' && v[len(v)-1] == ']':
		return len(bytes.TrimSpace(v[1:len(v)-1])) == 0
	}
	return false
}

// hasPrivateMaterial reports whether k holds any private key member: "d"
// (jwx then parses a private key), or one of rsaPrivateMembers, which jwx
// keeps as extra members of a public key when "d" is absent, of an EC or
// OKP key too (an RSA prime beside an EC key's members publishes the
// prime all the same).
func hasPrivateMaterial(k jwk.Key) bool {
	switch k.(type) {
	case jwk.RSAPrivateKey, jwk.ECDSAPrivateKey, jwk.OKPPrivateKey:
		return true
	}
	for _, name := range rsaPrivateMembers {
		if v, ok := k.Get(name); ok && v != nil {
			return true
		}
	}
	return false
}

// thumbprintMembers are the members of each key type's RFC 7638
// thumbprint (section 3.2), besides "kty".
var thumbprintMembers = map[jwa.KeyType][]string{
	jwa.RSA: {"e", "n"},
	jwa.EC:  {"crv", "x", "y"},
	jwa.OKP: {"crv", "x"},
}

// exposedByInvalid looks at an entry that jwx could not parse, or that
// parseKey does not give jwx (a kty other than RSA, EC and OKP, missing, or
// no string), or, for the keys of another type it names, one that jwx read
// as a key with private material. When it holds private key material ("d",
// or one of rsaPrivateMembers, whatever its kty), it still exposes its key,
// whatever else is wrong with it (a numeric kid, a malformed x5c, a kty
// that is wrong or missing, no public members at all): exposedByInvalid
// returns that rejection, exposing the key its thumbprint members alone
// make under kty, if they make one, and the one they make under each other
// key type whose thumbprint members it has all of (an RSA private key
// written as "kty": "EC", "oct" or "rsa" still names its "n" and "e");
// parseJWKS adds the one its "d" makes. It returns nil for an entry without
// private members.
func exposedByInvalid(raw json.RawMessage, kty jwa.KeyType) *rejection {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return nil
	}
	has := func(name string) bool { v, ok := members[name]; return ok && string(v) != "null" }
	if !slices.ContainsFunc(privateMembers, has) {
		return nil
	}
	r := warnf("contains private key material (in an otherwise unusable JWK): the issuer's key is exposed, never used")
	r.scalar = has("d") // publicOfPrivate derives a key when "crv" names a curve it knows, whatever the kty
	r.factors = primeFactors(members)
	var crv string
	_ = json.Unmarshal(members["crv"], &crv)
	for _, t := range [...]jwa.KeyType{jwa.RSA, jwa.EC, jwa.OKP} {
		if t != kty && (slices.ContainsFunc(thumbprintMembers[t], func(name string) bool { return !has(name) }) ||
			t == jwa.OKP && crv != "Ed25519") { // an EC key's crv and x make no OKP key
			continue
		}
		public := map[string]json.RawMessage{"kty": jsonString(string(t))}
		if t == kty {
			public["kty"] = members["kty"]
		}
		for _, name := range thumbprintMembers[t] {
			public[name] = members[name]
		}
		if tp := thumbprintOf(public); tp != "" && !slices.Contains(r.exposed, tp) {
			r.exposed = append(r.exposed, tp)
		}
	}
	return r
}

// maxPublishedFactors bounds the RSA prime factors a document's entries
// publish that parseJWKS tries on each kept RSA key's modulus, and
// exposeFactored on each key of the last good set (one division each), so that a hostile document of thousands of factors and
// keys cannot make each fetch burn seconds.
const maxPublishedFactors = 32

// primeFactors returns the RSA prime factors an entry's members publish:
// "p", "q" and the "r" of each "oth" (RFC 7518 6.3.2), in either base64
// alphabet as jwx reads them, at most maxPublishedFactors+1 (one more than
// a document counts says that more were published); a member that
// does not decode is left out. "oth" is streamed, and read no further
// once maxPublishedFactors are found: a hostile "oth" of 90,000 primes
// costs what one of 32 does. Every "r" of a member of "oth" counts, also
// one that the member repeats, or names in another case ("R"): the
// entry publishes each (encoding/json, matching names case-insensitively,
// reads the last only, so "r": prime, "r": "Aw" hid the prime).
func primeFactors(members map[string]json.RawMessage) []*big.Int {
	var out []*big.Int
	// add adds v's factor, if it decodes; false once out is full.
	add := func(v json.RawMessage) bool {
		var s string
		if json.Unmarshal(v, &s) == nil {
			if b, err := decodeBase64(s); err == nil {
				out = append(out, new(big.Int).SetBytes(b))
			}
		}
		return len(out) <= maxPublishedFactors
	}
	if !add(members["p"]) || !add(members["q"]) {
		return out
	}
	d := jsontext.NewDecoder(bytes.NewReader(members["oth"]), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if t, err := d.ReadToken(); err != nil || t.Kind() != '[' {
		return out
	}
	for d.PeekKind() != ']' {
		if d.PeekKind() != '{' { // no member of an oth: it names no prime
			if d.SkipValue() != nil {
				return out
			}
			continue
		}
		if _, err := d.ReadToken(); err != nil {
			return out
		}
		for d.PeekKind() != '}' {
			t, err := d.ReadToken()
			if err != nil {
				return out
			}
			r := strings.EqualFold(t.String(), "r") // before ReadValue, which voids t
			v, err := d.ReadValue()
			if err != nil {
				return out
			}
			if r && !add(json.RawMessage(v)) {
				return out
			}
		}
		if _, err := d.ReadToken(); err != nil {
			return out
		}
	}
	return out
}

// exposeFactored adds to the Exposes of each entry of skipped the
// thumbprints of the keys of last, the last good set, whose modulus one of
// the entry's Factors divides, or whose curve is one of its Curves: the
// document need not name such a key, and may leave it out or have no
// usable key at all, and the key is exposed all the same (it then leaves
// the last good set, and is remembered). One division per factor (at most
// maxPublishedFactors per document) and key of last, as for the
// document's own keys. The keys of a curve are added to the first entry
// that names it only: every later entry past the document's derivations
// names it again, and listing the whole last good set in each of up to
// maxEntries entries cost seconds and tens of MB per fetch.
func exposeFactored(skipped []skippedKey, last *snapshot) {
	if last == nil {
		return
	}
	whole := make(map[string]bool) // curves whose keys an earlier entry lists
	for i := range skipped {
		sk := &skipped[i]
		var curves []string
		for _, c := range sk.Curves {
			if !whole[c] {
				whole[c] = true
				curves = append(curves, c)
			}
		}
		if len(sk.Factors) == 0 && len(curves) == 0 {
			continue
		}
		listed := make(map[string]bool, len(sk.Exposes))
		for _, tp := range sk.Exposes {
			listed[tp] = true
		}
		for _, k := range last.keys {
			if c := curveOf(k); !listed[k.thumb] && (c != "" && slices.Contains(curves, c) || factoredBy(k, sk.Factors)) {
				listed[k.thumb] = true
				sk.Exposes = append(sk.Exposes, k.thumb)
			}
		}
	}
}

// factoredBy reports whether one of factors is a proper factor of k's RSA
// modulus, which anyone can then factor: the key is exposed.
func factoredBy(k *Key, factors []*big.Int) bool {
	pub, ok := k.Public.(*rsa.PublicKey)
	if !ok {
		return false
	}
	var rem big.Int
	for _, f := range factors {
		if f.Cmp(big.NewInt(1)) > 0 && f.Cmp(pub.N) < 0 && rem.Mod(pub.N, f).Sign() == 0 {
			return true
		}
	}
	return false
}

// decodeBase64 decodes s in the URL-safe base64 alphabet or, failing
// that, the standard one, padded or not, as jwx's decoder guesses it.
func decodeBase64(s string) ([]byte, error) {
	unpadded := strings.TrimRight(s, "=")
	b, err := base64.RawURLEncoding.DecodeString(unpadded)
	if err != nil {
		return base64.RawStdEncoding.DecodeString(unpadded)
	}
	return b, nil
}

// thumbprintOf returns the RFC 7638 thumbprint of the key the JWK members
// make, "" when they make none.
func thumbprintOf(members map[string]json.RawMessage) string {
	if members == nil {
		return ""
	}
	b, err := json.Marshal(members)
	if err != nil {
		return ""
	}
	k, err := parseJWK(b)
	if err != nil {
		return ""
	}
	return thumbprint(k)
}

// thumbprint returns k's RFC 7638 thumbprint, "" when it has none. jwx
// writes an EC key's x and y into buffers of its curve's size and panics
// (math/big: buffer too small) when one is a larger number: only Validate
// refuses such a key, and a key with private material, or rebuilt from an
// invalid entry's members, is never validated. So an EC key's coordinates
// must fit curveSizes first, or it has no thumbprint (no kept key could
// have that thumbprint anyway: kept keys pass Validate).
func thumbprint(k jwk.Key) string {
	if ec, ok := k.(interface {
		X() []byte
		Y() []byte
		Crv() jwa.EllipticCurveAlgorithm
	}); ok {
		size, known := curveSizes[ec.Crv().String()]
		if !known || len(bytes.TrimLeft(ec.X(), "\x00")) > size || len(bytes.TrimLeft(ec.Y(), "\x00")) > size {
			return ""
		}
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return ""
	}
	return string(tp)
}

// curveSizes is the length in bytes of a coordinate ("x", "y") and of the
// private scalar ("d") of each EC curve a kept key can have (RFC 7518
// 6.2.1.2, 6.2.2.1), and of an Ed25519 key's "x" and "d" (RFC 8037 2).
var curveSizes = map[string]int{"P-256": 32, "P-384": 48, "P-521": 66, "Ed25519": ed25519.SeedSize}

// ecdhCurves are the EC curves of curveSizes, and ellipticCurves their
// parameters (the group order).
var (
	ecdhCurves     = map[string]ecdh.Curve{"P-256": ecdh.P256(), "P-384": ecdh.P384(), "P-521": ecdh.P521()}
	ellipticCurves = map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
)

// publicOfPrivate returns the thumbprint members of the public key an EC
// or OKP entry's "d" makes, computed by crypto/ecdh and crypto/ed25519, or
// nil when it makes none (another curve, a malformed or out-of-range d).
// The entry exposes that key whatever else it holds: "d" alone (the public
// members are derivable, so some tools leave them out), or beside another
// key's "x" and "y". A d shorter than its curve's size is read as a
// big-endian number whose leading zero bytes an encoder dropped (RFC 7518
// forbids that, but a published scalar is exposed however it is written),
// an Ed25519 d of 64 bytes as crypto/ed25519's PrivateKey, whose first 32
// are the seed, and d may be in either base64 alphabet, as for jwx.
// Deriving costs a scalar multiplication (up to 0.5 ms on P-521): each
// spends one of *budget (nil: no bound). Once it is 0, none is made, and
// over names the curve of the key d would make ("P-256", "Ed25519", ...):
// that key is not known, so the caller exposes every key of the curve.
// The key is made on the curve "crv" names, whatever the entry's kty (none,
// another, a number): a P-256 scalar written as "kty": "OKP" is published
// all the same. An entry whose d makes no key (no crv, or another curve, a
// d that does not decode, is too long, or, on an EC curve, is 0 or not below the group
// order) spends nothing and returns neither, so that no number of such
// entries keeps a later scalar from exposing its key.
func publicOfPrivate(raw json.RawMessage, budget *int) (public map[string]json.RawMessage, over string) {
	var m struct {
		Crv string `json:"crv"`
		D   string `json:"d"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return nil, ""
	}
	size, ok := curveSizes[m.Crv]
	if !ok {
		return nil, ""
	}
	// The curve names the key, whatever kty stands beside it (none, a
	// number, "OKP" on a P-256 scalar, "EC" on an Ed25519 seed): anyone
	// who reads the document can try d on it.
	kty := jwa.EC
	if m.Crv == "Ed25519" {
		kty = jwa.OKP
	}
	d, err := decodeBase64(m.D) // standard base64 too, which jwx reads as well
	if err != nil {
		return nil, ""
	}
	if m.Crv == "Ed25519" && len(d) == ed25519.PrivateKeySize {
		d = d[:ed25519.SeedSize] // crypto/ed25519's PrivateKey written whole: the seed, then the public key
	}
	if d = bytes.TrimLeft(d, "\x00"); len(d) > size {
		return nil, ""
	}
	if c, ok := ellipticCurves[m.Crv]; ok && (len(d) == 0 || new(big.Int).SetBytes(d).Cmp(c.Params().N) >= 0) {
		return nil, "" // crypto/ecdh refuses it too: checked here to spend nothing on it
	}
	d = append(make([]byte, size-len(d), size), d...)
	if budget != nil {
		if *budget <= 0 {
			return nil, m.Crv
		}
		*budget--
	}
	public = map[string]json.RawMessage{"kty": jsonString(string(kty)), "crv": jsonString(m.Crv)}
	if m.Crv == "Ed25519" {
		public["x"] = jsonString(base64.RawURLEncoding.EncodeToString(ed25519.NewKeyFromSeed(d).Public().(ed25519.PublicKey)))
		return public, ""
	}
	priv, err := ecdhCurves[m.Crv].NewPrivateKey(d) // refuses 0 and scalars >= the group order
	if err != nil {
		return nil, ""
	}
	point := priv.PublicKey().Bytes() // 0x04 || x || y, each size bytes
	public["x"] = jsonString(base64.RawURLEncoding.EncodeToString(point[1 : 1+size]))
	public["y"] = jsonString(base64.RawURLEncoding.EncodeToString(point[1+size:]))
	return public, ""
}

// curveOf returns the curve of k's key ("P-256", "P-384", "P-521",
// "Ed25519"), or "RSA" for an RSA key: the Curves a skipped entry exposes
// whole.
func curveOf(k *Key) string {
	switch p := k.Public.(type) {
	case *ecdsa.PublicKey:
		return p.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	case *rsa.PublicKey:
		return "RSA"
	}
	return ""
}

// jsonString encodes s as a JSON string.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// checkPublic applies the key-strength policy to a raw public key: an RSA
// modulus of minRSABits to maxRSABits with a sane exponent, an EC point on
// a NIST curve, an Ed25519 key of 32 bytes that is not of small order
// (jwsalg.SmallOrderEd25519).
func checkPublic(k jwk.Key, pub any) *rejection {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if bits := p.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return warnf("RSA modulus of %d bits; %d to %d required", bits, minRSABits, maxRSABits)
		}
		// jwx converts "e" with Int64, so check its encoded length first.
		if rk, ok := k.(jwk.RSAPublicKey); !ok || len(rk.E()) > 4 || p.E < 3 || p.E%2 == 0 {
			return warnf("invalid RSA public exponent")
		}
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return debugf("unsupported EC curve %s", p.Curve.Params().Name)
		}
		if _, err := p.ECDH(); err != nil { // rejects points not on the curve
			return warnf("invalid EC public key: %v", err)
		}
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return warnf("invalid Ed25519 public key length %d", len(p))
		}
		if jwsalg.SmallOrderEd25519(p) { // anyone can sign under it
			return warnf("Ed25519 public key of small order, under which signatures are forged without a private key")
		}
	default:
		return debugf("unsupported key type %T (only RSA, EC P-256/384/521 and Ed25519 sign)", pub)
	}
	return nil
}

// algorithmsFor lists the JWS algorithms a public key may carry as "alg".
func algorithmsFor(pub any) []string {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			return []string{"ES256"}
		case elliptic.P384():
			return []string{"ES384"}
		case elliptic.P521():
			return []string{"ES512"}
		}
	case ed25519.PublicKey:
		// RFC 9864's fully specified name, and RFC 8037's polymorphic one.
		return []string{"EdDSA", jwsalg.Ed25519}
	}
	return nil
}

// clip bounds a string from a remote document before it reaches a log.
func clip(s string) string { return endpoint.Clip(s, 128) }
