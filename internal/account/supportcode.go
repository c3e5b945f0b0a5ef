package account

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/fault"
)

// SupportCodeWindow is how long a support code lasts: a customer reads it to support staff,
// who verify it, and a leaked code is useless a few hours later.
const SupportCodeWindow = 4 * time.Hour

// SupportCode derives the 8-digit code of the window that holds now from the account's secret
// (HMAC-SHA256 with HOTP's dynamic truncation, RFC 4226), and when it stops being current.
func SupportCode(secret []byte, now time.Time) (code string, validUntil time.Time) {
	window := now.Unix() / int64(SupportCodeWindow/time.Second)
	return codeFor(secret, window), time.Unix((window+1)*int64(SupportCodeWindow/time.Second), 0).UTC()
}

// VerifySupportCode accepts the current code and the previous window's, so a code read out
// just before the window turns still works.
func VerifySupportCode(secret []byte, code string, now time.Time) bool {
	window := now.Unix() / int64(SupportCodeWindow/time.Second)
	for _, w := range []int64{window, window - 1} {
		if hmac.Equal([]byte(codeFor(secret, w)), []byte(code)) {
			return true
		}
	}
	return false
}

func codeFor(secret []byte, window int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(window))
	mac := hmac.New(sha256.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%08d", n%100_000_000)
}

// CurrentSupportCode returns the account's support code at now.
func CurrentSupportCode(ctx context.Context, db store.DBTX, accountID uuid.UUID, now time.Time) (string, time.Time, error) {
	row, err := q.GetAccount(ctx, db, accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, fault.NotFound("account")
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read account %s: %w", accountID, err)
	}
	code, until := SupportCode(row.SupportSecret, now)
	return code, until, nil
}

// CheckSupportCode tells support staff whether code is the account's current (or previous)
// support code.
func CheckSupportCode(ctx context.Context, db store.DBTX, accountID uuid.UUID, code string, now time.Time) (bool, error) {
	row, err := q.GetAccount(ctx, db, accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fault.NotFound("account")
	}
	if err != nil {
		return false, fmt.Errorf("read account %s: %w", accountID, err)
	}
	return VerifySupportCode(row.SupportSecret, code, now), nil
}
