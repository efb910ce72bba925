package settings

import (
	"flag"
	"strings"
	"testing"
)

// TestHostPort_NamedPortIsRefusedClearly: a named port ("localhost:http"),
// which net.Listen and net.Dial would look up in the system's services
// database, is refused, to listen and to dial, with an error that names
// the setting and says the port must be a number, not a name, and gives
// the number this system knows for it.
func TestHostPort_NamedPortIsRefusedClearly(t *testing.T) {
	for _, use := range []Use{Listen, Dial} {
		_, err := HostPort("ADDR", "localhost:http", use)
		if err == nil {
			t.Fatalf("HostPort(localhost:http, %d) = nil error, want it refused", use)
		}
		for _, want := range []string{`ADDR "localhost:http"`, "must be a number", "not a name", `"http" is localhost:80 here`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("HostPort(localhost:http, %d) = %q, want it to say %q", use, err, want)
			}
		}
	}
	// A name this system does not know is still said to be a name.
	if _, err := HostPort("WEB_ADDR", "127.0.0.1:no-such-service-here", Listen); err == nil || !strings.Contains(err.Error(), "not a name") {
		t.Errorf("HostPort(unknown service) = %v, want it refused as a name", err)
	}
}

// TestHostPort_ListenAndDialAccept: one check serves the server's listen
// addresses and the client's dialled one; they differ only in that a
// listen address may leave the host empty (every interface) and take
// port 0 (the kernel picks one).
func TestHostPort_ListenAndDialAccept(t *testing.T) {
	for _, tt := range []struct {
		addr         string
		listen, dial bool // accepted
		host         string
	}{
		{"127.0.0.1:50051", true, true, "127.0.0.1"},
		{"[::1]:443", true, true, "::1"},
		{"items.example.com:443", true, true, "items.example.com"},
		{":50051", true, false, ""},
		{"127.0.0.1:0", true, false, "127.0.0.1"},
		{"127.0.0.1:65535", true, true, "127.0.0.1"},
		{"127.0.0.1:65536", false, false, ""},
		{"127.0.0.1:-1", false, false, ""},
		{"127.0.0.1", false, false, ""},
		{"https://items.example.com:443", false, false, ""},
		{"127.0.0.1:9464x", false, false, ""},
	} {
		for _, u := range []struct {
			use  Use
			want bool
		}{{Listen, tt.listen}, {Dial, tt.dial}} {
			host, err := HostPort("ADDR", tt.addr, u.use)
			if (err == nil) != u.want {
				t.Errorf("HostPort(%q, %d) = %q, %v; want accepted %v", tt.addr, u.use, host, err, u.want)
				continue
			}
			if err == nil && host != tt.host {
				t.Errorf("HostPort(%q, %d) host = %q, want %q", tt.addr, u.use, host, tt.host)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "ADDR ") {
				t.Errorf("HostPort(%q, %d) = %q, want the error to name ADDR first", tt.addr, u.use, err)
			}
		}
	}
}

// TestTypos_MisspeltVariableIsSaid: a variable one character (dropped,
// added, changed, swapped with its neighbour), its case or ADDRESS for ADDR
// from one the program reads, which is unset, is said, naming both and
// never the value; a variable whose right name is set too, or that the
// program reads itself, is not.
func TestTypos_MisspeltVariableIsSaid(t *testing.T) {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	for _, name := range []string{"issuer", "token-url", "token-type", "client-id", "addr"} {
		fs.String(name, "", "")
	}
	for _, tt := range []struct {
		env  map[string]string
		want string // "" for no warning
	}{
		{map[string]string{"ISSUR": ""}, "ISSUR is set, but the client reads ISSUER, which is unset"},
		{map[string]string{"ISSUERR": "s3cr3t"}, "ISSUERR is set, but the client reads ISSUER"},
		{map[string]string{"ISUSER": "x"}, "ISUSER is set, but the client reads ISSUER"},
		{map[string]string{"ISSUEP": "x"}, "ISSUEP is set, but the client reads ISSUER"},
		{map[string]string{"issuer": "x"}, "issuer is set, but the client reads ISSUER"},
		{map[string]string{"TOKEN_URI": "x"}, "TOKEN_URI is set, but the client reads TOKEN_URL"},
		{map[string]string{"CLIENT_IDS": "x"}, "CLIENT_IDS is set, but the client reads CLIENT_ID"},
		{map[string]string{"ADDRESS": "x"}, "ADDRESS is set, but the client reads ADDR"},
		{map[string]string{"ISSUR": "x", "ISSUER": "y"}, ""}, // someone else's
		{map[string]string{"TOKEN_URL": "x", "TOKEN_TYPE": "y"}, ""},
		{map[string]string{"ISSUER_URL": "x", "PATH": "/bin"}, ""},
	} {
		got := strings.Join(Typos("client", fs, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }), "\n")
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%v: warnings %q, want %q", tt.env, got, tt.want)
		}
		if strings.Contains(got, "s3cr3t") {
			t.Errorf("%v: warnings %q repeat a value", tt.env, got)
		}
	}
}
