package grpcauthtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// rsaPoolSize bounds the RSA keys kept on disk: a test process that needs
// more generates the rest.
const rsaPoolSize = 256

// rsaPool hands out RSA keys to the issuers of NewIssuer, the test
// constructor. Generating a 2048-bit RSA key costs tens of milliseconds,
// and hundreds under the race detector, which made key generation the
// largest cost of the test suites that use many issuers. So the keys are
// kept between runs, in grpcauthtest/rsa-2048 under the user's cache
// directory (files readable by the user only), and each is handed out at
// most once per process: two issuers of one test process never share a
// key, so a token of one never verifies under another's key set. Issuers
// made by Start (a development server) always generate fresh keys. Without
// a usable cache directory every key is generated.
var rsaPool = &keyPool{}

// keyPool is a directory of kept RSA keys and the index of the next one to
// hand out.
type keyPool struct {
	once sync.Once
	dir  string // "" when keys cannot be kept

	mu     sync.Mutex
	next   int
	issued map[string]bool // moduli of the keys handed out
}

// userCacheDir is the directory rsaPool keeps its keys in, or "". It and
// its parent are made private (0700), which also fails for directories
// another user owns: keys others can plant there are not used.
func userCacheDir() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	parent := filepath.Join(cache, "grpcauthtest")
	dir := filepath.Join(parent, fmt.Sprintf("rsa-%d", rsaBits))
	if os.MkdirAll(dir, 0o700) != nil || os.Chmod(parent, 0o700) != nil || os.Chmod(dir, 0o700) != nil {
		return ""
	}
	removeStaleTemps(dir)
	return dir
}

// tempPrefix starts the names of the temporary files keep writes.
const tempPrefix = ".tmp-"

// staleTempAge is the age from which a temporary file of keep is taken for
// the remains of a process killed while writing it: writing one takes
// microseconds, so a younger file may be another process's write.
const staleTempAge = time.Hour

// removeStaleTemps removes from dir the regular files whose name starts
// with tempPrefix and that are older than staleTempAge, left by processes
// killed between writing a key and renaming it, which would otherwise pile
// up. Failing to remove one costs nothing but its space.
func removeStaleTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTempAge {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// pooledRSA returns a key from rsaPool.
func pooledRSA() (crypto.Signer, error) {
	rsaPool.once.Do(func() { rsaPool.dir = userCacheDir() })
	return rsaPool.rsaKey()
}

// rsaKey returns an RSA key of rsaBits that p has not handed out before:
// the next one kept in p.dir, or a new one, which it keeps there.
func (p *keyPool) rsaKey() (crypto.Signer, error) {
	p.mu.Lock()
	n := p.next
	p.next++
	p.mu.Unlock()
	if p.dir == "" || n >= rsaPoolSize {
		return genRSA()
	}
	path := filepath.Join(p.dir, fmt.Sprintf("%03d.der", n))
	if der, err := os.ReadFile(path); err == nil {
		if k, err := x509.ParsePKCS1PrivateKey(der); err == nil && k.N.BitLen() == rsaBits && p.claim(k) {
			return k, nil
		}
	}
	k, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, err
	}
	p.claim(k)
	keep(path, x509.MarshalPKCS1PrivateKey(k))
	return k, nil
}

// claim records k as handed out, and reports false when it already was: a
// kept file that is a copy of another (copied, or planted) must not make
// two issuers of one process share a key.
func (p *keyPool) claim(k *rsa.PrivateKey) bool {
	n := string(k.N.Bytes())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.issued[n] {
		return false
	}
	if p.issued == nil {
		p.issued = make(map[string]bool)
	}
	p.issued[n] = true
	return true
}

// keep writes data to path through a temporary file and a rename, so that
// a concurrent reader (another test process) sees the whole file or none.
// Failing to keep a key only costs a later run its generation.
func keep(path string, data []byte) {
	f, err := os.CreateTemp(filepath.Dir(path), tempPrefix+"*")
	if err != nil {
		return
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr != nil || cerr != nil || os.Rename(f.Name(), path) != nil {
		_ = os.Remove(f.Name())
	}
}
