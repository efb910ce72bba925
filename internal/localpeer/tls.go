package localpeer

import (
	"crypto/x509"
	"reflect"
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
// (Go promotes neither). A state whose handshake is not complete has
// proved nothing: it is TLS, without certificates.
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
)

// tlsInfoFields caches tlsInfoField by struct type (reflect.Type to []int):
// a search of a type's embedded fields costs several allocations, and the
// AuthInfo types of a program are few. Its keys are the dynamic types of
// AuthInfo values: types the program declares or, rarely, makes with
// reflect.StructOf (whose types, promoting an embedded TLSInfo's methods,
// can be AuthInfo types; reflect keeps each of them for good itself). A
// peer's input adds none, so it grows only with the program's own types.
var tlsInfoFields sync.Map

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
	index, ok := tlsInfoFields.Load(v.Type())
	if !ok {
		index, _ = tlsInfoFields.LoadOrStore(v.Type(), tlsInfoField(v.Type()))
	}
	if index.([]int) == nil {
		return credentials.TLSInfo{}, false
	}
	fv, err := v.FieldByIndexErr(index.([]int))
	if err != nil || !fv.CanInterface() {
		return credentials.TLSInfo{}, false
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

// tlsInfoField returns the index of the credentials.TLSInfo (or pointer to
// one) that the struct type t embeds, as embeddedTLSInfo reads it, or nil.
func tlsInfoField(t reflect.Type) []int {
	f, ok := t.FieldByName("TLSInfo")
	if !ok || !f.Anonymous || f.Type != tlsInfoType && f.Type != tlsInfoPtrType {
		return nil
	}
	return f.Index
}
