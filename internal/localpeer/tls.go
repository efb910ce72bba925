package localpeer

import (
	"crypto/x509"
	"reflect"
	"slices"
	"sync"

	"google.golang.org/grpc/credentials"
)

// TLS reports whether ai, a connection's AuthInfo, describes a TLS
// connection, and returns the other end's certificate chain when it does
// and its handshake is complete. ai describes a TLS connection when it is
// a credentials.TLSInfo, by value or non-nil pointer, or an AuthInfo type
// of its own that embeds one (by value or pointer, directly or through
// other embedded structs, as Go promotes its methods): transport
// credentials that wrap gRPC's TLS credentials often return such a type,
// to add to the TLSInfo (a verified identity, a connection handle). A nil
// pointer on the way is no TLS, and so is a TLSInfo that is a named field
// rather than embedded, or that two embedded structs promote at one depth
// (Go promotes neither), and so is one embedded under another name (an
// alias) or in an embedded interface: such a connection is named http,
// and has no certificate to bind a token to (Secure still finds such a
// TLSInfo, to refuse it without a completed handshake). A state whose
// handshake is not complete has proved nothing: it is TLS, without
// certificates.
//
// The server (grpcauth's certificate binding, a DPoP proof's htu scheme)
// and the client (tokencreds' DPoP htu scheme) decide with it, so that
// both ends name a connection alike.
func TLS(ai credentials.AuthInfo) (certs []*x509.Certificate, isTLS bool) {
	var complete bool
	switch ai := ai.(type) {
	case credentials.TLSInfo:
		complete, certs = ai.State.HandshakeComplete, ai.State.PeerCertificates
	case *credentials.TLSInfo:
		if ai == nil {
			return nil, false
		}
		complete, certs = ai.State.HandshakeComplete, ai.State.PeerCertificates
	case nil:
		return nil, false
	default:
		ti, ok := embeddedTLSInfo(ai)
		if !ok {
			return nil, false
		}
		complete, certs = ti.State.HandshakeComplete, ti.State.PeerCertificates
	}
	if !complete {
		return nil, true
	}
	return certs, true
}

var (
	tlsInfoType    = reflect.TypeFor[credentials.TLSInfo]()
	tlsInfoPtrType = reflect.TypeFor[*credentials.TLSInfo]()
	// handshakeIndex is the index of State.HandshakeComplete in a
	// credentials.TLSInfo.
	handshakeIndex = func() []int {
		f, _ := tlsInfoType.FieldByName("State")
		h, _ := f.Type.FieldByName("HandshakeComplete")
		return append(f.Index, h.Index...)
	}()
)

// structInfo is what embeddedTLSInfo and handshakesComplete need to know
// of a struct type, found once by reflection.
type structInfo struct {
	// tls is the index of the credentials.TLSInfo (or pointer to one) that
	// the type embeds under the name TLSInfo and Go promotes, or nil.
	tls []int
	// tlsInfo is whether the type is credentials.TLSInfo or one defined
	// from it (type T credentials.TLSInfo), which keeps its fields.
	tlsInfo bool
	// embedded are the indexes of the fields the type embeds, directly
	// or through structs it embeds by value, that are a
	// credentials.TLSInfo (or a type defined from it), a pointer or an
	// interface.
	embedded [][]int
}

// tlsInfoLike reports whether t is credentials.TLSInfo or a struct type
// defined from it.
func tlsInfoLike(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.ConvertibleTo(tlsInfoType)
}

// structInfos caches structInfo by struct type (reflect.Type to
// *structInfo): a search of a type's embedded fields costs several
// allocations, and the AuthInfo types of a program are few. Its keys are
// the dynamic types of AuthInfo values and of the values they embed
// through pointers and interfaces: types the program declares or, rarely,
// makes with reflect.StructOf (whose types, promoting an embedded
// TLSInfo's methods, can be AuthInfo types; reflect keeps each of them for
// good itself). A peer's input adds none, so it grows only with the
// program's own types.
var structInfos sync.Map

// infoOf returns the structInfo of the struct type t.
func infoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{tlsInfo: tlsInfoLike(t)}
	if !si.tlsInfo {
		si.embedded = embeddedFields(t, nil, nil)
	}
	if f, ok := t.FieldByName("TLSInfo"); ok && f.Anonymous && (f.Type == tlsInfoType || f.Type == tlsInfoPtrType) {
		si.tls = f.Index
	}
	actual, _ := structInfos.LoadOrStore(t, si)
	return actual.(*structInfo)
}

// embeddedFields appends to out the indexes, each prefixed by index, of
// the fields the struct type t embeds that structInfo.embedded lists.
func embeddedFields(t reflect.Type, index []int, out [][]int) [][]int {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.Anonymous {
			continue
		}
		fi := append(slices.Clip(index), i)
		switch {
		case tlsInfoLike(f.Type), f.Type.Kind() == reflect.Pointer, f.Type.Kind() == reflect.Interface:
			out = append(out, fi)
		case f.Type.Kind() == reflect.Struct:
			out = embeddedFields(f.Type, fi, out)
		}
	}
	return out
}

// embeddedTLSInfo returns the credentials.TLSInfo that ai, a value of
// another type than TLSInfo, embeds, as TLS describes it, and whether
// there is one.
func embeddedTLSInfo(ai any) (credentials.TLSInfo, bool) {
	v := reflect.ValueOf(ai)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return credentials.TLSInfo{}, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return credentials.TLSInfo{}, false
	}
	index := infoOf(v.Type()).tls
	if index == nil {
		return credentials.TLSInfo{}, false
	}
	fv, err := v.FieldByIndexErr(index)
	if err != nil || !fv.CanInterface() {
		return credentials.TLSInfo{}, false
	}
	if fv.Type() == tlsInfoType && fv.CanAddr() {
		// Through a pointer: Interface would copy the TLSInfo to the heap.
		fv = fv.Addr()
	}
	switch ti := fv.Interface().(type) {
	case credentials.TLSInfo:
		return ti, true
	case *credentials.TLSInfo:
		if ti != nil {
			return *ti, true
		}
	}
	return credentials.TLSInfo{}, false
}

// maxEmbedHops bounds the pointers and interfaces handshakesComplete
// follows: a pointer may lead back to where it started.
const maxEmbedHops = 32

// handshakesComplete reports whether every credentials.TLSInfo (or type
// defined from it) that v is or embeds, found by its type whatever the
// name it is embedded under (an alias, a field of that name shadowing it)
// and through pointers and interfaces, has State.HandshakeComplete; it is
// false too when there are more than maxEmbedHops non-nil pointers and
// interfaces to follow in all. hops counts those followed so far. Unlike
// TLS, which finds the TLSInfo whose methods Go promotes, it misses none
// whose GetCommonAuthInfo could report ai's level, so that an AuthInfo
// with an unfinished handshake is never secure. It reads fields with
// IsNil, Elem and Bool only, which reflect allows on the read-only values
// of unexported fields, and does not panic; it allocates nothing once
// infoOf knows the types.
func handshakesComplete(v reflect.Value, hops *int) bool {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return true // nothing embedded there
		}
		if *hops++; *hops > maxEmbedHops {
			return false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return true
	}
	si := infoOf(v.Type())
	if si.tlsInfo {
		// Read with Bool, not Interface: v may come from an unexported
		// field.
		return v.FieldByIndex(handshakeIndex).Bool()
	}
	for _, index := range si.embedded {
		// index crosses only structs embedded by value: no nil pointer.
		if !handshakesComplete(v.FieldByIndex(index), hops) {
			return false
		}
	}
	return true
}
