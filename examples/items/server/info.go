package main

import (
	"time"

	"github.com/grpcauth/grpcauth"
	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
)

// serverInfo builds the GetServerInfo answer: the issuer, the audience, and
// the rule auth enforces for each ItemService method, in .proto order:
// its scopes and any-of scope sets, whether it has a condition (not the
// expression, which is the server's policy), its step-up requirement and
// whether it needs DPoP or certificate-bound tokens, and whether it is in
// dry run (grpcauth.Requirement's DryRun: its refusals are only logged). A
// method without a usable rule, which auth denies to every caller (and
// Check logged), is listed as denied: with no scopes and public false it
// would read as open to any valid token. require_dpop is Requirement's
// RequireDPoP: the rule's require_dpop, or grpcauth.Config.RequireDPoP
// (which this server leaves off), which dry run does not relax.
func serverInfo(issuer, audience string, auth *grpcauth.Authenticator) *itemsv1.GetServerInfoResponse {
	svc := itemsv1.File_items_v1_items_proto.Services().ByName("ItemService")
	info := &itemsv1.GetServerInfoResponse{Issuer: issuer, Audience: audience}
	methods := svc.Methods()
	for i := range methods.Len() {
		name := "/" + string(svc.FullName()) + "/" + string(methods.Get(i).Name())
		req, err := auth.Requirement(name)
		if err != nil {
			info.Methods = append(info.Methods, &itemsv1.MethodInfo{Name: name, Denied: true, DryRun: req.DryRun})
			continue
		}
		info.Methods = append(info.Methods, &itemsv1.MethodInfo{
			Name:          name,
			Public:        req.Public,
			Scopes:        req.Scopes,
			Conditional:   req.Condition != "",
			AcrValues:     req.ACRValues,
			MaxAgeSeconds: int64(req.MaxAge / time.Second),
			AnyOf:         scopeSets(req.AnyOf),

			RequireDpop:               req.RequireDPoP,
			RequireCertificateBinding: req.RequireCertificateBinding,
			DryRun:                    req.DryRun,
		})
	}
	return info
}

// scopeSets converts a Requirement's any-of sets to their message form.
func scopeSets(sets [][]string) []*itemsv1.ScopeSet {
	var out []*itemsv1.ScopeSet
	for _, s := range sets {
		out = append(out, &itemsv1.ScopeSet{Scopes: s})
	}
	return out
}
