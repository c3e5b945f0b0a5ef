package auth

import (
	"fmt"

	"github.com/alexedwards/argon2id"
)

// passwordParams are argon2id's settings: OWASP's minimum (19 MiB, 2 passes), so a burst of
// logins cannot exhaust the server's memory.
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 10

// HashPassword returns the argon2id hash (PHC string) of password.
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", fmt.Errorf("password must have at least %d characters", MinPasswordLength)
	}
	if len(password) > 256 {
		return "", fmt.Errorf("password must have at most 256 characters")
	}
	h, err := argon2id.CreateHash(password, passwordParams)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// dummyHash is checked against when the e-mail is unknown, so a login takes as long for an
// unknown address as for a wrong password.
var dummyHash, _ = argon2id.CreateHash("conversa-dummy-password", passwordParams)

func checkPassword(password, hash string) bool {
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	return err == nil && ok
}
