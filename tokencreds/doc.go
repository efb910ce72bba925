// Package tokencreds sends OAuth 2.0 access tokens on gRPC calls: a
// credentials.PerRPCCredentials built from an oauth2.TokenSource, like
// grpc-go's credentials/oauth.TokenSource, except that it also works over
// plaintext to a server on the same host (loopback, a Unix socket, an
// in-process bufconn or net.Pipe connection), which makes local
// development and tests as easy as production. Over plaintext to any other
// host it refuses to send the token, so a misconfigured client fails
// instead of leaking it.
//
// NewDPoP sends DPoP-bound tokens (RFC 9449) instead: the DPoP scheme and a
// new proof per call, signed by a dpop.Signer; NewDPoPTransport puts a
// proof on the token requests so that the authorization server binds the
// tokens to the key (it sends them only over https or to a loopback host,
// follows no redirect to another origin, and refuses a token the server
// did not bind), and the Credentials' interceptors follow the server's
// nonces.
//
// A service client with the client-credentials grant (for DPoP-bound
// tokens, see the NewDPoP example):
//
//	cc := clientcredentials.Config{
//		ClientID:     id,
//		ClientSecret: secret,
//		TokenURL:     tokenURL, // the issuer's token_endpoint
//		Scopes:       []string{"items:read"},
//		// client_secret_basic: the default, AuthStyleAutoDetect, sends the
//		// secret a second time, in the body, after any failed token request.
//		AuthStyle: oauth2.AuthStyleInHeader,
//	}
//	conn, err := grpc.NewClient("api.example.com:443",
//		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})),
//		grpc.WithPerRPCCredentials(tokencreds.New(cc.TokenSource(ctx))))
//	if err != nil {
//		return err
//	}
//	defer conn.Close()
//
// To a server on this host (a test, local development), plaintext will do:
// insecure.NewCredentials() instead of the TLS credentials. See
// docs/clients.md in the repository.
package tokencreds
