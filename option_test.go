package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/runtime/protoimpl"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	authtestv1 "github.com/grpcauth/grpcauth/internal/testproto/authtest/v1"
	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

const mUser = "/user.v1.UserService/Call"

// userFiles is a registry holding descriptor.proto, auth.proto, the files
// extra, and "user/v1/user.proto" with the service user.v1.UserService,
// whose one method Call has the options opts. The user file imports deps;
// the descriptors are built by protodesc, as a server loading a
// FileDescriptorSet would build them.
func userFiles(t testing.TB, opts *descriptorpb.MethodOptions, deps []string, extra ...*descriptorpb.FileDescriptorProto) *protoregistry.Files {
	t.Helper()
	user := &descriptorpb.FileDescriptorProto{
		Name:        proto.String("user/v1/user.proto"),
		Package:     proto.String("user.v1"),
		Syntax:      proto.String("proto3"),
		Dependency:  deps,
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Msg")}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("UserService"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name: proto.String("Call"), InputType: proto.String(".user.v1.Msg"), OutputType: proto.String(".user.v1.Msg"), Options: opts,
			}},
		}},
	}
	return optionFiles(t, append(extra, user)...)
}

// optionFiles is a registry holding descriptor.proto, auth.proto and the
// files fdps, built in order by protodesc, as a server loading a
// FileDescriptorSet would build them.
func optionFiles(t testing.TB, fdps ...*descriptorpb.FileDescriptorProto) *protoregistry.Files {
	t.Helper()
	files := new(protoregistry.Files)
	for _, fd := range []protoreflect.FileDescriptor{descriptorpb.File_google_protobuf_descriptor_proto, grpcauthv1.File_grpcauth_v1_auth_proto} {
		if err := files.RegisterFile(fd); err != nil {
			t.Fatal(err)
		}
	}
	for _, fdp := range fdps {
		fd, err := protodesc.NewFile(fdp, files)
		if err != nil {
			t.Fatal(err)
		}
		if err := files.RegisterFile(fd); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// withUnknown returns method options carrying b as unknown (unparsed)
// bytes, as options decoded without grpcauth's extension types do.
func withUnknown(b []byte) *descriptorpb.MethodOptions {
	opts := &descriptorpb.MethodOptions{}
	opts.ProtoReflect().SetUnknown(b)
	return opts
}

// ruleField is field 52841 holding the encoded rule r.
func ruleField(t testing.TB, r *grpcauthv1.Rule) []byte {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, 52841, protowire.BytesType), b)
}

// dynamicOptions returns method options holding r under the extension xd
// as a dynamicpb message, as options decoded with a resolver built from
// descriptors (dynamicpb.NewTypes) hold it.
func dynamicOptions(t testing.TB, xd protoreflect.ExtensionDescriptor, r *grpcauthv1.Rule) *descriptorpb.MethodOptions {
	t.Helper()
	typed := &descriptorpb.MethodOptions{}
	proto.SetExtension(typed, grpcauthv1.E_Method, r)
	b, err := proto.Marshal(typed)
	if err != nil {
		t.Fatal(err)
	}
	types := new(protoregistry.Types)
	if err := types.RegisterExtension(dynamicpb.NewExtensionType(xd)); err != nil {
		t.Fatal(err)
	}
	opts := &descriptorpb.MethodOptions{}
	if err := (proto.UnmarshalOptions{Resolver: types}).Unmarshal(b, opts); err != nil {
		t.Fatal(err)
	}
	if len(opts.ProtoReflect().GetUnknown()) != 0 {
		t.Fatal("the dynamic extension was not resolved")
	}
	return opts
}

// otherExtension declares other.v1.method, field 52841 of MethodOptions,
// of type grpcauth.v1.Rule: someone else's option on grpcauth's number.
func otherExtension() *descriptorpb.FileDescriptorProto {
	return &descriptorpb.FileDescriptorProto{
		Name:       proto.String("other/v1/other.proto"),
		Package:    proto.String("other.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/descriptor.proto", authProto},
		Extension: []*descriptorpb.FieldDescriptorProto{{
			Name:     proto.String("method"),
			Number:   proto.Int32(52841),
			Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			Type:     descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
			TypeName: proto.String(".grpcauth.v1.Rule"),
			Extendee: proto.String(".google.protobuf.MethodOptions"),
		}},
	}
}

