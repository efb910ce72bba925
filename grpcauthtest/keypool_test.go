package grpcauthtest

import (
	"crypto/rsa"
	"os"
	"path/filepath"
	"runtime"
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

func TestKeyPool_KeptFileCopiedFromAnotherIsNotHandedOutAgain(t *testing.T) {
	dir := t.TempDir()
	first := &keyPool{dir: dir}
	if _, err := first.rsaKey(); err != nil {
		t.Fatal(err)
	}
	der, err := os.ReadFile(filepath.Join(dir, "000.der"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "001.der"), der, 0o600); err != nil {
		t.Fatal(err)
	}
	second := &keyPool{dir: dir}
	a, err := second.rsaKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := second.rsaKey()
	if err != nil {
		t.Fatal(err)
	}
	if a.(*rsa.PrivateKey).Equal(b) {
		t.Fatal("a kept file that copies another made the pool hand out one key twice")
	}
	if kept, err := os.ReadFile(filepath.Join(dir, "001.der")); err != nil || string(kept) == string(der) {
		t.Errorf("the copied file was not replaced by the new key: %v", err)
	}
}

func TestKeyPool_CacheDirectoryIsMadePrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", cache) // macOS: Library/Caches under HOME
	root, err := os.UserCacheDir()
	if err != nil {
		t.Skip(err)
	}
	parent := filepath.Join(root, "grpcauthtest")
	dir := filepath.Join(parent, "rsa-2048")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{parent, dir} {
		if err := os.Chmod(d, 0o777); err != nil { // as left by another tool, or another user
			t.Fatal(err)
		}
	}
	if got := userCacheDir(); got != dir {
		t.Fatalf("userCacheDir() = %q, want %q", got, dir)
	}
	for _, d := range []string{parent, dir} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a directory only the user can use (0700)", d, fi.Mode(), err)
		}
	}
}
