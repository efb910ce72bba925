// Package echotest stands in for an authorization server, or a proxy in
// front of one, that echoes the request it got into a status line or a
// header line net/http cannot parse, and whose error then quotes that
// line, for the tests that a request's secrets reach no log or error:
//
//	srv := httptest.NewServer(echotest.Handler(echotest.HeaderLine))
//	defer srv.Close()
//	_, err := client.Get(srv.URL + "/keys?api_key=" + key)
//	// err quotes "GET /keys?api_key=… HTTP/1.1 Host: … …"
package echotest