func TestOption_UnresolvedOptionsAreReadNotMistakenForMissing(t *testing.T) {
	rule := &grpcauthv1.Rule{Scopes: []string{"user:write"}, AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"user:admin"}}}}
	split := ruleField(t, &grpcauthv1.Rule{Scopes: []string{"user:write"}})
	split = append(split, ruleField(t, &grpcauthv1.Rule{AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"user:admin"}}}})...)
	tests := []struct {
		name string
		opts func(t testing.TB) *descriptorpb.MethodOptions
	}{
		{"unknown bytes", func(t testing.TB) *descriptorpb.MethodOptions { return withUnknown(ruleField(t, rule)) }},
		{"unknown bytes in two occurrences merge", func(t testing.TB) *descriptorpb.MethodOptions { return withUnknown(split) }},
		{"dynamicpb message", func(t testing.TB) *descriptorpb.MethodOptions {
			return dynamicOptions(t, grpcauthv1.E_Method.TypeDescriptor().Descriptor(), rule)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := userFiles(t, tt.opts(t), []string{authProto})
			a := mustNew(t, Config{Descriptors: files, Verifier: staticVerifier{claims: mustClaims(t, "user:write")}})
			got, err := a.Requirement(mUser)
			if err != nil || got.Source != SourceMethodOption || !slices.Equal(got.Scopes, []string{"user:write"}) || len(got.AnyOf) != 1 {
				t.Fatalf("Requirement = %+v, %v; want the method option's rule", got, err)
			}
			// The rule is enforced: the token lacks user:admin.
			_, err = callUnary(a, bearerCtx("tok"), mUser)
			checkStatus(t, err, codes.PermissionDenied, ReasonScopeInsufficient)
		})
	}
}

func TestOption_UntrustworthyOptionDeniesMethod(t *testing.T) {
	newer := &grpcauthv1.Rule{Public: true}
	newer.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	typedNewer := &descriptorpb.MethodOptions{}
	proto.SetExtension(typedNewer, grpcauthv1.E_Method, newer)
	public := &grpcauthv1.Rule{Public: true}
	tests := []struct {
		name  string
		opts  func(t testing.TB) *descriptorpb.MethodOptions
		deps  []string
		extra []*descriptorpb.FileDescriptorProto
		want  string // in the error
	}{{
		name: "unknown bytes in a file that does not import auth.proto",
		opts: func(t testing.TB) *descriptorpb.MethodOptions { return withUnknown(ruleField(t, public)) },
		want: "does not import grpcauth/v1/auth.proto",
	}, {
		name: "unknown bytes that are not a message",
		opts: func(testing.TB) *descriptorpb.MethodOptions {
			return withUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 52841, protowire.VarintType), 1))
		},
		deps: []string{authProto},
		want: "not a message",
	}, {
		name: "unknown bytes that are not a rule",
		opts: func(testing.TB) *descriptorpb.MethodOptions {
			return withUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 52841, protowire.BytesType), []byte{0x0a, 0x05, 'x'}))
		},
		deps: []string{authProto},
		want: "does not decode as grpcauth.v1.Rule",
	}, {
		// The file set grpcauth's option, but the options were decoded with
		// a resolver that maps the number to another extension (as the Go
		// registry does when a conflict is ignored).
		name: "grpcauth's option resolved as another extension on its number",
		opts: func(t testing.TB) *descriptorpb.MethodOptions {
			fd, err := protodesc.NewFile(otherExtension(), protoregistry.GlobalFiles)
			if err != nil {
				t.Fatal(err)
			}
			return dynamicOptions(t, fd.Extensions().Get(0), public)
		},
		deps:  []string{authProto},
		extra: []*descriptorpb.FileDescriptorProto{otherExtension()},
		want:  `field 52841 of google.protobuf.MethodOptions is the extension other.v1.method declared in "other/v1/other.proto", not grpcauth.v1.method`,
	}, {
		// protoc only warns when a file sees two extensions with one number.
		name:  "unknown bytes in a file that sees auth.proto and another extension on its number",
		opts:  func(t testing.TB) *descriptorpb.MethodOptions { return withUnknown(ruleField(t, public)) },
		deps:  []string{authProto, "other/v1/other.proto"},
		extra: []*descriptorpb.FileDescriptorProto{otherExtension()},
		want:  "can use two extensions numbered 52841 on google.protobuf.MethodOptions, grpcauth.v1.method and other.v1.method",
	}, {
		name: "a typed rule in a file that sees another extension on its number",
		opts: func(testing.TB) *descriptorpb.MethodOptions {
			opts := &descriptorpb.MethodOptions{}
			proto.SetExtension(opts, grpcauthv1.E_Method, public)
			return opts
		},
		deps:  []string{"other/v1/other.proto"},
		extra: []*descriptorpb.FileDescriptorProto{otherExtension()},
		want:  "so the option's value cannot be attributed",
	}, {
		name: "a rule from a newer auth.proto",
		opts: func(testing.TB) *descriptorpb.MethodOptions { return typedNewer },
		deps: []string{authProto},
		want: "fields this version of grpcauth does not know",
	}, {
		name: "a dynamic rule from a newer auth.proto",
		opts: func(t testing.TB) *descriptorpb.MethodOptions {
			return dynamicOptions(t, grpcauthv1.E_Method.TypeDescriptor().Descriptor(), newer)
		},
		deps: []string{authProto},
		want: "fields this version of grpcauth does not know",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := userFiles(t, tt.opts(t), tt.deps, tt.extra...)
			// A service-wide default that would open the method must not
			// apply: an unreadable option denies, it never falls through.
			a := mustNew(t, Config{
				Descriptors: files,
				Rules:       map[string]*grpcauthv1.Rule{"user.v1.UserService": {Public: true}},
			})
			_, err := a.Requirement(mUser)
			if !errors.Is(err, ErrUnreadableOption) || !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Requirement error = %v; want ErrUnreadableOption saying %q", err, tt.want)
			}
			_, err = callUnary(a, bearerCtx("tok"), mUser)
			checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
			// Check reports it at start-up.
			err = a.Check(fakeServer{"user.v1.UserService": {Methods: []grpc.MethodInfo{{Name: "Call"}}}})
			var ce *CheckError
			if !errors.As(err, &ce) || !slices.Equal(ce.Methods(), []string{mUser}) || !errors.Is(err, ErrUnreadableOption) {
				t.Errorf("Check = %v; want %s reported with ErrUnreadableOption", err, mUser)
			}
		})
	}
}

