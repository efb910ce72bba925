package main

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// The HTTP/2 frame types and flags (RFC 9113, section 6) the tests use.
const (
	h2Data         = 0x0
	h2Headers      = 0x1
	h2RSTStream    = 0x3
	h2Settings     = 0x4
	h2Continuation = 0x9

	h2EndStream  = 0x1
	h2EndHeaders = 0x4

	h2ErrRefusedStream = 0x7

	// connClosed stands for a stream the server ended by closing the
	// connection: a header block far over its limit is a connection
	// error (golang.org/x/net/http2, against CVE-2023-45288).
	connClosed = 1<<32 - 1
)

// h2Conn speaks just enough HTTP/2 to open gRPC calls with whatever
// metadata a caller chooses. A grpc-go client would not do: it refuses on
// its own side to send more metadata than the server advertises, so it
// could not show that the server refuses it.
type h2Conn struct {
	t    *testing.T
	conn net.Conn
	addr string
}

// dialH2 connects to the gRPC server at addr and sends the connection
// preface with empty settings.
func dialH2(t *testing.T, addr string) *h2Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() }) // before the server stops: its streams end with the connection
	// A bound on a server that never answers, not a synchronisation.
	if err := c.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	h := &h2Conn{t: t, conn: c, addr: addr}
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := h.frame(h2Settings, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *h2Conn) frame(typ, flags byte, stream uint32, payload []byte) error {
	hdr := make([]byte, 9, 9+len(payload))
	hdr[0], hdr[1], hdr[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	hdr[3], hdr[4] = typ, flags
	binary.BigEndian.PutUint32(hdr[5:], stream)
	_, err := h.conn.Write(append(hdr, payload...))
	return err
}

// hpackString appends s as an HPACK string literal without Huffman coding
// (RFC 7541, sections 5.1 and 5.2).
func hpackString(b []byte, s string) []byte {
	n := len(s)
	if n < 127 {
		b = append(b, byte(n))
	} else {
		b = append(b, 127)
		for n -= 127; n >= 128; n >>= 7 {
			b = append(b, byte(n%128+128))
		}
		b = append(b, byte(n))
	}
	return append(b, s...)
}

// call opens stream id, a call of method with the metadata md (name,
// value pairs) and an empty request message, in frames of at most 16 KiB
// (the default SETTINGS_MAX_FRAME_SIZE). It stops at the first write the
// server does not take (it closed the connection), and then, as when the
// server answers, answers tells.
func (h *h2Conn) call(id uint32, method string, md ...string) {
	if h.open(id, method, md...) {
		_ = h.frame(h2Data, h2EndStream, id, make([]byte, 5))
	}
}

// open is call without the request message: the call stays open, its
// handler waiting for the client's messages. It reports whether the
// server took every frame.
func (h *h2Conn) open(id uint32, method string, md ...string) bool {
	fields := append([]string{":method", "POST", ":scheme", "http", ":path", method, ":authority", h.addr,
		"content-type", "application/grpc", "te", "trailers"}, md...)
	var block []byte
	for i := 0; i < len(fields); i += 2 {
		block = append(block, 0) // a literal field without indexing, with a new name
		block = hpackString(hpackString(block, fields[i]), fields[i+1])
	}
	typ := byte(h2Headers)
	for {
		n := min(len(block), 16<<10)
		flags := byte(0)
		if n == len(block) {
			flags = h2EndHeaders
		}
		if h.frame(typ, flags, id, block[:n]) != nil {
			return false
		}
		if block = block[n:]; len(block) == 0 {
			return true
		}
		typ = h2Continuation
	}
}

// answers reads frames until each stream of ids is answered (HEADERS) or
// reset, and returns, per stream, 0 for an answer, the RST_STREAM error
// code, or connClosed when the server closed the connection first.
func (h *h2Conn) answers(ids ...uint32) map[uint32]uint32 {
	h.t.Helper()
	want := make(map[uint32]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	got := make(map[uint32]uint32, len(ids))
	hdr := make([]byte, 9)
	for len(got) < len(want) {
		payload, err := h.readFrame(hdr)
		if err != nil {
			for id := range want {
				if _, done := got[id]; !done {
					got[id] = connClosed
				}
			}
			break
		}
		typ, flags, id := hdr[3], hdr[4], binary.BigEndian.Uint32(hdr[5:])&(1<<31-1)
		switch {
		case typ == h2Settings && flags == 0:
			_ = h.frame(h2Settings, 1, 0, nil) // ACK
		case !want[id]:
		case typ == h2Headers:
			if _, done := got[id]; !done {
				got[id] = 0
			}
		case typ == h2RSTStream:
			got[id] = binary.BigEndian.Uint32(payload)
		}
	}
	return got
}

// readFrame reads one frame into hdr and returns its payload. A read that
// times out fails the test: the server neither answered nor closed.
func (h *h2Conn) readFrame(hdr []byte) ([]byte, error) {
	h.t.Helper()
	_, err := io.ReadFull(h.conn, hdr)
	var payload []byte
	if err == nil {
		payload = make([]byte, int(hdr[0])<<16|int(hdr[1])<<8|int(hdr[2]))
		_, err = io.ReadFull(h.conn, payload)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		h.t.Fatal(err)
	}
	return payload, err
}

// TestServer_MetadataBeyondTheHeaderLimitIsRefused: the gRPC port refuses
// a call whose metadata exceeds maxHeaderBytes, as the web port refuses
// such headers, even to a public method. grpc-go's default would take 16
// MiB, which a caller without a token could keep on the server for as
// long as a public stream (health's Watch) stays open.
func TestServer_MetadataBeyondTheHeaderLimitIsRefused(t *testing.T) {
	_, addr, _ := serveInProcess(t, slog.New(slog.DiscardHandler))
	h := dialH2(t, addr)
	padding := func(kib int) []string { // kib values of 1 KiB each
		var md []string
		for range kib {
			md = append(md, "x-padding", strings.Repeat("a", 1<<10))
		}
		return md
	}
	h.call(1, "/grpc.health.v1.Health/Check", padding(8)...)
	if got := h.answers(1)[1]; got != 0 {
		t.Fatalf("a call with 8 KiB of metadata was refused (code %#x), want an answer", got)
	}
	h.call(3, "/grpc.health.v1.Health/Check", padding(128)...)
	if h.answers(3)[3] == 0 {
		t.Error("a call with 128 KiB of metadata was answered, want it refused")
	}
}

// TestServer_OpenStreamsPerConnectionAreBounded: one connection may hold
// maxConcurrentStreams calls open at a time; the next is refused
// (REFUSED_STREAM), so a caller without a token cannot open any number of
// public streams on it.
func TestServer_OpenStreamsPerConnectionAreBounded(t *testing.T) {
	_, addr, _ := serveInProcess(t, slog.New(slog.DiscardHandler))
	h := dialH2(t, addr)
	var ids []uint32
	for i := range maxConcurrentStreams + 1 {
		id := uint32(2*i + 1)
		h.call(id, "/grpc.health.v1.Health/Watch") // stays open: it streams status changes
		ids = append(ids, id)
	}
	got := h.answers(ids...)
	for _, id := range ids[:maxConcurrentStreams] {
		if got[id] != 0 {
			t.Fatalf("stream %d of %d was refused (code %#x), want it served", id/2+1, maxConcurrentStreams, got[id])
		}
	}
	if last := ids[maxConcurrentStreams]; got[last] != h2ErrRefusedStream {
		t.Errorf("stream %d, one past the bound, got code %#x, want REFUSED_STREAM (%#x)", maxConcurrentStreams+1, got[last], h2ErrRefusedStream)
	}
}
