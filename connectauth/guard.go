package connectauth

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// rpcProtocol is the RPC protocol of a request, as WrapHandler recognises
// it, or notRPC.
type rpcProtocol uint8

const (
	notRPC rpcProtocol = iota
	connectUnary
	connectStream
	grpcProtocol
	grpcWebProtocol
)

func (p rpcProtocol) String() string {
	return [...]string{"none", "connect", "connect streaming", "grpc", "grpc-web"}[p]
}

// rpcProtocolOf returns the RPC protocol of r, by what its client must or
// does send: a POST whose Content-Type is application/grpc,
// application/grpc-web or application/connect+ (each with a codec or
// none, as connect-go's handlers accept them), application/proto (the
// Connect protocol's own name for a binary unary message), or any POST or
// GET with a Connect-Protocol-Version header or, a GET, a connect query
// parameter, which every Connect client sends. A hand-made Connect unary
// call, which sends neither, is one by its path too (knownProcedure): a
// POST of application/json, or a GET with the encoding and message query
// parameters, to a path that ends in /package.Service/Method naming a
// method of a service registered in protoregistry.GlobalFiles; a JSON
// POST elsewhere is plain HTTP, as a REST API's is, even where its path
// has that shape (/hooks/example.com/receive). It does not allocate.
func rpcProtocolOf(r *http.Request) rpcProtocol {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return notRPC
	}
	if r.Method == http.MethodPost {
		ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
		ct = strings.TrimSpace(ct)
		switch {
		case mediaTypeWithCodec(ct, "application/grpc-web"):
			return grpcWebProtocol
		case mediaTypeWithCodec(ct, "application/grpc"):
			return grpcProtocol
		case hasPrefixFold(ct, "application/connect+"):
			return connectStream
		case strings.EqualFold(ct, "application/proto"),
			strings.EqualFold(ct, "application/json") && knownProcedure(r.URL.Path):
			return connectUnary
		}
	}
	if r.Header.Get("Connect-Protocol-Version") != "" {
		return connectUnary
	}
	if r.Method == http.MethodGet {
		q := r.URL.RawQuery
		if hasQueryKey(q, "connect") || (hasQueryKey(q, "encoding") && hasQueryKey(q, "message") && knownProcedure(r.URL.Path)) {
			return connectUnary
		}
	}
	return notRPC
}

