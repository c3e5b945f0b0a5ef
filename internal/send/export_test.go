package send

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// CrashAfterSend makes d stop after its sends, recording nothing: a worker killed mid-batch.
func CrashAfterSend(d *Dispatcher) { d.crashAfterSend = true }

// QueueTogether stores free-form texts with one fast-path statement, as the messages of
// concurrent requests are stored: for each, its conversation, or uuid.Nil when it was not
// stored (the full path would say why).
func QueueTogether(ctx context.Context, s *Service, reqs []Request, at []time.Time) ([]uuid.UUID, []uuid.UUID, error) {
	msgs := make([]freeForm, len(reqs))
	ids := make([]uuid.UUID, len(reqs))
	for i, r := range reqs {
		ids[i] = uuid.Must(uuid.NewV7())
		msgs[i] = freeForm{accountID: r.AccountID, id: ids[i], channelID: r.ChannelID, contactID: r.ContactID, customerCode: r.CustomerCode,
			kind: "text", text: r.Text, payload: []byte("{}"), userID: r.UserID, apiKeyID: r.APIKeyID, at: at[i]}
	}
	convs, err := queueFreeForms(ctx, s.pool, s.q, msgs)
	return ids, convs, err
}
