package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/campaign"
)

// CampaignRecipientBody is one recipient of a campaign and where its send is.
type CampaignRecipientBody struct {
	ContactID   string     `json:"contact_id" format:"uuid"`
	Name        string     `json:"name,omitempty" doc:"The contact's name as it is now (empty once the contact is deleted)."`
	Phone       string     `json:"phone" doc:"The address frozen with the audience."`
	State       string     `json:"state" enum:"pending,sending,sent,delivered,read,failed,unknown,replied" doc:"unknown: the sender stopped before the provider's answer was recorded; it is never sent again."`
	ChannelID   string     `json:"channel_id,omitempty" format:"uuid" doc:"The line it was sent on."`
	ProviderID  string     `json:"provider_message_id,omitempty"`
	Code        string     `json:"code,omitempty" doc:"The provider's code of a failure (or of the refusal it is waiting to retry)."`
	Reason      string     `json:"reason,omitempty"`
	RequestedAt time.Time  `json:"requested_at"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	ReadAt      *time.Time `json:"read_at,omitempty"`
	FailedAt    *time.Time `json:"failed_at,omitempty"`
	RepliedAt   *time.Time `json:"replied_at,omitempty"`
}

func toRecipientBody(r campaign.Recipient) CampaignRecipientBody {
	b := CampaignRecipientBody{ContactID: r.ContactID.String(), Phone: r.Phone, State: r.State, RequestedAt: r.RequestedAt,
		SentAt: r.SentAt, DeliveredAt: r.DeliveredAt, ReadAt: r.ReadAt, FailedAt: r.FailedAt, RepliedAt: r.RepliedAt}
	if r.Name != nil {
		b.Name = *r.Name
	}
	if r.ChannelID != nil {
		b.ChannelID = r.ChannelID.String()
	}
	if r.ProviderMessageID != nil {
		b.ProviderID = *r.ProviderMessageID
	}
	if r.Code != nil {
		b.Code = *r.Code
	}
	if r.Reason != nil {
		b.Reason = *r.Reason
	}
	return b
}

func (s *server) registerCampaignRecipients(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-campaign-recipients", Method: http.MethodGet, Path: "/v1/campaigns/{id}/recipients", Tags: []string{campaignsTag},
		Summary:     "List a campaign's recipients and where each send is",
		Description: "In contact order, optionally in one state (e.g. failed, to see why). The CSV report has every recipient in one download.",
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID    string `path:"id" format:"uuid"`
		State string `query:"state" enum:"pending,sending,sent,delivered,read,failed,unknown,replied"`
		PageParams
	}) (*struct {
		Body listBody[CampaignRecipientBody]
	}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		items, err := s.Campaigns.Recipients(ctx, p.AccountID, id, in.State, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(items, in.Limit, func(r campaign.Recipient) uuid.UUID { return r.ContactID }, toRecipientBody), nil
	}))
}