// knownProcedure reports whether path ends in /package.Service/Method
// (procedureOf) and names a method of a service whose descriptor is
// registered in protoregistry.GlobalFiles, as protoc-gen-go's generated
// code, which every protoc-gen-connect-go handler imports, registers
// them. A plain route whose path merely has that shape
// (/hooks/example.com/receive, /v1/acme.billing/charge) names none. A
// service whose descriptors are not registered there (built at run time
// from a descriptor set) is not known: its hand-made calls are plain
// HTTP to the guard. It does not allocate.
func knownProcedure(path string) bool {
	service, method, ok := procedureOf(path)
	if !ok {
		return false
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return false
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	return ok && sd.Methods().ByName(protoreflect.Name(method)) != nil
}

// procedureOf cuts the service and method out of a path that ends as an
// RPC's does, in /package.Service/Method (a handler mounted under a
// prefix serves it below that): a service name of two or more
// dot-separated identifiers, then a method's identifier. A REST route's
// (/api/v1/items) does not.
func procedureOf(path string) (service, method string, ok bool) {
	rest, method, ok := cutLast(path, '/')
	if !ok || !identifier(method) {
		return "", "", false
	}
	_, service, _ = cutLast(rest, '/')
	pkg, name, ok := cutLast(service, '.')
	if !ok || !identifier(name) {
		return "", "", false
	}
	for {
		part, more, found := strings.Cut(pkg, ".")
		if !identifier(part) {
			return "", "", false
		}
		if !found {
			return service, method, true
		}
		pkg = more
	}
}

// cutLast cuts s around the last sep in it.
func cutLast(s string, sep byte) (before, after string, found bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

// identifier reports whether s is a protobuf identifier: a letter or
// underscore, then letters, digits and underscores.
func identifier(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// mediaTypeWithCodec reports whether ct is base or base+codec, but for
// case.
func mediaTypeWithCodec(ct, base string) bool {
	return hasPrefixFold(ct, base) && (len(ct) == len(base) || ct[len(base)] == '+')
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// hasQueryKey reports whether the raw query holds a parameter named key.
func hasQueryKey(query, key string) bool {
	for query != "" {
		var param string
		param, query, _ = strings.Cut(query, "&")
		if name, _, _ := strings.Cut(param, "="); name == key {
			return true
		}
	}
	return false
}

// carriesMessage reports whether a response body of protocol p whose
// first byte is first begins with a message: an envelope whose flags mark
// no end of stream (Connect streaming's 0x02) nor trailers (gRPC-Web's
// 0x80). A gRPC body holds messages only: its trailers are HTTP trailers.
func (p rpcProtocol) carriesMessage(first byte) bool {
	switch p {
	case connectStream:
		return first&0x02 == 0
	case grpcWebProtocol:
		return first&0x80 == 0
	}
	return true
}

// errWithheld is what a handler's writes return once WrapHandler has
// withheld its response.
var errWithheld = errors.New("connectauth: WrapHandler withheld the response: no grpcauth interceptor judged the call")

// unjudgedWriter writes the refusal of a call whose response WrapHandler
// withholds, in the protocol of the call.
var unjudgedWriter = connect.NewErrorWriter()

// guardState is where a guardWriter stands.
type guardState uint8

const (
	undecided guardState = iota // nothing of the response is written yet
	passing                     // the response goes out as the handler writes it
	refused                     // the refusal is written, the handler's response withheld
)

// guardWriter is the ResponseWriter WrapHandler gives the handler of an
// RPC request (rpcProtocolOf). Once the interceptor has judged the call
// (requestInfo.judged, through grpcauth's decision), it is the server's
// writer. Before that it lets through what a handler writes before any
// decision, an error (connect-go's answer to a malformed request, the
// mux's 404, a gRPC status), and withholds a response message: the
// handler that wrote it runs without the interceptor. A response whose
// Content-Type no RPC's answer has (rpcAnswer: a plain HTTP handler that
// a client reached with an RPC's headers) goes out as it is. The status
// of a stream (gRPC, gRPC-Web, Connect streaming) is held back until its
// first bytes say whether a message follows (an encoded body, which a
// compression middleware inside makes, is taken for one), and a Flush
// before them is dropped; a stream's end written before any message is
// held back too, and a stream that ends without a message is refused
// when the handler returns, unless its end reports an error (finish); a
// Connect unary response is a message when its status is 2xx, or it has
// no body. An informational status (103 Early Hints) before the
// call is judged is dropped, as it would carry the handler's headers. A
// withheld response is replaced with the refusal of errInternal, in the
// call's protocol, and logged (unjudgedLog); the handler's later writes
// fail with errWithheld, and the headers and trailers it sets from then
// on are dropped when it returns (finish).
//
// It has no Unwrap: the server's writer it would hand out takes writes
// around the guard. It offers instead what http.ResponseController
// reaches for (FlushError, the deadlines, EnableFullDuplex, Hijack), each
// from the server's writer, and Hijack only for a call that was judged.
// It offers no io.ReaderFrom, so io.Copy into it goes through Write.
//
// It lives in the request's requestInfo, which WrapHandler allocates
// anyway.
type guardWriter struct {
	http.ResponseWriter
	info        *requestInfo
	contentType string // the request's, as it arrived (vanguard changes it)
	log         *unjudgedLog
	protocol    rpcProtocol
	state       guardState
	pending     int         // the 2xx status of a stream, held back
	sent        http.Header // the refusal's header map, as written
	end         []byte      // a stream's end (endsInError) written before any message, held back
}

// judged reports whether the response may go out: the call was judged
// (the writer passes everything from then on).
func (w *guardWriter) judged() bool {
	if w.state == undecided && w.info.judged.Load() {
		w.state = passing
	}
	return w.state == passing
}

// WriteHeader writes a final status that carries no message (a Connect
// unary error, a stream's error status) or no RPC's answer (rpcAnswer) at
// once; a Connect unary 2xx of a call not judged is refused, and a
// stream's 2xx is held back until its body begins. An informational
// status (103 Early Hints, 101) of a call not judged is dropped: it would
// send the handler's headers as they stand, which a refusal withholds.
func (w *guardWriter) WriteHeader(code int) {
	switch {
	case w.state == refused:
		return
	case w.judged():
		w.ResponseWriter.WriteHeader(code)
		return
	case code < 200:
		return
	case code >= 300 || !w.rpcAnswer():
		w.state = passing // an error, or no RPC's answer: no message follows
		w.ResponseWriter.WriteHeader(code)
	case w.protocol == connectUnary:
		w.refuse()
	case w.pending == 0:
		w.pending = code
	}
}

// rpcAnswer reports whether the response's Content-Type, as the handler
// has set it, may be an RPC's answer: an application/ type, as every one
// is (application/grpc, application/grpc-web, application/connect+ and,
// for a Connect unary call, application/ and the codec's name), which
// connect-go, grpc-go and vanguard set before they write, whatever the
// client sent. A plain HTTP handler that a client reaches with an RPC's
// headers (a health check, a page) answers with a text/ type or none,
// and goes out untouched, unlogged.
func (w *guardWriter) rpcAnswer() bool {
	return hasPrefixFold(strings.TrimSpace(w.ResponseWriter.Header().Get("Content-Type")), "application/")
}

// encoded reports whether the response's body is encoded (a
// Content-Encoding other than identity, which a compression middleware
// inside WrapHandler sets): its first byte is the encoding's, and says
// nothing of whether a message follows (gzip's 0x1f reads as a Connect
// end of stream).
func (w *guardWriter) encoded() bool {
	ce := strings.TrimSpace(w.ResponseWriter.Header().Get("Content-Encoding"))
	return ce != "" && !strings.EqualFold(ce, "identity")
}

// Write writes p, unless it begins the message of a call not judged.
func (w *guardWriter) Write(p []byte) (int, error) {
	if w.state == undecided && !w.judged() {
		if len(p) == 0 {
			return 0, nil
		}
		// A Connect unary status not yet written is 200: WriteHeader
		// decides on any other. A body encoded inside (encoded) hides
		// its envelope: taken for a message. A stream's end (its first
		// envelope's flags say so) is held back until the handler
		// returns, when finish reads its status.
		switch {
		case w.end != nil: // the rest of a stream's end
		case !w.rpcAnswer():
			w.state = passing
		case w.protocol == connectUnary || w.encoded() || w.protocol.carriesMessage(p[0]):
			w.refuse()
		}
		if w.state == undecided {
			if len(w.end)+len(p) > maxEnd {
				w.refuse()
			} else {
				w.end = append(w.end, p...)
				return len(p), nil
			}
		}
	}
	if w.state == refused {
		return 0, errWithheld
	}
	if err := w.release(); err != nil {
		return 0, err
	}
	return w.ResponseWriter.Write(p)
}

// Flush implements http.Flusher, which connect-go and grpc-go assert.
func (w *guardWriter) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController.Flush calls: it flushes what
// went out and reports the server's error; it flushes nothing of a call
// not judged whose body has not begun (a status held back, headers that
// a refusal would withhold), and reports errWithheld once the response
// is refused.
func (w *guardWriter) FlushError() error {
	if w.state == undecided && !w.judged() {
		return nil
	}
	if w.state == refused {
		return errWithheld
	}
	if err := w.release(); err != nil {
		return err
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// SetReadDeadline is what http.ResponseController.SetReadDeadline calls.
func (w *guardWriter) SetReadDeadline(deadline time.Time) error {
	return http.NewResponseController(w.ResponseWriter).SetReadDeadline(deadline)
}

// SetWriteDeadline is what http.ResponseController.SetWriteDeadline calls.
func (w *guardWriter) SetWriteDeadline(deadline time.Time) error {
	return http.NewResponseController(w.ResponseWriter).SetWriteDeadline(deadline)
}

// EnableFullDuplex is what http.ResponseController.EnableFullDuplex
// calls.
func (w *guardWriter) EnableFullDuplex() error {
	return http.NewResponseController(w.ResponseWriter).EnableFullDuplex()
}

// errHijackRefused is what Hijack returns for a call not judged.
var errHijackRefused = errors.New("connectauth: WrapHandler refused to hand over the connection: no grpcauth interceptor judged the call")

// Hijack implements http.Hijacker for a call that was judged. Any other
// RPC request's connection would let its handler write an answer around
// the guard: no RPC server hijacks one (connect-go, grpc-go, vanguard),
// so Hijack refuses it with errHijackRefused, and a response not yet
// begun whose Content-Type is an RPC's answer's (rpcAnswer) is refused,
// and logged, as a withheld message is. That holds whatever the request
// asks for: an Upgrade to h2c is the client's to send, and would hand the
// connection to any handler that takes it, not only to h2c.NewHandler
// (WrapHandler drops that Upgrade from an RPC request,
// withoutH2CUpgrade, so that an h2c handler inside serves it over
// HTTP/1.1; h2c's preface, "PRI *", is no RPC request and is handed
// over). A plain handler that a client reached with an RPC's headers (a
// WebSocket upgrade sent Connect-Protocol-Version) gets the error too,
// and answers it as it will, unlogged: a client cannot fill the log with
// paths of its choosing.
func (w *guardWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.info.judged.Load() {
		return http.NewResponseController(w.ResponseWriter).Hijack()
	}
	if w.state == undecided && w.rpcAnswer() {
		w.refuse()
	}
	return nil, nil, errHijackRefused
}

// writePending writes the status held back.
func (w *guardWriter) writePending() {
	if w.pending != 0 {
		code := w.pending
		w.pending = 0
		w.ResponseWriter.WriteHeader(code)
	}
}

// release writes what was held back of a response that goes out: its
// status, and the end of a stream written before the call was judged.
func (w *guardWriter) release() error {
	w.writePending()
	if end := w.end; end != nil {
		w.end = nil
		_, err := w.ResponseWriter.Write(end)
		return err
	}
	return nil
}

// refuse writes the refusal in place of the response and logs it.
func (w *guardWriter) refuse() {
	w.state, w.pending = refused, 0
	w.end = nil // a stream's end held back is never written now: not kept until the request ends
	h := w.ResponseWriter.Header()
	clear(h) // the handler's headers are part of what is withheld
	// The request as it arrived, for the refusal's protocol: a handler
	// may have changed it since (vanguard sets a gRPC Content-Type on
	// it for its backend).
	r := &http.Request{Method: w.info.method, Header: http.Header{"Content-Type": {w.contentType}}, URL: &url.URL{}}
	_ = unjudgedWriter.Write(w.ResponseWriter, r, internalError())
	w.sent = maps.Clone(h) // with a gRPC refusal's trailers
	w.log.log(w.info.path, w.protocol)
}

// finish ends the response once the handler has returned. A call not
// judged whose answer was not decided is refused when it is an RPC's
// answer (rpcAnswer) that reports no error: a stream that ends without a
// message, OK (its end's status, endsInError), whose headers and trailers
// would reach the caller, and a Connect unary answer without a body (its
// status, 200, would make it an empty message). Otherwise it writes what
// is still held back: a status (a stream that ended without a body, such
// as a gRPC error in its headers) and a stream's end (an error). A
// refused response gets back the refusal's header map, whose trailers the
// handler may have added to since.
func (w *guardWriter) finish() {
	if w.state == undecided && !w.judged() && w.rpcAnswer() && (w.protocol == connectUnary || !w.endsInError()) {
		w.refuse()
		return
	}
	switch w.state {
	case undecided, passing:
		_ = w.release() // the handler has returned: no one to tell
	case refused:
		h := w.ResponseWriter.Header()
		clear(h)
		maps.Copy(h, w.sent)
	}
}

// maxEnd bounds the end of a stream that the guard holds back to read
// its status, and that status once inflated: past it, the end is refused
// as a message would be.
const maxEnd = 64 << 10

// endsInError reports whether the answer of a stream whose handler
// returned without a message reports an error to each of its clients:
// the end it wrote (a Connect end-of-stream message with an error,
// gRPC-Web trailers whose grpc-status is not 0; inflated when its
// envelope is compressed, by gzip only), or without one the grpc-status
// its headers carry (a gRPC call's, a gRPC-Web trailers-only answer's)
// or, but for gRPC-Web (a browser reads no HTTP trailers), its trailers.
// Each grpc-status and grpc-status-details-bin of the headers and
// trailers must report an error too, wherever one is, as a client may
// read any (a gRPC client reads a header's when net/http sends no
// trailers, connect-web's gRPC-Web client a header's before the body).
// An end that is not one whole envelope, or that it cannot read, reports
// none: the stream is refused.
func (w *guardWriter) endsInError() bool {
	h := w.ResponseWriter.Header()
	headers := headerStatus(h, w.protocol != grpcWebProtocol)
	if w.end == nil {
		return headers.isError()
	}
	if len(w.end) < 5 || binary.BigEndian.Uint32(w.end[1:5]) != uint32(len(w.end)-5) {
		return false
	}
	flags, payload := w.end[0], w.end[5:]
	encoding := "Grpc-Encoding"
	if w.protocol == connectStream {
		encoding = "Connect-Content-Encoding"
	}
	if flags&0x01 != 0 {
		var ok bool
		if payload, ok = gunzip(h.Get(encoding), payload); !ok {
			return false
		}
	}
	if w.protocol == connectStream {
		return connectEndError(payload)
	}
	return webTrailerStatus(string(payload)).isError() && !headers.mayBeOK
}

// connectEndError reports whether a Connect end-of-stream message
// reports an error to each client. connect-go's decodes it with
// encoding/json into a struct (protocol_connect.go,
// connectEndStreamMessage), whose field matches a key of any case
// ("ERROR"), the last one winning; @connectrpc/connect-web's reads the
// key "error" as it is spelt only (end-stream.ts: JSON.parse, then
// jsonValue.error), the last one winning, and takes null for none. So
// both must find an error.
func connectEndError(payload []byte) bool {
	var end struct {
		Error *struct{} `json:"error"`
	}
	var keys map[string]json.RawMessage
	var spelt *struct{}
	return json.Unmarshal(payload, &end) == nil && end.Error != nil &&
		json.Unmarshal(payload, &keys) == nil && keys["error"] != nil &&
		json.Unmarshal(keys["error"], &spelt) == nil && spelt != nil
}

// statusReading is what the clients of an answer read of its status in
// one place (its headers and trailers, a gRPC-Web trailers frame): found,
// a grpc-status there; mayBeOK, that some client may read it as OK (a
// grpc-status or grpc-status-details-bin that reports none, more than one
// grpc-status-details-bin) or read it otherwise than the guard does.
// Reading it the same way whatever the order of its fields (a header
// map's is random), it takes the status for an error only where every
// field reports one: grpc-go's client reads the last grpc-status field,
// connect-go's the first.
type statusReading struct {
	found, mayBeOK bool
	details        int // grpc-status-details-bin fields
}

// field reads a field named name of value; read: a client reads it where
// it must find a grpc-status. The name is compared in any ASCII case, as
// net/http sends it (http.CanonicalHeaderKey, which leaves a name that is
// no token as it is: net/http drops such a field); strings.EqualFold
// would take "grpc-\u017ftatus" (U+017F, a long s, folds to s), which no
// client receives, for a grpc-status.
func (s *statusReading) field(name, value string, read bool) {
	switch http.CanonicalHeaderKey(name) {
	case "Grpc-Status":
		s.found = s.found || read
		s.mayBeOK = s.mayBeOK || !errorStatus(value)
	case "Grpc-Status-Details-Bin":
		s.details++
		s.mayBeOK = s.mayBeOK || s.details > 1 || !errorDetails(value)
	}
}

// isError reports whether every client reads the status as an error.
func (s statusReading) isError() bool { return s.found && !s.mayBeOK }

// headerStatus reads the grpc-status of h, its headers and declared
// trailers (which net/http sends as headers too when they are set before
// the status is written, as the guard holds the status back until then)
// and the trailers named with http.TrailerPrefix, as net/http takes it:
// in that case only ("trailer:Grpc-Status" is a header named so, which
// no client reads for a status). A grpc-status among those trailers
// counts as found only where trailers are read.
func headerStatus(h http.Header, trailersRead bool) statusReading {
	var s statusReading
	for k, values := range h {
		name, trailer := strings.CutPrefix(k, http.TrailerPrefix)
		for _, v := range values {
			s.field(name, v, !trailer || trailersRead)
		}
	}
	return s
}

// webTrailerStatus reads a gRPC-Web trailers frame as its clients do:
// lines separated by CRLF, a name before the first colon, trimmed.
// grpc-web's JavaScript client takes the last line named "grpc-status",
// in that case only (Grpc-Status is none to it, and no status is OK);
// @connectrpc/connect-web's any case, and it prefers
// grpc-status-details-bin's code. A lone CR or LF, which would make
// another split of the lines, or a name around grpc-status that only
// some of them read as one, may be read as OK.
func webTrailerStatus(payload string) statusReading {
	var s statusReading
	for line := range strings.SplitSeq(payload, "\r\n") {
		name, value, _ := strings.Cut(line, ":")
		name = strings.Trim(name, " \t")
		lower := strings.ToLower(name)
		switch {
		case strings.ContainsAny(line, "\r\n"):
			s.mayBeOK = true
		case name == "grpc-status" || lower == "grpc-status-details-bin":
			s.field(name, value, true)
		case strings.Contains(lower, "grpc-status"):
			s.mayBeOK = true
		}
	}
	return s
}

// errorStatus reports whether a grpc-status reads as an error to every
// client: a decimal number, signed or not, with a digit other than 0.
// Any other may be 0 to one of them: grpc-go's client reads "00", "+0"
// and "-0" as 0 (strconv.ParseInt), grpc-web's JavaScript client "",
// "0.0" and "0x0" too (Number).
func errorStatus(status string) bool {
	s := strings.Trim(status, " \t")
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return s != "" && strings.Trim(s, "0123456789") == "" && strings.Trim(s, "0") != ""
}

// errorDetails reports whether a grpc-status-details-bin is a
// google.rpc.Status, base64-encoded with padding or without, whose code
// is not 0: connect-web's client reads that code in place of the
// grpc-status, and a code of 0 as OK.
func errorDetails(value string) bool {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.Trim(value, " \t"), "="))
	var st statuspb.Status
	return err == nil && proto.Unmarshal(b, &st) == nil && st.GetCode() != 0
}

// gunzip inflates a gzip envelope's payload, up to maxEnd.
func gunzip(encoding string, payload []byte) ([]byte, bool) {
	if !strings.EqualFold(strings.TrimSpace(encoding), "gzip") {
		return nil, false
	}
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return nil, false
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxEnd+1))
	return out, err == nil && len(out) <= maxEnd
}

// maxUnjudgedLogged bounds the paths an unjudgedLog remembers, and
// maxLoggedPath the length of each: a handler mounted under a prefix
// serves paths of the client's choosing.
const (
	maxUnjudgedLogged = 64
	maxLoggedPath     = 256
)

// unjudgedLog logs, as an error record of slog.Default(), each path whose
// response a WrapHandler withheld, once; past maxUnjudgedLogged paths it
// says once that it logs no more.
type unjudgedLog struct {
	mu   sync.Mutex
	seen map[string]struct{}
	full bool
}

func (l *unjudgedLog) log(path string, p rpcProtocol) {
	if len(path) > maxLoggedPath {
		path = path[:maxLoggedPath]
	}
	l.mu.Lock()
	_, seen := l.seen[path]
	full := !seen && len(l.seen) >= maxUnjudgedLogged
	switch {
	case seen || (full && l.full):
		l.mu.Unlock()
		return
	case full:
		l.full = true
	default:
		if l.seen == nil {
			l.seen = make(map[string]struct{})
		}
		l.seen[path] = struct{}{}
	}
	l.mu.Unlock()
	if full {
		slog.Default().Error("connectauth: WrapHandler withheld responses of further paths that no grpcauth interceptor judged; they are no longer logged", "paths_logged", maxUnjudgedLogged)
		return
	}
	slog.Default().Error("connectauth: WrapHandler withheld the response of a call that no grpcauth interceptor judged, and answered it with CodeInternal: "+
		"the handler serving this path runs without authentication; build it with connect.WithInterceptors(connectauth.NewInterceptor(auth)) "+
		"(a public procedure: list it in grpcauth.Config.Public), and serve it with a context that derives from the request's "+
		"(a middleware inside WrapHandler that serves it another hides the mark of a judged call); the handler itself has run, with its side effects",
		"path", path, "protocol", p.String())
}
