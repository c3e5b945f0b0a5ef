package queue

import (
	"context"

	"github.com/google/uuid"
)

// NextTogether serves the Nexts of userIDs as one group of concurrent callers is served: each
// one's conversation, or uuid.Nil when nothing waited for it.
func NextTogether(ctx context.Context, s *Service, accountID uuid.UUID, userIDs []uuid.UUID) ([]uuid.UUID, error) {
	calls := make([]nextCall, len(userIDs))
	for i, u := range userIDs {
		calls[i] = nextCall{accountID: accountID, userID: u}
	}
	rows, err := s.nextTogether(ctx, calls)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		if r != nil {
			ids[i] = r.ID
		}
	}
	return ids, nil
}
