package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// KeySet holds the Ed25519 keys that sign access tokens. The first key signs; every key
// verifies and is published in the JWKS, so a new key can be put first while tokens signed by
// the old one run out.
type KeySet struct {
	keys []signingKey
}

type signingKey struct {
	kid  string
	priv ed25519.PrivateKey
}

// ParseKeys reads keys from their 32-byte seeds, base64-encoded (standard or URL alphabet,
// padded or not), separated by commas.
func ParseKeys(seeds string) (*KeySet, error) {
	ks := &KeySet{}
	for i, s := range strings.Split(seeds, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		seed, err := decodeBase64(s)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("signing key %d: want the base64 of a %d-byte Ed25519 seed", i+1, ed25519.SeedSize)
		}
		priv := ed25519.NewKeyFromSeed(seed)
		sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
		ks.keys = append(ks.keys, signingKey{kid: base64.RawURLEncoding.EncodeToString(sum[:8]), priv: priv})
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("no signing key given")
	}
	return ks, nil
}

// GenerateSeed returns a new random seed in the form ParseKeys reads.
func GenerateSeed() string {
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(seed)
	return base64.RawURLEncoding.EncodeToString(seed)
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func (ks *KeySet) signer() signingKey { return ks.keys[0] }

func (ks *KeySet) lookup(kid string) (ed25519.PublicKey, bool) {
	for _, k := range ks.keys {
		if k.kid == kid {
			return k.priv.Public().(ed25519.PublicKey), true
		}
	}
	return nil, false
}

// JWK is one public key in a JSON Web Key Set (RFC 7517, OKP keys of RFC 8037).
type JWK struct {
	Kty string `json:"kty" doc:"Key type: OKP."`
	Crv string `json:"crv" doc:"Curve: Ed25519."`
	X   string `json:"x" doc:"The public key, base64url."`
	Kid string `json:"kid" doc:"Key id, as in the tokens' kid header."`
	Alg string `json:"alg" doc:"Algorithm: EdDSA."`
	Use string `json:"use" doc:"Use: sig."`
}

// JWKS lists the public keys that verify access tokens.
func (ks *KeySet) JWKS() []JWK {
	out := make([]JWK, 0, len(ks.keys))
	for _, k := range ks.keys {
		out = append(out, JWK{
			Kty: "OKP", Crv: "Ed25519", Alg: "EdDSA", Use: "sig", Kid: k.kid,
			X: base64.RawURLEncoding.EncodeToString(k.priv.Public().(ed25519.PublicKey)),
		})
	}
	return out
}
