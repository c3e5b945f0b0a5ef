package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/channel"
)

// ChannelBody is a channel. Credentials are never returned: only when they were last set.
type ChannelBody struct {
	ID               string          `json:"id" format:"uuid"`
	Type             string          `json:"type"`
	Name             string          `json:"name"`
	Provider         string          `json:"provider"`
	Direction        string          `json:"direction" enum:"inbound,outbound,both"`
	Priority         int             `json:"priority" doc:"Orders the agents' queue; WebChat's is always 100."`
	BusinessHours    []channel.Hours `json:"business_hours"`
	TimeZone         string          `json:"time_zone"`
	PhoneNumber      string          `json:"phone_number,omitempty"`
	PhoneNumberID    string          `json:"phone_number_id,omitempty"`
	WABAID           string          `json:"waba_id,omitempty"`
	LineKind         string          `json:"line_kind,omitempty" enum:"receptive,prospect"`
	QualityRating    string          `json:"quality_rating,omitempty" enum:"green,yellow,red,unknown"`
	ThroughputMPS    int             `json:"throughput_mps,omitempty"`
	MessagingLimit   string          `json:"messaging_limit,omitempty" enum:"250,2000,10000,100000,unlimited"`
	CredentialsSetAt *time.Time      `json:"credentials_set_at,omitempty" doc:"When credentials were last written; they are write-only."`
	Active           bool            `json:"active"`
	SegmentIDs       []string        `json:"segment_ids"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

// ChannelInput creates a channel, or changes the fields it carries.
type ChannelInput struct {
	Type           string            `json:"type,omitempty" enum:"whatsapp,email,sms,webchat,facebook,instagram,telegram,rcs,viber,voice,video,form" doc:"Required on create; never changes."`
	Name           *string           `json:"name,omitempty" maxLength:"100"`
	Provider       *string           `json:"provider,omitempty" enum:"whatsapp_cloud,twilio,smtp,telegram,webchat,fake"`
	Direction      *string           `json:"direction,omitempty" enum:"inbound,outbound,both"`
	Priority       *int              `json:"priority,omitempty" minimum:"1" maximum:"100"`
	BusinessHours  *[]channel.Hours  `json:"business_hours,omitempty" maxItems:"50"`
	TimeZone       *string           `json:"time_zone,omitempty" maxLength:"60"`
	PhoneNumber    *string           `json:"phone_number,omitempty" maxLength:"40"`
	PhoneNumberID  *string           `json:"phone_number_id,omitempty" maxLength:"100"`
	WABAID         *string           `json:"waba_id,omitempty" maxLength:"100"`
	LineKind       *string           `json:"line_kind,omitempty" enum:"receptive,prospect"`
	QualityRating  *string           `json:"quality_rating,omitempty" enum:"green,yellow,red,unknown"`
	ThroughputMPS  *int              `json:"throughput_mps,omitempty" minimum:"1" maximum:"1000"`
	MessagingLimit *string           `json:"messaging_limit,omitempty" enum:"250,2000,10000,100000,unlimited"`
	Credentials    map[string]string `json:"credentials,omitempty" doc:"Write-only: stored encrypted, never returned (access tokens, app secret, SMTP password...)."`
	Active         *bool             `json:"active,omitempty"`
	SegmentIDs     *[]string         `json:"segment_ids,omitempty" maxItems:"100"`
}

// ChannelIDParam is the {id} of a channel's path.
type ChannelIDParam struct {
	ID string `path:"id" format:"uuid"`
}

const channelsTag = "Channels"

func (s *server) registerChannels(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-channel", Method: http.MethodPost, Path: "/v1/channels", Tags: []string{channelsTag},
		Summary: "Register a channel (a WhatsApp number, an SMS gateway, a mailbox, a bot, WebChat...)", DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusConflict},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct{ Body ChannelInput }) (*struct{ Body ChannelBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		ci, err := toChannelInput(in.Body)
		if err != nil {
			return nil, err
		}
		c, err := s.Channels.Create(ctx, p.AccountID, ci)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ChannelBody }{Body: toChannelBody(c)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-channels", Method: http.MethodGet, Path: "/v1/channels", Tags: []string{channelsTag},
		Summary: "List channels, highest priority first",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		Type string `query:"type" maxLength:"20"`
	}) (*struct{ Body listBody[ChannelBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		cs, err := s.Channels.List(ctx, p.AccountID, channel.Type(in.Type))
		if err != nil {
			return nil, err
		}
		items := make([]ChannelBody, len(cs))
		for i, c := range cs {
			items[i] = toChannelBody(c)
		}
		return &struct{ Body listBody[ChannelBody] }{Body: listBody[ChannelBody]{Items: items}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-channel", Method: http.MethodGet, Path: "/v1/channels/{id}", Tags: []string{channelsTag},
		Summary: "Get a channel", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *ChannelIDParam) (*struct{ Body ChannelBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		c, err := s.Channels.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ChannelBody }{Body: toChannelBody(c)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "update-channel", Method: http.MethodPatch, Path: "/v1/channels/{id}", Tags: []string{channelsTag},
		Summary: "Change a channel; credentials are replaced only when given", Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		ChannelIDParam
		Body ChannelInput
	}) (*struct{ Body ChannelBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		ci, err := toChannelInput(in.Body)
		if err != nil {
			return nil, err
		}
		c, err := s.Channels.Update(ctx, p.AccountID, id, ci)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ChannelBody }{Body: toChannelBody(c)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-channel", Method: http.MethodDelete, Path: "/v1/channels/{id}", Tags: []string{channelsTag},
		Summary: "Delete a channel", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *ChannelIDParam) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return nil, s.Channels.Delete(ctx, p.AccountID, id)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "set-channel-priorities", Method: http.MethodPut, Path: "/v1/channel-priorities", Tags: []string{channelsTag},
		Summary:       "Set the whole priority table in one call",
		Description:   "Every id must be a channel of the account; WebChat's priority is absolute (100). All or nothing.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		Body struct {
			Priorities []struct {
				ChannelID string `json:"channel_id" format:"uuid"`
				Priority  int    `json:"priority" minimum:"1" maximum:"100"`
			} `json:"priorities" minItems:"1" maxItems:"1000"`
		}
	}) (*struct{}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		table := map[uuid.UUID]int{}
		for _, e := range in.Body.Priorities {
			id, err := parseUUID("body.priorities", e.ChannelID)
			if err != nil {
				return nil, err
			}
			table[id] = e.Priority
		}
		return nil, s.Channels.SetPriorities(ctx, p.AccountID, table)
	}))
}

func toChannelInput(in ChannelInput) (channel.Input, error) {
	out := channel.Input{Type: channel.Type(in.Type), Name: in.Name, Provider: in.Provider, Direction: in.Direction, Priority: in.Priority,
		BusinessHours: in.BusinessHours, TimeZone: in.TimeZone, PhoneNumber: in.PhoneNumber, PhoneNumberID: in.PhoneNumberID,
		WABAID: in.WABAID, LineKind: in.LineKind, QualityRating: in.QualityRating, ThroughputMPS: in.ThroughputMPS,
		MessagingLimit: in.MessagingLimit, Credentials: in.Credentials, Active: in.Active}
	if in.SegmentIDs != nil {
		ids, err := parseUUIDs("body.segment_ids", *in.SegmentIDs)
		if err != nil {
			return out, err
		}
		out.SegmentIDs = &ids
	}
	return out, nil
}

func toChannelBody(c channel.Channel) ChannelBody {
	b := ChannelBody{ID: c.ID.String(), Type: string(c.Type), Name: c.Name, Provider: c.Provider, Direction: c.Direction, Priority: c.Priority,
		BusinessHours: c.BusinessHours, TimeZone: c.TimeZone, PhoneNumber: c.PhoneNumber, PhoneNumberID: c.PhoneNumberID, WABAID: c.WABAID,
		LineKind: c.LineKind, QualityRating: c.QualityRating, ThroughputMPS: c.ThroughputMPS, MessagingLimit: c.MessagingLimit,
		CredentialsSetAt: c.CredentialsSetAt, Active: c.Active, SegmentIDs: make([]string, len(c.SegmentIDs)), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	for i, id := range c.SegmentIDs {
		b.SegmentIDs[i] = id.String()
	}
	return b
}
