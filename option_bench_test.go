package grpcauth

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/runtime/protoimpl"
	"google.golang.org/protobuf/types/descriptorpb"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// manyFiles is a registry like that of a large binary: descriptor.proto,
// auth.proto and n generated files (built as generated code builds them,
// their options decoded on first use), each with a service of five
// methods, one of them carrying a (grpcauth.v1.method) option.
func manyFiles(b testing.TB, n int) *protoregistry.Files {
	b.Helper()
	files := optionFiles(b)
	opts := &descriptorpb.MethodOptions{}
	proto.SetExtension(opts, grpcauthv1.E_Method, &grpcauthv1.Rule{Scopes: []string{"read"}})
	for i := range n {
		pkg := fmt.Sprintf("many%d.v1", i)
		fdp := &descriptorpb.FileDescriptorProto{
			Name: proto.String(pkg + "/x.proto"), Package: proto.String(pkg), Syntax: proto.String("proto3"),
			Dependency:  []string{authProto},
			MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Msg")}},
			Service: []*descriptorpb.ServiceDescriptorProto{{Name: proto.String("Svc"), Method: []*descriptorpb.MethodDescriptorProto{
				rpc(pkg, "A", opts), rpc(pkg, "B", nil), rpc(pkg, "C", nil), rpc(pkg, "D", nil), rpc(pkg, "E", nil),
			}}},
		}
		raw, err := proto.Marshal(fdp)
		if err != nil {
			b.Fatal(err)
		}
		protoimpl.DescBuilder{RawDescriptor: raw, NumMessages: 1, NumServices: 1,
			TypeResolver: protoregistry.GlobalTypes, FileRegistry: files}.Build()
	}
	return files
}

// BenchmarkNew_ManyFiles measures New with Config.Descriptors holding
// 2,000 generated files: "first" on a registry whose options no one has
// read (New decodes them all), "again" on one whose options New has read
// before (as when tests call New many times in one process).
//
//	go test -run '^$' -bench BenchmarkNew_ManyFiles -benchmem .
func BenchmarkNew_ManyFiles(b *testing.B) {
	const n = 2000
	cfg := func(files *protoregistry.Files) Config {
		return Config{Descriptors: files, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(b, "ok")}}
	}
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			files := manyFiles(b, n)
			b.StartTimer()
			mustNew(b, cfg(files))
		}
	})
	b.Run("again", func(b *testing.B) {
		files := manyFiles(b, n)
		mustNew(b, cfg(files))
		b.ReportAllocs()
		for b.Loop() {
			mustNew(b, cfg(files))
		}
	})
}

// New reads every option in Config.Descriptors, and tests call it many
// times in one process: after the first, when protobuf-go has decoded the
// options, a New must cost no allocation per file (it cost six, one per
// service and method, for the key of the record of options that do not
// decode).
func TestNew_AgainAllocatesNothingPerFile(t *testing.T) {
	small, large := manyFiles(t, 100), manyFiles(t, 300)
	allocs := func(files *protoregistry.Files) float64 {
		cfg := Config{Descriptors: files, DefaultRule: &grpcauthv1.Rule{}, Verifier: staticVerifier{claims: mustClaims(t, "ok")}}
		mustNew(t, cfg)
		return testing.AllocsPerRun(3, func() {
			if _, err := New(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
	if s, l := allocs(small), allocs(large); l-s >= 200 {
		t.Errorf("New allocates %v times with 100 files, %v with 300: want less than one more per file", s, l)
	}
}
