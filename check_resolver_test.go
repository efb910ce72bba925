package grpcauth

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	grpcauthv1 "github.com/grpcauth/grpcauth/proto/grpcauth/v1"
)

// downAfter is the resolver files, which fails (an error not wrapping
// protoregistry.NotFound) once it has answered n times: a registry whose
// backend goes down in the middle of Check.
type downAfter struct {
	files *protoregistry.Files
	n     atomic.Int32
}

func (r *downAfter) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if r.n.Add(-1) < 0 {
		return nil, errUnreachable
	}
	return r.files.FindDescriptorByName(name)
}

// dynStreamFile describes dyn.v1.Dyn, a service no generated code links
// into the binary (a proxy's, known from a registry only), whose Watch
// method is a server stream.
func dynStreamFile(t *testing.T) *protoregistry.Files {
	return oneMethodFiles(t, "dyn.v1", "Dyn", &descriptorpb.MethodDescriptorProto{
		Name: proto.String("Watch"), ServerStreaming: proto.Bool(true),
	})
}

// oneMethodFiles is a registry of one file, of package pkg, declaring a
// message Msg and the service svc of the one method m, which takes and
// returns Msg.
func oneMethodFiles(t testing.TB, pkg, svc string, m *descriptorpb.MethodDescriptorProto) *protoregistry.Files {
	t.Helper()
	msg := "." + pkg + ".Msg"
	m.InputType, m.OutputType = &msg, &msg
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:        proto.String(strings.ReplaceAll(pkg, ".", "/") + "/" + strings.ToLower(svc) + ".proto"),
		Package:     proto.String(pkg),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Msg")}},
		Service:     []*descriptorpb.ServiceDescriptorProto{{Name: proto.String(svc), Method: []*descriptorpb.MethodDescriptorProto{m}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(fd); err != nil {
		t.Fatal(err)
	}
	return files
}

// Check does not pass a server whose stream grpc-go runs without
// interceptors because Config.Descriptors, which alone describes it,
// failed after the method's rule was read: it cannot tell what the method
// is, and reports the resolver's failure.
func TestCheck_ResolverFailingAfterTheRuleIsReadIsReportedNotPassed(t *testing.T) {
	r := &downAfter{files: dynStreamFile(t)}
	r.n.Store(1) // the rule's read answers; the next ask fails
	a := mustNew(t, Config{Descriptors: r, DefaultRule: &grpcauthv1.Rule{}, Logger: discardLogger()})
	srv := fakeServer{"dyn.v1.Dyn": grpc.ServiceInfo{Methods: []grpc.MethodInfo{{Name: "Watch"}}}} // stream flags forgotten
	err := a.Check(srv)
	var ce *CheckError
	if !errors.As(err, &ce) || !errors.Is(err, errUnreachable) {
		t.Fatalf("Check = %v; want a *CheckError with the resolver's failure", err)
	}
	if got := ce.Methods(); len(got) != 1 || got[0] != "/dyn.v1.Dyn/Watch" || !strings.Contains(err.Error(), "Config.Descriptors failed") {
		t.Errorf("Check = %v; want /dyn.v1.Dyn/Watch reported for the resolver's failure", err)
	}
}
