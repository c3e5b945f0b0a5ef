// Package secretbox seals small secrets (provider credentials) for storage with AES-256-GCM
// under a key from configuration, so a copy of the database alone does not reveal them.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the key length: 32 bytes, AES-256.
const KeySize = 32

// Box seals and opens with one key. Safe for concurrent use.
type Box struct {
	aead cipher.AEAD
	raw  []byte
}

// New returns a Box for a base64 (standard or URL alphabet) 32-byte key.
func New(key string) (*Box, error) {
	k := strings.TrimRight(strings.TrimSpace(key), "=")
	raw, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(k)
	}
	if err != nil || len(raw) != KeySize {
		return nil, fmt.Errorf("secret key: want the base64 of %d random bytes", KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Box{aead: aead, raw: raw}, nil
}

// Derive returns a 32-byte key for another purpose (e.g. "media links"), computed from the
// configured key, so one secret in configuration serves several uses without one use's key
// revealing another's or the encryption key.
func (b *Box) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, b.raw)
	m.Write([]byte("conversa/" + purpose))
	return m.Sum(nil)
}

// GenerateKey returns a new random key in the form New reads.
func GenerateKey() string {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Seal encrypts plaintext; context binds the result to where it is stored (e.g. the channel
// id), so a sealed value copied to another row does not open there.
func (b *Box) Seal(plaintext, context []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return b.aead.Seal(nonce, nonce, plaintext, context)
}

// ErrOpen means a sealed value is corrupt, was sealed under another key, or belongs elsewhere.
var ErrOpen = errors.New("secretbox: cannot open sealed value")

// Open decrypts what Seal made with the same context.
func (b *Box) Open(sealed, context []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrOpen
	}
	out, err := b.aead.Open(nil, sealed[:n], sealed[n:], context)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
