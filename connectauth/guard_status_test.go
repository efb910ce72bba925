package connectauth_test

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/grpcauth/grpcauth/connectauth"
)

// envelope is a stream's envelope of flags (0x80: gRPC-Web trailers,
// 0x02: Connect end of stream) carrying payload.
func envelope(flags byte, payload string) string {
	b := make([]byte, 5, 5+len(payload))
	b[0] = flags
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return string(append(b, payload...))
}

// statusDetails is a grpc-status-details-bin value: a google.rpc.Status
// of code, as connect-go encodes it (unpadded base64).
func statusDetails(t *testing.T, code int32) string {
	t.Helper()
	b, err := proto.Marshal(&statuspb.Status{Code: code, Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// The status of an unjudged stream that ends without a message is read
// as the clients read it (grpc-go's and connect-go's over gRPC,
// @connectrpc/connect-web's and grpc-web's over gRPC-Web, connect-go's and
// connect-web's end of a Connect stream): it goes out as it is only when
// every one of them reads an error; where any reads OK, or they could
// disagree, it is refused. Each case runs many times, as a header map's
// order is random.
func TestWrapHandler_ReadsAnUnjudgedStreamsStatusAsItsClientsDo(t *testing.T) {
	captureDefaultLog(t)
	const (
		grpc    = "application/grpc"
		grpcWeb = "application/grpc-web+proto"
		connect = "application/connect+json"
	)
	for _, tc := range []struct {
		name, contentType string
		header            map[string][]string // set before the handler writes
		flags             byte                // of the stream's end, if any
		end               string              // its payload
		refused           bool
	}{
		{name: "gRPC header 13", contentType: grpc, header: map[string][]string{"Grpc-Status": {"13"}}},
		{name: "gRPC trailer 13", contentType: grpc, header: map[string][]string{"Trailer:Grpc-Status": {"13"}}},
		// 1. A header and a trailer: a client reads the trailer (the
		// header too, when net/http sends no trailers): any OK is OK.
		{name: "gRPC header 13, trailer 0", contentType: grpc, header: map[string][]string{"Grpc-Status": {"13"}, "Trailer:Grpc-Status": {"0"}}, refused: true},
		{name: "gRPC header 0, trailer 13", contentType: grpc, header: map[string][]string{"Grpc-Status": {"0"}, "Trailer:Grpc-Status": {"13"}}, refused: true},
		{name: "gRPC header and trailer 13", contentType: grpc, header: map[string][]string{"Grpc-Status": {"13"}, "Trailer:Grpc-Status": {"13"}}},
		// Two fields: grpc-go reads the last, connect-go the first.
		{name: "gRPC header 13 then 0", contentType: grpc, header: map[string][]string{"Grpc-Status": {"13", "0"}}, refused: true},
		{name: "gRPC header 13, another spelling 0", contentType: grpc, header: map[string][]string{"Grpc-Status": {"13"}, "grpc-status": {"0"}}, refused: true},
		// A name that only Unicode folding makes grpc-status (U+017F, a
		// long s) is no field net/http sends: no client reads a status.
		{name: "gRPC header grpc-\u017ftatus 13", contentType: grpc, header: map[string][]string{"Grpc-\u017ftatus": {"13"}}, refused: true},
		{name: "gRPC trailer grpc-\u017ftatus 13", contentType: grpc, header: map[string][]string{"Trailer:Grpc-\u017ftatus": {"13"}}, refused: true},
		{name: "gRPC header 13, grpc-\u017ftatus 0", contentType: grpc, header: map[string][]string{"Grpc-Status": {"13"}, "grpc-\u017ftatus": {"0"}}},
		// connect-web prefers grpc-status-details-bin's code.
		{name: "gRPC header 13, details 0", contentType: grpc, header: map[string][]string{"Grpc-Status": {"13"}, "Grpc-Status-Details-Bin": {"<details 0>"}}, refused: true},
		{name: "gRPC header 13, details 5", contentType: grpc, header: map[string][]string{"Grpc-Status": {"13"}, "Grpc-Status-Details-Bin": {"<details 5>"}}},
		{name: "gRPC header 13, undecodable details", contentType: grpc, header: map[string][]string{"Grpc-Status": {"13"}, "Grpc-Status-Details-Bin": {"!"}}, refused: true},

		{name: "gRPC-Web header 13", contentType: grpcWeb, header: map[string][]string{"Grpc-Status": {"13"}}},
		// A browser reads no HTTP trailer.
		{name: "gRPC-Web trailer 13 only", contentType: grpcWeb, header: map[string][]string{"Trailer:Grpc-Status": {"13"}}, refused: true},
		// net/http takes only "Trailer:" for its prefix: this one is no trailer, and no header a client reads.
		{name: "gRPC-Web header with another prefix", contentType: grpcWeb, header: map[string][]string{"trailer:Grpc-Status": {"13"}}, refused: true},
		{name: "gRPC-Web header grpc-\u017ftatus 13", contentType: grpcWeb, header: map[string][]string{"grpc-\u017ftatus": {"13"}}, refused: true},
		// grpc-web's Number("0.0") is 0.
		{name: "gRPC-Web header 0.0", contentType: grpcWeb, header: map[string][]string{"Grpc-Status": {"0.0"}}, refused: true},

		// 2. The trailers frame.
		{name: "gRPC-Web frame 13", contentType: grpcWeb, flags: 0x80, end: "grpc-status: 13\r\ngrpc-message: no\r\n"},
		{name: "gRPC-Web frame 13 then 0", contentType: grpcWeb, flags: 0x80, end: "grpc-status: 13\r\ngrpc-status: 0\r\n", refused: true},
		{name: "gRPC-Web frame 0 then 13", contentType: grpcWeb, flags: 0x80, end: "grpc-status: 0\r\ngrpc-status: 13\r\n", refused: true},
		{name: "gRPC-Web frame 13 then 5", contentType: grpcWeb, flags: 0x80, end: "grpc-status: 13\r\ngrpc-status: 5\r\n"},
		// grpc-web reads only the lowercase name: no status is OK to it.
		{name: "gRPC-Web frame Grpc-Status 13", contentType: grpcWeb, flags: 0x80, end: "Grpc-Status: 13\r\n", refused: true},
		// Both JavaScript clients split lines at CRLF only.
		{name: "gRPC-Web frame LF", contentType: grpcWeb, flags: 0x80, end: "x-a: b\ngrpc-status: 13\r\n", refused: true},
		{name: "gRPC-Web frame CR", contentType: grpcWeb, flags: 0x80, end: "grpc-status: 13\rgrpc-status: 0\r\n", refused: true},
		{name: "gRPC-Web frame without a status", contentType: grpcWeb, flags: 0x80, end: "x-a: b\r\n", refused: true},
		{name: "gRPC-Web frame 0x0", contentType: grpcWeb, flags: 0x80, end: "grpc-status: 0x0\r\n", refused: true},
		// connect-web reads a status in the headers and expects no trailers.
		{name: "gRPC-Web frame 13, header 0", contentType: grpcWeb, header: map[string][]string{"Grpc-Status": {"0"}}, flags: 0x80, end: "grpc-status: 13\r\n", refused: true},
		{name: "gRPC-Web frame 13, details 0", contentType: grpcWeb, flags: 0x80, end: "grpc-status: 13\r\ngrpc-status-details-bin: <details 0>\r\n", refused: true},
		{name: "gRPC-Web frame 13, details 5", contentType: grpcWeb, flags: 0x80, end: "grpc-status: 13\r\nGrpc-Status-Details-Bin: <details 5>\r\n"},

		// 3. connect-web reads the key "error" as it is spelt.
		{name: "Connect error", contentType: connect, flags: 0x02, end: `{"error":{"code":"not_found"}}`},
		{name: "Connect ERROR", contentType: connect, flags: 0x02, end: `{"ERROR":{"code":"not_found"}}`, refused: true},
		{name: "Connect Error", contentType: connect, flags: 0x02, end: `{"Error":{"code":"not_found"}}`, refused: true},
		{name: "Connect error, then Error null", contentType: connect, flags: 0x02, end: `{"error":{"code":"not_found"},"Error":null}`, refused: true},
		{name: "Connect Error, then error", contentType: connect, flags: 0x02, end: `{"Error":null,"error":{"code":"not_found"}}`},
		{name: "Connect error null", contentType: connect, flags: 0x02, end: `{"error":null}`, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			details := strings.NewReplacer("<details 0>", statusDetails(t, 0), "<details 5>", statusDetails(t, 5))
			h := connectauth.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				for k, vs := range tc.header {
					for _, v := range vs {
						w.Header()[k] = append(w.Header()[k], details.Replace(v))
					}
				}
				if tc.flags != 0 {
					_, _ = w.Write([]byte(envelope(tc.flags, details.Replace(tc.end))))
				}
			}))
			for range 40 {
				req := httptest.NewRequest(http.MethodPost, "/authtest.v1.TestService/ServerStream", strings.NewReader(""))
				req.Header.Set("Content-Type", tc.contentType)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				refused := strings.Contains(fmt.Sprint(rec.Header(), rec.Body.String()), "connectauth: internal error")
				if refused != tc.refused {
					t.Fatalf("refused: %v, want %v; answer %v %q", refused, tc.refused, rec.Header(), rec.Body.String())
				}
			}
		})
	}
}
