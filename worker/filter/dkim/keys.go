package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// KeyCache holds the private keys read so far, by path: a worker reads a
// key file once, and again only when the file changes (its size or
// modification time). The zero value is ready to use; it is safe for
// concurrent use.
type KeyCache struct {
	mu   sync.Mutex
	keys map[string]cachedKey
}

type cachedKey struct {
	size  int64
	mtime time.Time
	key   crypto.Signer
}

// Load returns the key in path (see ParseKey).
func (kc *KeyCache) Load(path string) (crypto.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	kc.mu.Lock()
	defer kc.mu.Unlock()
	if k, ok := kc.keys[path]; ok && k.size == fi.Size() && k.mtime.Equal(fi.ModTime()) {
		return k.key, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if kc.keys == nil {
		kc.keys = map[string]cachedKey{}
	}
	kc.keys[path] = cachedKey{fi.Size(), fi.ModTime(), key}
	return key, nil
}

// ParseKey reads a private key: PEM, PKCS#1 ("RSA PRIVATE KEY") or PKCS#8
// ("PRIVATE KEY", RSA or Ed25519), or, as dkimpy and newer Mail::DKIM
// write Ed25519 keys, the base64 of the 32-byte seed.
func ParseKey(b []byte) (crypto.Signer, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		switch blk.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, err
			}
			switch k := k.(type) {
			case *rsa.PrivateKey:
				return k, nil
			case ed25519.PrivateKey:
				return k, nil
			}
			return nil, fmt.Errorf("a %T key: DKIM signs with RSA or Ed25519", k)
		}
		return nil, fmt.Errorf("PEM block %q is not a private key", blk.Type)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err == nil && len(seed) == ed25519.SeedSize {
		return ed25519.NewKeyFromSeed(seed), nil
	}
	return nil, errors.New("not a PEM private key nor a base64 Ed25519 seed")
}
