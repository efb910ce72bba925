package grpcauth

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
	"github.com/grpcauth/grpcauth/verifier"
)

// scopesOfJSONLen returns sorted scopes whose required_scopes value, as
// one all-of set, is exactly n bytes long.
func scopesOfJSONLen(t *testing.T, n int) []string {
	t.Helper()
	var scopes []string
	left := n - 3 // [[ ]]; then each scope adds its length, two quotes and a comma
	for left >= 2*100 {
		scopes = append(scopes, fmt.Sprintf("s%03d%s", len(scopes), strings.Repeat("x", 93)))
		left -= 100
	}
	scopes = append(scopes, fmt.Sprintf("s%03d%s", len(scopes), strings.Repeat("x", left-7)))
	if got := len(alternativesJSON([][]string{scopes})); got != n || !slices.IsSorted(scopes) {
		t.Fatalf("scopesOfJSONLen(%d): %d bytes", n, got)
	}
	return scopes
}

// acrOfLen returns acr values whose MetadataACRValues value is exactly n
// bytes long.
func acrOfLen(t *testing.T, n int) []string {
	t.Helper()
	var acr []string
	left := n
	for left > 2*100 {
		acr = append(acr, fmt.Sprintf("a%03d%s", len(acr), strings.Repeat("x", 95)))
		left -= 100 // and a space
	}
	acr = append(acr, fmt.Sprintf("a%03d%s", len(acr), strings.Repeat("x", left-4)))
	if got := len(strings.Join(acr, " ")); got != n {
		t.Fatalf("acrOfLen(%d): %d bytes", n, got)
	}
	return acr
}

// A rule whose scopes or acr_values would make its refusal carry more
// than 2048 bytes of requirement is invalid at start-up (New), rather than
// sending refusals that outgrow the 8 KiB of metadata grpc-java accepts;
// one at the bound is valid. An any_of rule counts its alternatives as
// required_scopes lists them, the scopes repeated in each.
func TestRule_RequirementTooLongForARefusalIsInvalid(t *testing.T) {
	atBound := scopesOfJSONLen(t, maxRequirementLen)
	over := scopesOfJSONLen(t, maxRequirementLen+1)
	for _, tt := range []struct {
		name  string
		rule  *grpcauthv1.Rule
		valid bool
	}{
		{"scopes at the bound", &grpcauthv1.Rule{Scopes: atBound}, true},
		{"scopes over the bound", &grpcauthv1.Rule{Scopes: over}, false},
		{"any_of repeating the scopes over the bound", &grpcauthv1.Rule{Scopes: atBound[:len(atBound)/2+1], AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"a"}}, {Scopes: []string{"b"}}}}, false},
		{"acr_values at the bound", &grpcauthv1.Rule{AcrValues: acrOfLen(t, maxRequirementLen)}, true},
		{"acr_values over the bound", &grpcauthv1.Rule{AcrValues: acrOfLen(t, maxRequirementLen+1)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Verifier: staticVerifier{}, Rules: map[string]*grpcauthv1.Rule{mAllOf: tt.rule}})
			if tt.valid && err != nil || !tt.valid && (!errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "2048")) {
				t.Errorf("New = %v, want valid: %v (else ErrInvalidRule naming the bound)", err, tt.valid)
			}
		})
	}
}

// The refusals of a rule at the bound reach a client that accepts 8 KiB of
// metadata, as grpc-java does by default: the scope refusal with its
// required_scopes and scope challenge, and the step-up refusal with its
// acr_values and max_age, each in both its details and its challenge, not
// a reset stream.
func TestRule_RefusalAtTheBoundReachesAnEightKiBClient(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *verifier.Config) {
		c.Rules = map[string]*grpcauthv1.Rule{
			mAllOf:     {Scopes: scopesOfJSONLen(t, maxRequirementLen)},
			mInherited: {AcrValues: acrOfLen(t, maxRequirementLen), MaxAgeSeconds: maxAgeSeconds}, // and the longest max_age
		}
	})
	conn, err := grpc.NewClient("passthrough:///"+e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithMaxHeaderListSize(8<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := authtestv1.NewTestServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", bearer(e.scoped(t, "other")))
	_, err = client.AllOf(ctx, &authtestv1.AllOfRequest{})
	checkStatus(t, err, codes.PermissionDenied, ReasonScopeInsufficient)
	_, err = client.Inherited(ctx, &authtestv1.InheritedRequest{})
	checkStatus(t, err, codes.Unauthenticated, ReasonInsufficientUserAuthentication)
}

// The length the size bound checks is the length of the required_scopes
// value the refusal carries, for rules with and without any_of, with
// scopes shared between the rule's scopes and its sets, and with none.
func TestRule_RequirementLengthIsThatOfRequiredScopes(t *testing.T) {
	for _, pb := range []*grpcauthv1.Rule{
		{},
		{Scopes: []string{"a"}},
		{Scopes: []string{"b", "a", "b", "items:write"}},
		{AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"x"}}}},
		{AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"x", "y"}}, {Scopes: []string{"z"}}}},
		{Scopes: []string{"m", "c"}, AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"c", "a"}}, {Scopes: []string{"z", "m"}}, {Scopes: []string{"m"}}, {Scopes: []string{"d", "b", "n"}}}},
	} {
		r, err := compileRule(pb)
		if err != nil {
			t.Fatalf("%v: %v", pb, err)
		}
		want := alternativesJSON(r.alternatives())
		if got := r.alternativesJSONLen(1 << 20); got != len(want) {
			t.Errorf("%v: length %d, want %d (%s)", pb, got, len(want), want)
		}
	}
}

