// Command dup links a second generated copy of grpcauth/v1/auth.proto (in
// zz.example/dup/gen/grpcauth/v1, initialised after grpcauth's own) and
// prints what Check says about greeter.v1.GreeterService, whose options
// then resolve to the copy's types. scripts/usermodule-test.sh runs it to
// show the start-up panic and, with the conflict ignored, grpcauth's error.
package main

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/grpcauth/grpcauth"
	"github.com/grpcauth/grpcauth/verifier"
	greeterv1 "zz.example/dup/gen/greeter/v1"
)

type rejectAll struct{}

func (rejectAll) VerifyAccessToken(context.Context, string) (verifier.Claims, error) {
	return verifier.Claims{}, verifier.ErrMalformed
}

func main() {
	auth, err := grpcauth.New(grpcauth.Config{Verifier: rejectAll{}})
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer()
	greeterv1.RegisterGreeterServiceServer(srv, greeterv1.UnimplementedGreeterServiceServer{})
	fmt.Println(auth.Check(srv))
}
