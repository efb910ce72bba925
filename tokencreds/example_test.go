package tokencreds_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"log"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpcauth/grpcauth/dpop"
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

// A service client whose tokens are DPoP-bound (RFC 9449): the token
// requests carry a proof of the client's key, and so does every call.
func ExampleNewDPoP() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // one key for the tokens' life
	if err != nil {
		log.Fatal(err)
	}
	signer, err := dpop.NewSigner(key, "ES256")
	if err != nil {
		log.Fatal(err)
	}
	cc := clientcredentials.Config{
		ClientID:     "svc",
		ClientSecret: "from-a-secret-store",
		TokenURL:     "https://idp.example/oauth2/default/v1/token",
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	// The token requests go through a DPoPTransport, which adds the proof
	// and follows the token endpoint's nonce.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: tokencreds.NewDPoPTransport(signer, nil)}
	ts := cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc))

	creds := tokencreds.NewDPoP(ts, signer)
	conn, err := grpc.NewClient("api.example.com:443",
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})),
		grpc.WithPerRPCCredentials(creds),
		// The interceptors follow the server's nonces, if it asks for them.
		grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor()),
		grpc.WithStreamInterceptor(creds.StreamClientInterceptor()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// items := itemsv1.NewItemServiceClient(conn) ...
}
