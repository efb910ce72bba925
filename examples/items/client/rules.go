package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
)

// maxMethods bounds how many of GetServerInfo's methods printRules lists
// (ItemService has 8): a server could list a million.
const maxMethods = 32

// printRules prints, after the calls, the rule GetServerInfo listed for
// each method: one line each, what a call needs (needs), for the first
// maxMethods methods, then how many more it listed. The server's text is
// printed as printable makes it, a method's name cut to maxField bytes.
// Nothing is printed when it listed no method (the call failed).
func printRules(out io.Writer, methods []*itemsv1.MethodInfo) error {
	if len(methods) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nMETHOD\tNEEDS (as GetServerInfo lists it)\n")
	for _, m := range methods[:min(len(methods), maxMethods)] {
		name := m.GetName()
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		fmt.Fprintf(tw, "%s\t%s\n", printable(clip(name, maxField)), printable(needs(m)))
	}
	if n := len(methods) - maxMethods; n > 0 {
		fmt.Fprintf(tw, "(%d more methods not shown)\n", n)
	}
	return tw.Flush()
}

// needs says what a method's rule asks of a caller, its parts separated
// by "; ": the scopes ("a + b"), the any-of sets ("one of a or b + c"), a
// condition, step-up (acr values, greatest age of the sign-in), a DPoP- or
// certificate-bound token, and last whether the method is in dry run. Dry
// run lets through any valid token and only logs what the rule would
// refuse; it never relaxes authentication, so a call without a valid
// token is still refused. A public method, which needs none, is
// unchanged by it: needs says both that it is public and that it is in
// dry run, which relaxes nothing there (a server configured so is still
// shown as it is). A MethodInfo with fields
// this client's items.proto does not have (a newer server's, which may
// ask for more) ends with a note saying so. The web page (web/app.js,
// needs), which the server serves and so shares its items.proto, says
// the rest in the same words.
func needs(m *itemsv1.MethodInfo) string {
	var parts []string
	switch {
	case m.GetDenied():
		parts = append(parts, "denied: the server has no usable rule")
	case m.GetPublic():
		parts = append(parts, "nothing: public")
	default:
		if len(m.GetScopes()) > 0 {
			parts = append(parts, strings.Join(m.GetScopes(), " + "))
		}
		if len(m.GetAnyOf()) > 0 {
			sets := make([]string, len(m.GetAnyOf()))
			for i, s := range m.GetAnyOf() {
				sets[i] = strings.Join(s.GetScopes(), " + ")
			}
			parts = append(parts, "one of "+strings.Join(sets, " or "))
		}
		if len(parts) == 0 {
			parts = append(parts, "any valid token")
		}
		if m.GetConditional() {
			parts = append(parts, "a condition on the request")
		}
		if acr := m.GetAcrValues(); len(acr) > 0 {
			parts = append(parts, "step-up: acr "+strings.Join(acr, " or "))
		}
		if s := m.GetMaxAgeSeconds(); s != 0 {
			parts = append(parts, fmt.Sprintf("signed in at most %d s ago", s))
		}
		if m.GetRequireDpop() {
			parts = append(parts, "a DPoP-bound token")
		}
		if m.GetRequireCertificateBinding() {
			parts = append(parts, "a certificate-bound token")
		}
	}
	switch {
	case m.GetDryRun() && m.GetPublic() && !m.GetDenied():
		parts = append(parts, "dry run: nothing to relax on a public method")
	case m.GetDryRun():
		parts = append(parts, "dry run: any valid token passes, refusals only logged")
	}
	if len(m.ProtoReflect().GetUnknown()) > 0 {
		parts = append(parts, "more this client cannot read (the server is newer)")
	}
	return strings.Join(parts, "; ")
}