// A rule whose any_of sets each repeat thousands of scopes is found too
// long without building every set its refusal would list: a rule of a few
// tens of kilobytes takes little memory to refuse, not hundreds of
// megabytes (which a rules file a few times larger would turn into more
// memory than the server has).
func TestRule_ManyScopesTimesManySetsIsRefusedInLittleMemory(t *testing.T) {
	pb := &grpcauthv1.Rule{}
	for i := range 2000 {
		pb.Scopes = append(pb.Scopes, fmt.Sprintf("s%05d", i))
		pb.AnyOf = append(pb.AnyOf, &grpcauthv1.ScopeSet{Scopes: []string{fmt.Sprintf("t%05d", i)}})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := compileRule(pb)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("compileRule = %v, want ErrInvalidRule", err)
	}
	if used := after.TotalAlloc - before.TotalAlloc; used > 16<<20 {
		t.Errorf("compileRule allocated %d MiB to refuse a rule of %d scopes and %d sets", used>>20, len(pb.Scopes), len(pb.AnyOf))
	}
}

// A method option's rule is bounded as it is merged from its occurrences
// (repeated occurrences of the option merge, as in a parser): two halves
// each within the bound make a rule over it, which is invalid, so the
// method is denied and Requirement says why.
func TestRule_OptionOverTheBoundOnceMergedDeniesTheMethod(t *testing.T) {
	scopes := scopesOfJSONLen(t, maxRequirementLen+1)
	half := len(scopes) / 2
	split := ruleField(t, &grpcauthv1.Rule{Scopes: scopes[:half]})
	split = append(split, ruleField(t, &grpcauthv1.Rule{Scopes: scopes[half:]})...)
	a := mustNew(t, Config{Descriptors: userFiles(t, withUnknown(split), []string{authProto}), Verifier: staticVerifier{claims: mustClaims(t, scopes...)}})
	if got, err := a.Requirement(mUser); !errors.Is(err, ErrInvalidRule) || !got.Denied || got.Source != SourceMethodOption {
		t.Fatalf("Requirement: Denied %v, Source %s, %v; want the method option's rule denied as invalid", got.Denied, got.Source, err)
	}
	_, err := callUnary(a, bearerCtx("tok"), mUser)
	checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
}

// A service option is read and compiled once for all the service's
// methods, not once per method: a loaded descriptor set of a few hundred
// kilobytes, a service of many methods whose option repeats one scope
// thousands of times (a valid rule once its scopes are made unique), is
// checked in little memory, rather than in gigabytes and minutes as its
// methods multiply its option. Every method still gets the rule.
func TestRule_ServiceOptionIsCompiledOnceForAllItsMethods(t *testing.T) {
	const pkg, methods = "manymethods.v1", 500
	rule := &grpcauthv1.Rule{Scopes: slices.Repeat([]string{"items:read"}, 20000)}
	files, info := serviceWithOption(t, pkg, rule, methods)
	a := mustNew(t, Config{Descriptors: files})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := a.Check(fakeServer{pkg + ".Many": info})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Check = %v, want nil", err)
	}
	if used := after.TotalAlloc - before.TotalAlloc; used > 16<<20 {
		t.Errorf("Check allocated %d MiB for %d methods sharing one service option of %d scopes", used>>20, methods, len(rule.Scopes))
	}
	for _, m := range []string{"/" + pkg + ".Many/M0", fmt.Sprintf("/%s.Many/M%d", pkg, methods-1)} {
		if req, err := a.Requirement(m); err != nil || req.Source != SourceServiceOption || !slices.Equal(req.Scopes, []string{"items:read"}) {
			t.Errorf("Requirement(%s) = %+v, %v; want the service option's scope", m, req, err)
		}
	}
}