func TestOption_VisibleFilesFollowPublicImportsOnly(t *testing.T) {
	files := new(protoregistry.Files)
	for _, fd := range []protoreflect.FileDescriptor{descriptorpb.File_google_protobuf_descriptor_proto, grpcauthv1.File_grpcauth_v1_auth_proto} {
		if err := files.RegisterFile(fd); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string, deps []string, public ...int32) protoreflect.FileDescriptor {
		fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
			Name: proto.String(name), Syntax: proto.String("proto3"), Dependency: deps, PublicDependency: public,
		}, files)
		if err != nil {
			t.Fatal(err)
		}
		if err := files.RegisterFile(fd); err != nil {
			t.Fatal(err)
		}
		return fd
	}
	reexport := file("a/reexport.proto", []string{authProto}, 0)
	private := file("a/private.proto", []string{authProto})
	tests := []struct {
		fd   protoreflect.FileDescriptor
		want bool
	}{
		{reexport, true},
		{private, true},
		{file("b/through_public.proto", []string{"a/reexport.proto"}), true},
		{file("b/through_private.proto", []string{"a/private.proto"}), false},
		{file("b/none.proto", nil), false},
	}
	for _, tt := range tests {
		got := slices.ContainsFunc(visibleFiles(tt.fd), func(f protoreflect.FileDescriptor) bool { return f.Path() == authProto })
		if got != tt.want {
			t.Errorf("%s sees %s: %v, want %v", tt.fd.Path(), authProto, got, tt.want)
		}
	}
}

// optionsMethod is a method descriptor whose options are opts.
type optionsMethod struct {
	protoreflect.MethodDescriptor
	opts *descriptorpb.MethodOptions
}

func (m optionsMethod) Options() protoreflect.ProtoMessage { return m.opts }

// FuzzRuleOption_UnknownBytes checks that reading a rule from arbitrary
// unparsed option bytes, in a file that imports auth.proto, never panics,
// fails only with ErrUnreadableOption, finds a rule only where field 52841
// is, and never returns a rule with fields it does not know; a rule that
// compiles has a required_scopes value within the bound, of the length
// the bound counted.
func FuzzRuleOption_UnknownBytes(f *testing.F) {
	rule := func(r *grpcauthv1.Rule) []byte { return ruleField(f, r) }
	for _, b := range [][]byte{
		nil,
		rule(&grpcauthv1.Rule{Scopes: []string{"a", "b"}}),
		rule(&grpcauthv1.Rule{Public: true}),
		append(rule(&grpcauthv1.Rule{Scopes: []string{"a"}}), rule(&grpcauthv1.Rule{AnyOf: []*grpcauthv1.ScopeSet{{Scopes: []string{"b"}}}})...),
		protowire.AppendVarint(protowire.AppendTag(nil, 52841, protowire.VarintType), 1),
		protowire.AppendBytes(protowire.AppendTag(nil, 52841, protowire.BytesType), []byte{0x0a, 0x05, 'x'}),
		protowire.AppendBytes(protowire.AppendTag(nil, 52842, protowire.BytesType), []byte{0x18, 0x01}),
		{0xff, 0xff, 0xff},
	} {
		f.Add(b)
	}
	files := userFiles(f, nil, []string{authProto})
	d, err := files.FindDescriptorByName("user.v1.UserService.Call")
	if err != nil {
		f.Fatal(err)
	}
	md := d.(protoreflect.MethodDescriptor)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ruleOption(t.Context(), optionsMethod{md, withUnknown(b)}, grpcauthv1.E_Method)
		if err != nil {
			if r != nil || !errors.Is(err, ErrUnreadableOption) {
				t.Fatalf("ruleOption = %v, %v; want nil and ErrUnreadableOption", r, err)
			}
			return
		}
		payloads, scanErr := unknownField(b, 52841)
		if scanErr != nil || (r != nil) != (payloads != nil) {
			t.Fatalf("ruleOption = %v for bytes whose field 52841 is %q (%v)", r, payloads, scanErr)
		}
		if r == nil {
			return
		}
		if err := onlyKnownFields(r, grpcauthv1.E_Method.TypeDescriptor()); err != nil {
			t.Fatalf("returned a rule with unknown fields: %v", err)
		}
		c, err := compileRule(r)
		if err != nil && !errors.Is(err, ErrInvalidRule) {
			t.Fatalf("compileRule = %v", err)
		}
		if err != nil {
			return
		}
		// The size bound counts what the refusal carries.
		if n := len(alternativesJSON(c.alternatives())); n != c.alternativesJSONLen(maxRequirementLen) || n > maxRequirementLen {
			t.Fatalf("required_scopes of %d bytes, counted as %d, bound %d", n, c.alternativesJSONLen(maxRequirementLen), maxRequirementLen)
		}
	})
}

