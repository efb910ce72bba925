package grpcauthtest

import (
	"crypto/rsa"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
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

// tempCacheDir makes a new temporary directory the user's cache directory
// for the rest of the test, and returns it as os.UserCacheDir reports it.
func tempCacheDir(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", cache) // macOS: Library/Caches under HOME
	root, err := os.UserCacheDir()
	if err != nil {
		t.Skip(err)
	}
	return root
}

func TestKeyPool_CacheDirectoryIsMadePrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	parent := filepath.Join(tempCacheDir(t), "grpcauthtest")
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

// A temporary file that a process killed while keeping a key left in the
// cache directory is removed when a process next opens the directory. A
// recent one, which may be another process's write in progress, stays, as
// does every file or directory of another name.
func TestKeyPool_StaleTemporaryFilesAreRemoved(t *testing.T) {
	dir := filepath.Join(tempCacheDir(t), "grpcauthtest", "rsa-2048")
	if err := os.MkdirAll(filepath.Join(dir, ".tmp-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-24 * time.Hour)
	for name, mtime := range map[string]time.Time{
		".tmp-1": old, ".tmp-2": time.Now(), "000.der": old, "x.tmp-3": old, ".tmp-dir": old,
	} {
		path := filepath.Join(dir, name)
		if name != ".tmp-dir" {
			if err := os.WriteFile(path, []byte("partial"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if got := userCacheDir(); got != dir {
		t.Fatalf("userCacheDir() = %q, want %q", got, dir)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".tmp-1")); !os.IsNotExist(err) {
		t.Errorf("stale temporary file: %v; want it removed", err)
	}
	for _, name := range []string{".tmp-2", "000.der", "x.tmp-3", ".tmp-dir"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v; want it kept", name, err)
		}
	}
}
