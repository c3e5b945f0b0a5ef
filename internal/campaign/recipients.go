package campaign

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/fault"
)

// Recipient is one contact of a campaign's frozen audience and where its send is.
type Recipient = store.ListCampaignRecipientsRow

// Recipients lists the campaign's recipients in contact order after the contact named by
// after, in state when given (a 422 for a state that does not exist); another account's
// campaign is a 404.
func (s *Service) Recipients(ctx context.Context, accountID, id uuid.UUID, state string, after *uuid.UUID, limit int) ([]Recipient, error) {
	if _, err := s.Get(ctx, accountID, id); err != nil {
		return nil, err
	}
	var st *string
	if state != "" {
		if !slices.Contains(States, state) {
			return nil, fault.Invalid("invalid state", fault.FieldError{Field: "query.state", Message: "must be one of the recipient states", Value: state})
		}
		st = &state
	}
	from := uuid.Nil
	if after != nil {
		from = *after
	}
	rows, err := s.q.ListCampaignRecipients(ctx, s.pool, store.ListCampaignRecipientsParams{AccountID: accountID, CampaignID: id,
		After: from, State: st, Lim: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list the recipients of campaign %s: %w", id, err)
	}
	return rows, nil
}