// generatedFiles is a registry holding descriptor.proto, auth.proto and
// fdp built as generated code builds its file (protoimpl.DescBuilder, from
// the raw descriptor): its options are decoded on first use, not here.
func generatedFiles(t testing.TB, fdp *descriptorpb.FileDescriptorProto) *protoregistry.Files {
	t.Helper()
	files := optionFiles(t)
	raw, err := proto.Marshal(fdp)
	if err != nil {
		t.Fatal(err)
	}
	protoimpl.DescBuilder{RawDescriptor: raw, NumMessages: int32(len(fdp.GetMessageType())), NumServices: int32(len(fdp.GetService())),
		TypeResolver: protoregistry.GlobalTypes, FileRegistry: files}.Build()
	return files
}

// undecodableRule is option bytes holding a (grpcauth.v1.method) or
// (grpcauth.v1.service) Rule whose string field (scopes, 1, or
// acr_values, 7) is not UTF-8: grpcauth's rule, in a proto3 file, on which
// protobuf-go panics the first time the options are read.
func undecodableRule(field protowire.Number) []byte {
	rule := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("ok"))
	rule = protowire.AppendBytes(protowire.AppendTag(rule, field, protowire.BytesType), []byte{0xff})
	return protowire.AppendBytes(protowire.AppendTag(nil, 52841, protowire.BytesType), rule)
}

// undecodableFiles is generatedFiles of a proto3 file declaring the
// package pkg (path pkg/x.proto), importing auth.proto, with the message
// Msg and the services svcs.
func undecodableFiles(t testing.TB, pkg string, svcs ...*descriptorpb.ServiceDescriptorProto) *protoregistry.Files {
	t.Helper()
	return generatedFiles(t, &descriptorpb.FileDescriptorProto{
		Name: proto.String(pkg + "/x.proto"), Package: proto.String(pkg), Syntax: proto.String("proto3"),
		Dependency:  []string{authProto},
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Msg")}},
		Service:     svcs,
	})
}

// rpc is the unary method name of package pkg, taking and returning Msg.
func rpc(pkg, name string, opts *descriptorpb.MethodOptions) *descriptorpb.MethodDescriptorProto {
	return &descriptorpb.MethodDescriptorProto{Name: proto.String(name), InputType: proto.String("." + pkg + ".Msg"), OutputType: proto.String("." + pkg + ".Msg"), Options: opts}
}