// serviceWithOption builds the files of the service pkg.Many, whose
// (grpcauth.v1.service) option is rule and whose methods, M0 to M<n-1>,
// have none, and the service's info as a server registering it lists it.
func serviceWithOption(t *testing.T, pkg string, rule *grpcauthv1.Rule, n int) (*protoregistry.Files, grpc.ServiceInfo) {
	t.Helper()
	opts := &descriptorpb.ServiceOptions{}
	proto.SetExtension(opts, grpcauthv1.E_Service, rule)
	svc := &descriptorpb.ServiceDescriptorProto{Name: proto.String("Many"), Options: opts}
	var info grpc.ServiceInfo
	for i := range n {
		name := fmt.Sprintf("M%d", i)
		svc.Method = append(svc.Method, rpc(pkg, name, nil))
		info.Methods = append(info.Methods, grpc.MethodInfo{Name: name})
	}
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(descriptorpb.File_google_protobuf_descriptor_proto),
		protodesc.ToFileDescriptorProto(grpcauthv1.File_grpcauth_v1_auth_proto),
		{
			Name: proto.String(pkg + "/many.proto"), Package: proto.String(pkg), Syntax: proto.String("proto3"),
			Dependency:  []string{authProto},
			MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Msg")}},
			Service:     []*descriptorpb.ServiceDescriptorProto{svc},
		},
	}}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatal(err)
	}
	return files, info
}

// valueService is a service descriptor that a resolver hands out by value,
// as a struct with a field Go cannot compare (a slice): two such values
// cannot be compared with ==, which panics. A made-up one (made true)
// belongs to no file.
type valueService struct {
	protoreflect.ServiceDescriptor
	notes  []string
	madeUp bool
}

func (v valueService) ParentFile() protoreflect.FileDescriptor {
	if v.madeUp {
		return nil
	}
	return v.ServiceDescriptor.ParentFile()
}

// valueServices is a DescriptorResolver that wraps every service it
// resolves in a valueService, made up when madeUp is set.
type valueServices struct {
	files  *protoregistry.Files
	madeUp bool
}

func (r valueServices) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := r.files.FindDescriptorByName(name)
	if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
		return valueService{ServiceDescriptor: sd, madeUp: r.madeUp}, err
	}
	return d, err
}

// A custom resolver may describe a service with a value of a type Go
// cannot compare: the service option, kept for the service's methods,
// still applies to each of them, on its first call as in Check, rather
// than the second method's first call panicking out of the interceptor
// (which grpc-go does not recover: the server would crash). So it does
// when the descriptor is made up, of no file: methods, which keys the
// files it builds by the service itself then, panicked on the first call.
func TestRule_ServiceOptionOfAnUncomparableDescriptorAppliesToEveryMethod(t *testing.T) {
	const pkg = "valueservice.v1"
	files, info := serviceWithOption(t, pkg, &grpcauthv1.Rule{Scopes: []string{"items:read"}}, 3)
	for _, tc := range []struct{ check, madeUp bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		where := fmt.Sprintf("Check first: %v, made up: %v", tc.check, tc.madeUp)
		a := mustNew(t, Config{Descriptors: valueServices{files, tc.madeUp}, Verifier: staticVerifier{claims: mustClaims(t, "items:read")}})
		if tc.check {
			if err := checkWithoutPanic(t, a, fakeServer{pkg + ".Many": info}); err != nil {
				t.Fatalf("Check = %v, want nil", err)
			}
		}
		for _, m := range info.Methods {
			method := "/" + pkg + ".Many/" + m.Name
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("%s (%s): the interceptor panicked: %v", method, where, v)
					}
				}()
				if _, err := callUnary(a, bearerCtx("tok"), method); err != nil {
					t.Errorf("%s (%s): %v, want the service option's scope to admit the call", method, where, err)
				}
				if req, err := a.Requirement(method); err != nil || req.Source != SourceServiceOption {
					t.Errorf("%s (%s): Requirement = %+v, %v; want the service option", method, where, req, err)
				}
			}()
		}
	}
}
