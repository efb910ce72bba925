package echotest

import (
	"io"
	"net/http"
	"strings"
)

// Line is where Handler echoes the request.
type Line int

const (
	// StatusLine echoes the request as the status line, with "|" for
	// every space, so that net/http quotes the line whole ("malformed
	// HTTP response").
	StatusLine Line = iota
	// HeaderLine echoes the request as a header line without a colon,
	// which net/http quotes whole ("malformed MIME header").
	HeaderLine
)

func (l Line) String() string {
	if l == StatusLine {
		return "status line"
	}
	return "header line"
}

// Lines are both Lines, for a test to range over.
var Lines = []Line{StatusLine, HeaderLine}

// Handler returns a handler that answers every request with Echo(r) in
// line, as raw bytes on the hijacked connection (see RawAnswer).
func Handler(line Line) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echo := Echo(r)
		if line == StatusLine {
			RawAnswer(w, "HTTP/1.1|"+strings.ReplaceAll(echo, " ", "|")+"\r\n\r\n")
			return
		}
		RawAnswer(w, "HTTP/1.1 200 OK\r\n"+echo+"\r\nContent-Length: 0\r\n\r\n")
	})
}

// Echo returns r as it came, on one line: its request line (the URL with
// its query), each header line and its body, separated by spaces, with
// every CR and LF a space.
func Echo(r *http.Request) string {
	parts := []string{r.Method + " " + r.RequestURI + " " + r.Proto, "Host: " + r.Host}
	for name, values := range r.Header {
		for _, v := range values {
			parts = append(parts, name+": "+v)
		}
	}
	body, _ := io.ReadAll(r.Body)
	parts = append(parts, string(body))
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(strings.Join(parts, " "))
}

// RawAnswer writes answer on w's connection as it is, in place of an
// HTTP answer, and closes it. w must be an HTTP/1.1 server's (httptest's
// NewServer), which hijacks.
func RawAnswer(w http.ResponseWriter, answer string) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	_, _ = buf.WriteString(answer)
	_ = buf.Flush()
}