// A generated descriptor whose options do not decode (a proto3 string
// option that is not UTF-8, which protoc 3.21 compiles with a logged error
// only) panics when its options are first read, and reads as the options
// decoded before the failure afterwards: a stricter method or service
// option must not then read as absent and give way to a wider rule. Here
// the service undecodable.v1.Broken declares a rule that does not decode,
// for Get and List; Open's service option is public and its method Get
// declares its own rule that does not decode. DefaultRule admits any
// token.
func TestOption_OptionsThatDoNotDecodeDenyTheMethod(t *testing.T) {
	brokenSvc := &descriptorpb.ServiceOptions{}
	brokenSvc.ProtoReflect().SetUnknown(undecodableRule(7)) // acr_values
	brokenMethod := &descriptorpb.MethodOptions{}
	brokenMethod.ProtoReflect().SetUnknown(undecodableRule(1)) // scopes
	publicSvc := &descriptorpb.ServiceOptions{}
	proto.SetExtension(publicSvc, grpcauthv1.E_Service, &grpcauthv1.Rule{Public: true})
	const pkg = "undecodable.v1"
	files := undecodableFiles(t, pkg,
		&descriptorpb.ServiceDescriptorProto{Name: proto.String("Broken"), Options: brokenSvc, Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", nil), rpc(pkg, "List", nil)}},
		&descriptorpb.ServiceDescriptorProto{Name: proto.String("Open"), Options: publicSvc, Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", brokenMethod), rpc(pkg, "Version", nil)}},
	)
	a := mustNew(t, Config{Descriptors: files, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")}})
	srv := fakeServer{
		"undecodable.v1.Broken": {Methods: []grpc.MethodInfo{{Name: "Get"}, {Name: "List"}}},
		"undecodable.v1.Open":   {Methods: []grpc.MethodInfo{{Name: "Get"}, {Name: "Version"}}},
	}
	err := checkWithoutPanic(t, a, srv)
	var ce *CheckError
	want := []string{"/undecodable.v1.Broken/Get", "/undecodable.v1.Broken/List", "/undecodable.v1.Open/Get"}
	if !errors.As(err, &ce) || !slices.Equal(ce.Methods(), want) || !errors.Is(err, ErrUnreadableOption) || !strings.Contains(err.Error(), "do not decode") {
		t.Fatalf("Check = %v; want %v reported with ErrUnreadableOption", err, want)
	}
	for _, tt := range []struct {
		method string
		ctx    context.Context
		code   codes.Code
		reason string
	}{
		{"/undecodable.v1.Broken/Get", bearerCtx("tok"), codes.PermissionDenied, ReasonMethodNotConfigured},
		{"/undecodable.v1.Broken/List", bearerCtx("tok"), codes.PermissionDenied, ReasonMethodNotConfigured},
		{"/undecodable.v1.Open/Get", bearerCtx("tok"), codes.PermissionDenied, ReasonMethodNotConfigured},
		{"/undecodable.v1.Open/Get", loopbackPeer(context.Background()), codes.Unauthenticated, ReasonCredentialsMissing},
		{"/undecodable.v1.Open/Version", loopbackPeer(context.Background()), codes.OK, ""},
	} {
		_, err := callUnary(a, tt.ctx, tt.method)
		checkStatus(t, err, tt.code, tt.reason)
	}
	// Another Authenticator reads the same descriptors after the panics:
	// their options read as what decoded before the failure, but the
	// failure is remembered.
	b := mustNew(t, Config{Descriptors: files, DefaultRule: &grpcauthv1.Rule{}})
	for _, m := range want {
		if _, err := b.Requirement(m); !errors.Is(err, ErrUnreadableOption) {
			t.Errorf("second Authenticator: Requirement(%s) = %v, want ErrUnreadableOption", m, err)
		}
	}
}

// protobuf-go panics only on the first read of options that do not
// decode; whoever reads them first (server reflection under a recovery
// interceptor, a validation library) takes the panic, and every later
// read sees what decoded before the failure. A method whose own stricter
// option does not decode must still be denied when another reader got
// there after New but before the method's first call.
func TestOption_OptionsThatDoNotDecodeDenyAfterAnotherReaderTookThePanic(t *testing.T) {
	broken := &descriptorpb.MethodOptions{}
	broken.ProtoReflect().SetUnknown(undecodableRule(1)) // scopes
	publicSvc := &descriptorpb.ServiceOptions{}
	proto.SetExtension(publicSvc, grpcauthv1.E_Service, &grpcauthv1.Rule{Public: true})
	// A package of its own on each run: the failure is remembered by file
	// path and name, and a later run (-count) must not pass on that alone.
	pkg := fmt.Sprintf("firstreader%d.v1", firstReaderRuns.Add(1))
	files := undecodableFiles(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Open"), Options: publicSvc, Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", broken)}})
	a := mustNew(t, Config{Descriptors: files, Verifier: staticVerifier{claims: mustClaims(t, "ok")}})
	readOptionsElsewhere(t, files, pkg+".Open.Get")
	method := "/" + pkg + ".Open/Get"
	_, err := callUnary(a, loopbackPeer(context.Background()), method)
	checkStatus(t, err, codes.Unauthenticated, ReasonCredentialsMissing)
	if _, err := a.Requirement(method); !errors.Is(err, ErrUnreadableOption) {
		t.Errorf("Requirement = %v, want ErrUnreadableOption", err)
	}
}

// firstReaderRuns numbers the runs of
// TestOption_OptionsThatDoNotDecodeDenyAfterAnotherReaderTookThePanic and
// TestOption_ServiceOptionThatDoesNotDecodeDeniesAfterAnotherReaderTookThePanic,
// giving each a package of its own.
var firstReaderRuns atomic.Int32

// Method and service options decode separately. A service option that does
// not decode denies the methods that would take it, and only those: a
// method with a readable option of its own keeps it (it would replace the
// service option anyway), and so does a method a Config entry names.
func TestOption_ServiceOptionThatDoesNotDecodeDeniesOnlyTheMethodsItWouldRule(t *testing.T) {
	brokenSvc := &descriptorpb.ServiceOptions{}
	brokenSvc.ProtoReflect().SetUnknown(undecodableRule(1)) // scopes
	own := &descriptorpb.MethodOptions{}
	proto.SetExtension(own, grpcauthv1.E_Method, &grpcauthv1.Rule{Scopes: []string{"ok"}})
	const pkg = "brokensvc.v1"
	files := undecodableFiles(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"), Options: brokenSvc, Method: []*descriptorpb.MethodDescriptorProto{
		rpc(pkg, "Own", own), rpc(pkg, "Inherits", nil), rpc(pkg, "Named", nil),
	}})
	a := mustNew(t, Config{Descriptors: files, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")},
		Rules: map[string]*grpcauthv1.Rule{"/brokensvc.v1.Svc/Named": {Scopes: []string{"ok"}}}})
	for method, want := range map[string]Source{"/brokensvc.v1.Svc/Own": SourceMethodOption, "/brokensvc.v1.Svc/Named": SourceConfigMethod} {
		if req, err := a.Requirement(method); err != nil || req.Source != want {
			t.Errorf("Requirement(%s) = %+v, %v; want the rule from %v", method, req, err, want)
		}
		_, err := callUnary(a, bearerCtx("tok"), method)
		checkStatus(t, err, codes.OK, "")
	}
	if _, err := a.Requirement("/brokensvc.v1.Svc/Inherits"); !errors.Is(err, ErrUnreadableOption) {
		t.Errorf("Requirement(Inherits) = %v, want ErrUnreadableOption", err)
	}
	_, err := callUnary(a, bearerCtx("tok"), "/brokensvc.v1.Svc/Inherits")
	checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
}

