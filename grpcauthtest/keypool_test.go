package grpcauthtest

import (
	"crypto/rsa"
	"os"
	"path/filepath"
	"testing"
)

func TestKeyPool_DistinctKeysKeptForTheNextProcess(t *testing.T) {
	dir := t.TempDir()
	first := &keyPool{dir: dir}
	a, err := first.rsaKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := first.rsaKey()
	if err != nil {
		t.Fatal(err)
	}
	if a.(*rsa.PrivateKey).Equal(b) {
		t.Fatal("one pool handed out the same key twice")
	}
	if fi, err := os.Stat(filepath.Join(dir, "000.der")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kept key: %v, %v; want a file readable by the user only", fi, err)
	}

	// A later process (a new pool on the same directory) gets the same keys,
	// in the same order, without generating them.
	second := &keyPool{dir: dir}
	c, err := second.rsaKey()
	if err != nil {
		t.Fatal(err)
	}
	if !a.(*rsa.PrivateKey).Equal(c) {
		t.Error("the next process did not get the kept key")
	}

	// A corrupt file is replaced by a new key.
	if err := os.WriteFile(filepath.Join(dir, "001.der"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := second.rsaKey()
	if err != nil {
		t.Fatal(err)
	}
	if d.(*rsa.PrivateKey).N.BitLen() != rsaBits || d.(*rsa.PrivateKey).Equal(b) {
		t.Error("corrupt kept key not replaced by a new one")
	}
}

func TestNewIssuer_IssuersOfOneProcessNeverShareAKey(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		iss := NewIssuer(t, Config{})
		kid, _ := iss.RotateKey()
		for _, k := range []string{iss.KeyIDs()[0], kid} {
			pub := iss.PublicKey(k).(*rsa.PublicKey)
			if seen[pub.N.String()] {
				t.Fatal("two issuer keys of one process are the same RSA key")
			}
			seen[pub.N.String()] = true
		}
	}
}
