package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/fault"
)

// PublicPath is where providers download a library file, under the server's public URL:
// /public/media/{account_id}/{id}?exp=<unix>&sig=<signature>.
const PublicPath = "/public/media/"

// Signer makes and checks the public links of library files: an HMAC-SHA256 over the account,
// the file and the expiry, so a link names exactly one file of one account until it expires,
// and cannot be made or changed without the key.
type Signer struct {
	key  []byte
	base string
}

// NewSigner returns a Signer with key (derived from the configured secret) whose links start
// with baseURL, the address providers reach this server at.
func NewSigner(key []byte, baseURL string) *Signer {
	return &Signer{key: key, base: strings.TrimRight(baseURL, "/")}
}

func (s *Signer) sign(accountID, id uuid.UUID, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	m.Write(accountID[:])
	m.Write(id[:])
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// URL is the public link of a file, valid until exp.
func (s *Signer) URL(accountID, id uuid.UUID, exp time.Time) string {
	e := exp.Unix()
	return s.base + PublicPath + accountID.String() + "/" + id.String() + "?exp=" + strconv.FormatInt(e, 10) + "&sig=" + s.sign(accountID, id, e)
}

var errBadLink = fault.Unauthorized("the media link is not valid: wrong signature or expired")

// Verify checks a link's signature (in constant time) and expiry at now.
func (s *Signer) Verify(accountID, id uuid.UUID, exp int64, sig string, now time.Time) error {
	if !hmac.Equal([]byte(sig), []byte(s.sign(accountID, id, exp))) {
		return errBadLink
	}
	if now.Unix() > exp {
		return errBadLink
	}
	return nil
}