// protobuf-go builds the rest of a generated file on its first use and,
// when that panics (a default value that does not parse, as when the
// generated code of an imported file lost the enum value named), leaves
// the file locked, so that every later use blocks. New, reading the
// options of every file in Config.Descriptors, must fail naming the file
// rather than block on it, or record the panic as an option that does not
// decode and go on.
func TestNew_FileProtobufCannotBuildIsAnError(t *testing.T) {
	const pkg = "unbuildable.v1"
	files := unbuildableFile(t, pkg)
	_, err := New(Config{Descriptors: files, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")}})
	if err == nil || !strings.Contains(err.Error(), `"unbuildable.v1/x.proto"`) || errors.Is(err, ErrUnreadableOption) {
		t.Fatalf("New = %v, want an error naming unbuildable.v1/x.proto", err)
	}
}

// New reads service options first too, not only method options: a service
// whose own option does not decode denies the methods that would take it
// even when another reader took protobuf-go's panic after New, rather
// than letting them fall through to DefaultRule.
func TestOption_ServiceOptionThatDoesNotDecodeDeniesAfterAnotherReaderTookThePanic(t *testing.T) {
	brokenSvc := &descriptorpb.ServiceOptions{}
	brokenSvc.ProtoReflect().SetUnknown(undecodableRule(1)) // scopes
	pkg := fmt.Sprintf("firstreader%d.v1", firstReaderRuns.Add(1))
	files := undecodableFiles(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"), Options: brokenSvc, Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", nil)}})
	a := mustNew(t, Config{Descriptors: files, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")}})
	readOptionsElsewhere(t, files, pkg+".Svc")
	method := "/" + pkg + ".Svc/Get"
	_, err := callUnary(a, bearerCtx("tok"), method)
	checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
	if _, err := a.Requirement(method); !errors.Is(err, ErrUnreadableOption) {
		t.Errorf("Requirement = %v, want ErrUnreadableOption", err)
	}
}

// readOptionsElsewhere reads the options of the descriptor name in files
// as other code would (server reflection under a recovery interceptor):
// it takes protobuf-go's panic, if still to come, and recovers.
func readOptionsElsewhere(t testing.TB, files *protoregistry.Files, name string) {
	t.Helper()
	d, err := files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = recover() }()
	d.Options()
}

// findOnly is a DescriptorResolver without RangeFiles, so New does not
// walk its files.
type findOnly struct{ files *protoregistry.Files }

func (r findOnly) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	return r.files.FindDescriptorByName(name)
}

// With a resolver New does not walk, a file protobuf-go cannot build is
// first built on a method's first call: that call and every later one is
// denied with an error naming the file, instead of the first panicking
// out of the interceptor (leaving the file locked) and the next blocking
// on it for ever.
func TestCall_FileProtobufCannotBuildBehindACustomResolverIsDenied(t *testing.T) {
	const pkg = "unbuildablecall.v1"
	files := unbuildableFile(t, pkg)
	a := mustNew(t, Config{Descriptors: findOnly{files}, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")}})
	for _, method := range []string{"/" + pkg + ".Svc/Get", "/" + pkg + ".Svc/List", "/" + pkg + ".Svc/Get"} {
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("%s: the interceptor panicked: %v", method, v)
				}
			}()
			_, err := callUnary(a, bearerCtx("tok"), method)
			checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
			if _, err := a.Requirement(method); err == nil || !strings.Contains(err.Error(), `"`+pkg+`/x.proto"`) {
				t.Errorf("%s: Requirement = %v, want an error naming the file", method, err)
			}
		}()
	}
}

