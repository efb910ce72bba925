package tokencreds_test

import (
	"context"
	"log"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpcauth/grpcauth/tokencreds"
)

// A service client that gets its tokens with the client-credentials grant
// and calls a server on this host over plaintext. Against a server on
// another host, use TLS transport credentials instead: over plaintext the
// calls would fail with Unauthenticated, and the token would not be sent.
func Example() {
	cc := clientcredentials.Config{
		ClientID:     "svc",
		ClientSecret: "from-a-secret-store",
		TokenURL:     "https://idp.example/oauth2/default/v1/token",
		Scopes:       []string{"items:read"},
		// The client's token_endpoint_auth_method (client_secret_basic):
		// the default, AuthStyleAutoDetect, sends the secret a second
		// time, in the body, after any failed token request.
		AuthStyle: oauth2.AuthStyleInHeader,
	}
	conn, err := grpc.NewClient("localhost:50051",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(tokencreds.New(cc.TokenSource(context.Background()))))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// items := itemsv1.NewItemServiceClient(conn) ...
}
