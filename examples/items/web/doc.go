// Package web is the items example's browser page: plain HTML, CSS and
// JavaScript with no build step, embedded in the server binary. The page
// signs a person in at the issuer with the authorization-code flow and
// PKCE, then calls ItemService with the Connect protocol's JSON over fetch,
// with a DPoP proof made with WebCrypto when the issuer binds tokens to a
// key. The server (web.go in ../server) serves Files and /config.json;
// docs/browsers.md describes the whole set-up.
//
//	cfgJSON, err := json.Marshal(web.Config{Issuer: issuer, ClientID: "items-web"})
//	if err != nil {
//		return err
//	}
//	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, _ *http.Request) {
//		w.Header().Set("Content-Type", "application/json")
//		_, _ = w.Write(cfgJSON)
//	})
//	mux.Handle("GET /", http.FileServerFS(web.Files))
package web