// Check builds the plan of every registered method, through a resolver New
// does not walk too: a file protobuf-go cannot build is an error naming
// the file for each of its methods, on every Check, and never a panic
// (nor a Check that blocks on the file the failed build left locked).
func TestCheck_FileProtobufCannotBuildBehindACustomResolverIsAnError(t *testing.T) {
	const pkg = "unbuildablecheck.v1"
	files := unbuildableFile(t, pkg)
	a := mustNew(t, Config{Descriptors: findOnly{files}, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")}})
	srv := fakeServer{pkg + ".Svc": {Methods: []grpc.MethodInfo{{Name: "Get"}, {Name: "List", IsServerStream: true}}}}
	for range 2 {
		var ce *CheckError
		if err := checkWithoutPanic(t, a, srv); !errors.As(err, &ce) || len(ce.Problems) != 2 {
			t.Fatalf("Check = %v, want a CheckError for both methods", err)
		}
		for _, p := range ce.Problems {
			if !strings.Contains(p.Err.Error(), `"`+pkg+`/x.proto"`) {
				t.Errorf("%s: %v, want an error naming the file", p.Method, p.Err)
			}
		}
	}
	_, err := callUnary(a, bearerCtx("tok"), "/"+pkg+".Svc/Get")
	checkStatus(t, err, codes.PermissionDenied, ReasonMethodNotConfigured)
}

// A Config name written "pkg.Service.Method" makes a resolver New does not
// walk build the service's file: a file protobuf-go cannot build makes New
// fail naming it, rather than panic and leave the file locked.
func TestNew_MethodNameInAFileProtobufCannotBuildIsAnError(t *testing.T) {
	const pkg = "unbuildablename.v1"
	files := unbuildableFile(t, pkg)
	for range 2 {
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("New panicked: %v", v)
				}
			}()
			_, err := New(Config{Descriptors: findOnly{files}, Public: []string{pkg + ".Svc.Get"}, Verifier: staticVerifier{claims: mustClaims(t, "ok")}})
			if err == nil || !strings.Contains(err.Error(), `"`+pkg+`/x.proto"`) {
				t.Fatalf("New = %v, want an error naming the file", err)
			}
		}()
	}
}

// pkgs numbers the packages uniquePkg names.
var pkgs atomic.Int32

// uniquePkg returns a package name, base followed by a number, that no
// other call in the process returns: builds keeps a failed build of a
// made-up service, or of a file Go cannot compare, by name for the
// process's lifetime, so a test that counts builds (run with -count=N)
// needs names of its own.
func uniquePkg(base string) string {
	return fmt.Sprintf("%s%d.v1", base, pkgs.Add(1))
}

// countedService is a service descriptor of a type Go cannot compare (it
// holds a slice), as a resolver may hand out by value, whose file is
// made up (none) or a value of such a type too. Its Methods counts the
// builds of its file in builds: the first is protobuf-go's; a second,
// which on a file protobuf-go failed to build would block for good (the
// failed build left it locked), panics instead, so that a test sees it
// rather than hangs.
type countedService struct {
	protoreflect.ServiceDescriptor
	builds *atomic.Int32
	madeUp bool
	notes  []string
}

// countedFile is a file descriptor of a type Go cannot compare.
type countedFile struct {
	protoreflect.FileDescriptor
	notes []string
}

func (s countedService) ParentFile() protoreflect.FileDescriptor {
	if s.madeUp {
		return nil
	}
	return countedFile{FileDescriptor: s.ServiceDescriptor.ParentFile()}
}

func (s countedService) Methods() protoreflect.MethodDescriptors {
	if s.builds.Add(1) > 1 {
		panic("the file was built again: a file protobuf-go failed to build would block here")
	}
	return s.ServiceDescriptor.Methods()
}

// countedServices resolves services as countedService values.
type countedServices struct {
	files  *protoregistry.Files
	builds *atomic.Int32
	madeUp bool
}

func (r countedServices) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := r.files.FindDescriptorByName(name)
	if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
		return countedService{ServiceDescriptor: sd, builds: r.builds, madeUp: r.madeUp}, err
	}
	return d, err
}

