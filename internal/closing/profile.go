package closing

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/fault"
)

// ClosingMessage is the user's closing message ("" when none is set): what a close by that
// user sends when it gives no message of its own.
func ClosingMessage(ctx context.Context, db store.DBTX, accountID, userID uuid.UUID) (string, error) {
	m, err := store.New().GetClosingMessage(ctx, db, store.GetClosingMessageParams{AccountID: accountID, UserID: userID})
	if err != nil {
		return "", fmt.Errorf("read closing message of user %s: %w", userID, err)
	}
	return m, nil
}

// SetClosingMessage stores the user's closing message ("" for none) on the user's profile and
// returns it as stored (trimmed).
func (s *Service) SetClosingMessage(ctx context.Context, accountID, userID uuid.UUID, message string) (string, error) {
	m := strings.TrimSpace(message)
	if utf8.RuneCountInString(m) > MaxMessageLength || !utf8.ValidString(m) || strings.ContainsRune(m, 0) {
		return "", fault.Invalid("invalid closing message", fault.FieldError{Field: "body.closing_message", Message: fmt.Sprintf("must be text of at most %d characters", MaxMessageLength)})
	}
	out, err := s.q.SetClosingMessage(ctx, s.pool, store.SetClosingMessageParams{AccountID: accountID, UserID: userID, ClosingMessage: m, Now: s.clock.Now()})
	if err != nil {
		return "", fmt.Errorf("store closing message of user %s: %w", userID, err)
	}
	return out, nil
}
