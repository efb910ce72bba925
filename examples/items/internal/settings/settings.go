package settings

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// EnvName is the environment variable the flag named flagName reads: its
// name in upper case, dashes as underscores (-token-url, TOKEN_URL).
func EnvName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// nameChars are the characters a misspelling may add to a variable's
// name or put in place of one of its characters.
const nameChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

// spellingVariants are the spellings of a name's ending that Typos also
// takes for a misspelling, either way round: each is more than one letter
// from the other.
var spellingVariants = [][2]string{{"ADDR", "ADDRESS"}}

// Typos returns a warning for each variable in the environment
// (lookupEnv, as os.LookupEnv) that program does not read, but whose name
// is one it reads (the variables of fs's flags, EnvName), which is unset,
// misspelt: the name in lower case, one character dropped, added or
// changed, two neighbours swapped (ISSUR, AUDIENCES, CLIENT_ID,
// JWKS_URL), or ADDRESS for ADDR (METRICS_ADDRESS). Its setting would
// silently stay at its default. A variable whose right name is set too is
// someone else's (the server's CLIENT_IDS next to the client's CLIENT_ID),
// and not warned about; nor is a name program reads itself. Each warning
// names program and both variables, never a value.
func Typos(program string, fs *flag.FlagSet, lookupEnv func(string) (string, bool)) []string {
	var read []string
	fs.VisitAll(func(f *flag.Flag) { read = append(read, EnvName(f.Name)) })
	var out []string
	for _, name := range read {
		if _, set := lookupEnv(name); set {
			continue
		}
		for _, m := range misspellings(name) {
			if _, set := lookupEnv(m); set && !slices.Contains(read, m) {
				out = append(out, fmt.Sprintf("%s is set, but the %s reads %s, which is unset: a misspelling? %s stays at its default", m, program, name, name))
			}
		}
	}
	return out
}

// misspellings returns the names Typos takes for misspellings of name,
// sorted, without name itself.
func misspellings(name string) []string {
	seen := map[string]bool{strings.ToLower(name): true}
	for i := range len(name) + 1 {
		for _, c := range nameChars {
			seen[name[:i]+string(c)+name[i:]] = true // added
			if i < len(name) {
				seen[name[:i]+string(c)+name[i+1:]] = true // changed
			}
		}
		if i < len(name) {
			seen[name[:i]+name[i+1:]] = true // dropped
		}
		if i+1 < len(name) {
			seen[name[:i]+name[i+1:i+2]+name[i:i+1]+name[i+2:]] = true // swapped
		}
	}
	for _, v := range spellingVariants {
		for _, from := range []int{0, 1} {
			if n, ok := strings.CutSuffix(name, v[from]); ok {
				seen[n+v[1-from]] = true
			}
		}
	}
	delete(seen, name)
	delete(seen, "")
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// Use is what an address is for, which decides what HostPort accepts.
type Use int

const (
	// Listen is an address to listen on: an empty host is every
	// interface, and port 0 one the kernel picks.
	Listen Use = iota
	// Dial is an address to dial: it needs a host and a port from 1.
	Dial
)

// HostPort checks addr, the value of the setting name, as an address for
// use, and returns its host. It must be HOST:PORT with the port a decimal
// number: from 0 to 65535 to listen, from 1 to dial (which also needs a
// host). A named port ("localhost:http") is refused, with its number when
// this system's services database knows it: it would mean whatever
// number each machine's database gives it, and the addresses the server
// prints and the client compares are numeric. Its errors name the setting
// and quote addr (an address holds no secret).
func HostPort(name, addr string, use Use) (string, error) {
	example := "127.0.0.1:50051"
	if use == Dial {
		example += " or items.example.com:443"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || strings.Contains(addr, "/") { // a URL splits at its scheme's colon
		return "", fmt.Errorf("%s %q is not HOST:PORT, such as %s", name, addr, example)
	}
	if use == Dial && host == "" {
		return "", fmt.Errorf("%s %q has no host: give HOST:PORT, such as %s", name, addr, example)
	}
	lowest := uint64(0)
	if use == Dial {
		lowest = 1
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err == nil && n >= lowest {
		return host, nil
	}
	msg := fmt.Sprintf("%s %q: the port must be a number from %d to 65535", name, addr, lowest)
	if isServiceName(port) {
		msg += ", not a name"
		if p, err := net.LookupPort("tcp", port); err == nil {
			msg += fmt.Sprintf(" (%q is %s here)", port, net.JoinHostPort(host, strconv.Itoa(p)))
		}
	}
	return "", errors.New(msg)
}

// isServiceName reports whether port reads as a service name (RFC 6335,
// section 5.1: letters, digits and hyphens, with at least one letter), as
// net.Listen and net.Dial would look it up.
func isServiceName(port string) bool {
	letter := false
	for _, c := range port {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9', c == '-':
		default:
			return false
		}
	}
	return letter
}