// A descriptor Go cannot compare, made up or of a file of such a type,
// whose file protobuf-go cannot build, is built once: its failure is kept
// (by the file's path, or the made-up service's name), and every later
// call of the service's methods is denied with it, rather than building
// the file again and blocking for good on the lock the failed build left
// held (a goroutine per call).
func TestCall_UncomparableDescriptorOfAFileProtobufCannotBuildIsBuiltOnce(t *testing.T) {
	for _, madeUp := range []bool{true, false} {
		pkg := uniquePkg(fmt.Sprintf("uncomparableunbuildable%v", madeUp))
		var builds atomic.Int32
		a := mustNew(t, Config{Descriptors: countedServices{unbuildableFile(t, pkg), &builds, madeUp}, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")}})
		for _, method := range []string{"/" + pkg + ".Svc/Get", "/" + pkg + ".Svc/List", "/" + pkg + ".Svc/Get"} {
			_, err := a.Requirement(method)
			if err == nil || !strings.Contains(err.Error(), "protobuf-go cannot build") || strings.Contains(err.Error(), "built again") {
				t.Errorf("%s (made up: %v): Requirement = %v, want the first build's error", method, madeUp, err)
			}
		}
		if n := builds.Load(); n != 1 {
			t.Errorf("made up: %v: the file was built %d times, want once", madeUp, n)
		}
	}
}

// freshService is a made-up service descriptor (no file) that its
// resolver makes afresh on each lookup, whose Methods panics (the
// resolver's bug).
type freshService struct {
	protoreflect.ServiceDescriptor
}

func (*freshService) ParentFile() protoreflect.FileDescriptor { return nil }

func (*freshService) Methods() protoreflect.MethodDescriptors { panic("the resolver's bug") }

// freshServices resolves every service as a new *freshService.
type freshServices struct{ files *protoregistry.Files }

func (r freshServices) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := r.files.FindDescriptorByName(name)
	if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
		return &freshService{sd}, err
	}
	return d, err
}

// The failed build of a made-up service descriptor is kept once per
// service, however many descriptors of it the resolver makes: kept by
// descriptor, each call of the service's methods with a new one added an
// entry for good, so that callers grew the memory without bound.
func TestCall_MadeUpDescriptorsMadeAfreshKeepOneFailedBuild(t *testing.T) {
	pkg := uniquePkg("freshmadeup")
	a := mustNew(t, Config{Descriptors: freshServices{unbuildableFile(t, pkg)}, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")}})
	for range 50 {
		if _, err := a.Requirement("/" + pkg + ".Svc/Get"); err == nil || !strings.Contains(err.Error(), "the resolver's bug") {
			t.Fatalf("Requirement = %v, want the build's error", err)
		}
	}
	builds.mu.Lock()
	kept := 0
	for k := range builds.errs {
		if _, ok := k.(*freshService); ok || k == (namedBuild{service: protoreflect.FullName(pkg + ".Svc")}) {
			kept++
		}
	}
	builds.mu.Unlock()
	if kept != 1 {
		t.Errorf("50 calls kept %d failed builds of %s.Svc, want 1", kept, pkg)
	}
}

// unbuildableFile registers pkg/x.proto, a file protobuf-go cannot build
// (the default value of pkg.Msg.n does not parse), declaring the service
// pkg.Svc with the methods Get and List.
func unbuildableFile(t testing.TB, pkg string) *protoregistry.Files {
	t.Helper()
	return generatedFiles(t, &descriptorpb.FileDescriptorProto{
		Name: proto.String(pkg + "/x.proto"), Package: proto.String(pkg), Syntax: proto.String("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Msg"), Field: []*descriptorpb.FieldDescriptorProto{{
			Name: proto.String("n"), Number: proto.Int32(1), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			Type: descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(), DefaultValue: proto.String("not a number"),
		}}}},
		Service: []*descriptorpb.ServiceDescriptorProto{{Name: proto.String("Svc"), Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", nil), rpc(pkg, "List", nil)}}},
	})
}

// stalledService is a service descriptor whose Methods does not return
// until release is closed, as a file's build that waits (a file protobuf-go
// left locked after a failed build elsewhere, a resolver's own descriptor
// that blocks); entered is closed when Methods is first called.
type stalledService struct {
	protoreflect.ServiceDescriptor
	once             sync.Once
	entered, release chan struct{}
}

func (s *stalledService) Methods() protoreflect.MethodDescriptors {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return s.ServiceDescriptor.Methods()
}

// A file whose build does not return holds up only the uses of that file:
// the first use of any other file (the first call of one of its methods,
// another Authenticator's New) does not wait for it.
func TestMethods_BuildThatDoesNotReturnHoldsUpOnlyItsFile(t *testing.T) {
	const pkg = "buildable.v1"
	stalled := &stalledService{
		ServiceDescriptor: authtestv1.File_authtest_v1_authtest_proto.Services().Get(0),
		entered:           make(chan struct{}), release: make(chan struct{}),
	}
	stall(t, "the stalled file", stalled.entered, stalled.release, func() error {
		_, err := methods(context.Background(), stalled)
		return err
	})

	d, err := undecodableFiles(t, pkg, &descriptorpb.ServiceDescriptorProto{Name: proto.String("Svc"), Method: []*descriptorpb.MethodDescriptorProto{rpc(pkg, "Get", nil)}}).
		FindDescriptorByName(pkg + ".Svc")
	if err != nil {
		t.Fatal(err)
	}
	otherDone := make(chan error, 1)
	go func() {
		ms, err := methods(context.Background(), d.(protoreflect.ServiceDescriptor))
		if err == nil && ms.ByName("Get") == nil {
			err = errors.New("no method Get")
		}
		otherDone <- err
	}()
	if err := await(t, otherDone, "the first use of another file waited for the stalled one"); err != nil {
		t.Fatal(err)
	}
}
