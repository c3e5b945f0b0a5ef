package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/template"
)

const campaignsTag = "Campaigns"

// CampaignInput creates or replaces a campaign that has not started.
type CampaignInput struct {
	Name                string                     `json:"name" minLength:"1" maxLength:"200"`
	ChannelType         string                     `json:"channel_type,omitempty" enum:"whatsapp" doc:"The kind of lines it sends on (whatsapp, the default, is the only one so far)."`
	SegmentID           string                     `json:"segment_id" format:"uuid" doc:"The segment whose members are the audience."`
	Filters             SegmentRules               `json:"filters,omitzero" doc:"Narrow the segment's members, in the language of segment rules (tags any/all, origins, origin channels, custom field comparisons)."`
	ExplicitConsent     bool                       `json:"explicit_consent,omitempty" doc:"Only contacts whose marketing consent was given explicitly (not implied by a first message)."`
	SenderIDs           []string                   `json:"sender_ids,omitempty" maxItems:"50" doc:"The lines to send on. Empty: automatic selection at the start among the segment's prospect lines of good quality (at least 3). A receptive line is only used when listed here."`
	TemplateID          string                     `json:"template_id" format:"uuid" doc:"An approved template in the lines' library."`
	Bindings            map[string]TemplateBinding `json:"bindings,omitempty" maxProperties:"50" doc:"Variable bindings over the template's own, by location (body:1, header:1, button:0): a contact field or a fixed text. Every variable must end up bound."`
	StartAt             *time.Time                 `json:"start_at,omitempty" doc:"When to start (in the future, within 366 days). The start call schedules it; without, the start call runs it at once."`
	PacePercent         int32                      `json:"pace_percent,omitempty" minimum:"0" maximum:"100" doc:"Percent of the recipients sent every pace_interval_minutes; 100 (the default) sends all at once."`
	PaceIntervalMinutes *int32                     `json:"pace_interval_minutes,omitempty" minimum:"1" maximum:"1440" doc:"The pacing interval; required when pace_percent is below 100."`
	Attendance          string                     `json:"attendance,omitempty" enum:"include,exclude" doc:"Contacts in attendance: include them (default), or leave out those served in the last attendance_hours."`
	AttendanceHours     *int32                     `json:"attendance_hours,omitempty" minimum:"1" maximum:"720"`
	WindowStart         string                     `json:"window_start,omitempty" pattern:"^[0-2][0-9]:[0-5][0-9]$" doc:"Delivery window: sends go out only from this time of day (HH:MM in time_zone), with window_end; outside it the campaign waits. Leave both out to send at any time."`
	WindowEnd           string                     `json:"window_end,omitempty" pattern:"^[0-2][0-9]:[0-5][0-9]$" doc:"Delivery window's end (HH:MM); may be earlier than window_start for a window across midnight."`
	TimeZone            string                     `json:"time_zone,omitempty" maxLength:"64" doc:"The delivery window's IANA time zone (default America/Sao_Paulo)."`
	MaxFailurePercent   *int32                     `json:"max_failure_percent,omitempty" minimum:"0" maximum:"100" doc:"The campaign pauses by itself when more than this percent of its sends fail, after 100 sends (default 20; 0 never)."`
}

// CampaignBody is a campaign and what its start found.
type CampaignBody struct {
	ID                  string                     `json:"id" format:"uuid"`
	Name                string                     `json:"name"`
	ChannelType         string                     `json:"channel_type"`
	SegmentID           string                     `json:"segment_id" format:"uuid"`
	Filters             SegmentRules               `json:"filters"`
	ExplicitConsent     bool                       `json:"explicit_consent"`
	LineMode            string                     `json:"line_mode" enum:"explicit,automatic"`
	SenderIDs           []string                   `json:"sender_ids" doc:"The lines chosen; with automatic selection, the ones picked at the start, best first."`
	TemplateID          string                     `json:"template_id" format:"uuid"`
	Bindings            map[string]TemplateBinding `json:"bindings"`
	StartAt             *time.Time                 `json:"start_at,omitempty"`
	PacePercent         int16                      `json:"pace_percent"`
	PaceIntervalMinutes *int32                     `json:"pace_interval_minutes,omitempty"`
	Attendance          string                     `json:"attendance" enum:"include,exclude"`
	AttendanceHours     *int32                     `json:"attendance_hours,omitempty"`
	Status              string                     `json:"status" enum:"draft,scheduled,running,paused,completed,cancelled,failed"`
	Reason              string                     `json:"reason,omitempty" doc:"Why it failed."`
	Warnings            []string                   `json:"warnings" doc:"What the start warns about (a receptive line chosen explicitly)."`
	LimitAlert          *campaign.LimitAlert       `json:"limit_alert,omitempty" doc:"Set when the audience passes the lines' messaging limit (unique users a day), counted when the campaign is scheduled and again when its audience is frozen: sends will pace to stay under it."`
	Recipients          *int32                     `json:"recipients,omitempty" doc:"The audience frozen at the start."`
	Exclusions          map[string]int64           `json:"exclusions,omitempty" doc:"Members of the segment left out at the start, by reason (the first that applies, in this order): filters, blocked, broadcast_off, no_consent, no_phone, in_attendance."`
	Version             int32                      `json:"version"`
	CreatedAt           time.Time                  `json:"created_at"`
	UpdatedAt           time.Time                  `json:"updated_at"`
	StartedAt           *time.Time                 `json:"started_at,omitempty"`
	FinishedAt          *time.Time                 `json:"finished_at,omitempty"`
	WindowStart         string                     `json:"window_start,omitempty"`
	WindowEnd           string                     `json:"window_end,omitempty"`
	TimeZone            string                     `json:"time_zone"`
	MaxFailurePercent   int16                      `json:"max_failure_percent"`
	Released            int32                      `json:"released" doc:"Recipients the pace has released so far."`
	Dispatched          int32                      `json:"dispatched" doc:"Recipients taken for sending so far."`
	Sent                int32                      `json:"sent" doc:"Sends the provider accepted."`
	Failed              int32                      `json:"failed" doc:"Sends that failed."`
	NextStageAt         *time.Time                 `json:"next_stage_at,omitempty" doc:"When the pace releases its next stage."`
	PauseReason         string                     `json:"pause_reason,omitempty" doc:"Why the campaign paused by itself (failure rate, a line's quality, a payment stop); resume once fixed."`
	RetryOf             string                     `json:"retry_of,omitempty" format:"uuid" doc:"The campaign whose failed recipients this run sends to again."`
}

// campaignOutput is a campaign with its ETag (its version), which an edit's If-Match names.
type campaignOutput struct {
	ETag string `header:"ETag"`
	Body CampaignBody
}

// campaignCreated is a new campaign (a draft or a retry run) with where it lives, its ETag, and
// whether the answer is an earlier call's, replayed for its Idempotency-Key.
type campaignCreated struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Replayed string `header:"Idempotent-Replayed" doc:"true when this is the stored answer to an earlier call with the same Idempotency-Key."`
	Body     CampaignBody
}

func createdCampaign(b CampaignBody, replayed bool) *campaignCreated {
	out := &campaignCreated{ETag: etag(int(b.Version)), Location: "/v1/campaigns/" + b.ID, Body: b}
	if replayed {
		out.Replayed = "true"
	}
	return out
}

func campaignResponse(c campaign.Campaign) *campaignOutput {
	return &campaignOutput{ETag: etag(int(c.Version)), Body: toCampaignBody(c)}
}

// CampaignIDParam names a campaign in the path.
type CampaignIDParam struct {
	ID string `path:"id" format:"uuid"`
}

// CampaignTestSendInput sends the campaign's template to one contact.
type CampaignTestSendInput struct {
	ContactID string  `json:"contact_id" format:"uuid"`
	ChannelID *string `json:"channel_id,omitempty" format:"uuid" doc:"The line; default the campaign's first line."`
}

func toCampaignInput(in CampaignInput) (campaign.Input, error) {
	out := campaign.Input{Name: in.Name, ChannelType: in.ChannelType, ExplicitConsent: in.ExplicitConsent, StartAt: in.StartAt,
		PacePercent: int(in.PacePercent), PaceIntervalMinutes: in.PaceIntervalMinutes, Attendance: in.Attendance, AttendanceHours: in.AttendanceHours,
		WindowStart: in.WindowStart, WindowEnd: in.WindowEnd, TimeZone: in.TimeZone, MaxFailurePercent: in.MaxFailurePercent,
		Bindings: map[string]template.Binding{}}
	var err error
	if out.SegmentID, err = parseUUID("body.segment_id", in.SegmentID); err != nil {
		return out, err
	}
	if out.TemplateID, err = parseUUID("body.template_id", in.TemplateID); err != nil {
		return out, err
	}
	if out.SenderIDs, err = parseUUIDs("body.sender_ids", in.SenderIDs); err != nil {
		return out, err
	}
	if out.Filters, err = toRules(in.Filters, "body.filters"); err != nil {
		return out, err
	}
	for k, v := range in.Bindings {
		out.Bindings[k] = template.Binding{Source: v.Source, Text: v.Text, Fallback: v.Fallback}
	}
	return out, nil
}

func toCampaignBody(c campaign.Campaign) CampaignBody {
	b := CampaignBody{ID: c.ID.String(), Name: c.Name, ChannelType: c.ChannelType, SegmentID: c.SegmentID.String(),
		Filters: fromRules(c.FilterRules), ExplicitConsent: c.ExplicitConsent, LineMode: c.LineMode, SenderIDs: make([]string, len(c.SenderIds)),
		TemplateID: c.TemplateID.String(), Bindings: map[string]TemplateBinding{}, StartAt: c.StartAt, PacePercent: c.PacePercent,
		PaceIntervalMinutes: c.PaceIntervalMinutes, Attendance: c.Attendance, AttendanceHours: c.AttendanceHours, Status: c.Status,
		Warnings: c.Warnings, LimitAlert: c.Alert, Recipients: c.Recipients, Exclusions: c.Excluded, Version: c.Version,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt,
		TimeZone: c.TimeZone, MaxFailurePercent: c.MaxFailurePercent, Released: c.Released, Dispatched: c.Dispatched,
		Sent: c.SendsOk, Failed: c.SendsFailed, NextStageAt: c.NextReleaseAt}
	if c.WindowStart != c.WindowEnd {
		b.WindowStart, b.WindowEnd = campaign.WindowText(c.WindowStart), campaign.WindowText(c.WindowEnd)
	}
	if c.PauseReason != nil {
		b.PauseReason = *c.PauseReason
	}
	if c.RetryOf != nil {
		b.RetryOf = c.RetryOf.String()
	}
	for i, id := range c.SenderIds {
		b.SenderIDs[i] = id.String()
	}
	for k, v := range c.Binds {
		b.Bindings[k] = TemplateBinding{Source: v.Source, Text: v.Text, Fallback: v.Fallback}
	}
	if c.Reason != nil {
		b.Reason = *c.Reason
	}
	if b.Warnings == nil {
		b.Warnings = []string{}
	}
	return b
}

func (s *server) registerCampaigns(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-campaign", Method: http.MethodPost, Path: "/v1/campaigns", Tags: []string{campaignsTag},
		Summary: "Create a draft campaign", DefaultStatus: http.StatusCreated,
		Description: "422 names every bad field: a segment or template that is not the account's, a template not approved in a chosen line's library " +
			"(or on no line, with automatic selection), a variable left unbound, filters on unknown custom fields, pacing or attendance out of range.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, auth.TemplatesWrite), handle(func(ctx context.Context, in *struct {
		IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes a retried call safe: the same key and body return the first answer for 24 hours; the same key with another body is a 422."`
		Body           CampaignInput
		RawBody        []byte
	}) (*campaignCreated, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		req, err := toCampaignInput(in.Body)
		if err != nil {
			return nil, err
		}
		body, replayed, err := idempotent(ctx, s, p.AccountID, "create-campaign", in.IdempotencyKey, in.RawBody, http.StatusCreated,
			func(tx pgx.Tx) (CampaignBody, error) {
				c, err := s.Campaigns.CreateTx(ctx, tx, p.AccountID, req)
				return toCampaignBody(c), err
			})
		if err != nil {
			return nil, err
		}
		return createdCampaign(body, replayed), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-campaigns", Method: http.MethodGet, Path: "/v1/campaigns", Tags: []string{campaignsTag},
		Summary: "List the account's campaigns, newest first",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		Status string `query:"status" enum:"draft,scheduled,running,paused,completed,cancelled,failed"`
		PageParams
	}) (*struct{ Body listBody[CampaignBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		items, err := s.Campaigns.List(ctx, p.AccountID, in.Status, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(items, in.Limit, func(c campaign.Campaign) uuid.UUID { return c.ID }, toCampaignBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-campaign", Method: http.MethodGet, Path: "/v1/campaigns/{id}", Tags: []string{campaignsTag},
		Summary: "Get a campaign", Description: "With its ETag (the version), for an edit's If-Match.", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *CampaignIDParam) (*campaignOutput, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		c, err := s.Campaigns.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return campaignResponse(c), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "update-campaign", Method: http.MethodPut, Path: "/v1/campaigns/{id}", Tags: []string{campaignsTag},
		Summary: "Edit or reschedule a campaign before its start",
		Description: "Replaces what the campaign says while it is a draft or scheduled (a scheduled campaign's start job moves with start_at); 409 once it started. " +
			"With If-Match, the change is refused (412) if the campaign changed since it was read (an edit, a start, a reschedule).",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity},
	}, auth.TemplatesWrite), handle(func(ctx context.Context, in *struct {
		ID      string `path:"id" format:"uuid"`
		IfMatch string `header:"If-Match" doc:"The ETag the change was based on; 412 if the campaign changed since."`
		Body    CampaignInput
	}) (*campaignOutput, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		version, err := ifMatchVersion(in.IfMatch)
		if err != nil {
			return nil, err
		}
		req, err := toCampaignInput(in.Body)
		if err != nil {
			return nil, err
		}
		c, err := s.Campaigns.Update(ctx, p.AccountID, id, req, version)
		if err != nil {
			return nil, err
		}
		return campaignResponse(c), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-campaign", Method: http.MethodDelete, Path: "/v1/campaigns/{id}", Tags: []string{campaignsTag},
		Summary: "Delete a draft campaign", DefaultStatus: http.StatusNoContent,
		Description: "409 once it was started or scheduled: cancel it instead.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, auth.TemplatesWrite), handle(func(ctx context.Context, in *CampaignIDParam) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return &struct{}{}, s.Campaigns.Delete(ctx, p.AccountID, id)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "start-campaign", Method: http.MethodPost, Path: "/v1/campaigns/{id}/start", Tags: []string{campaignsTag},
		Summary: "Start a draft campaign, or schedule it for its start time",
		Description: "Checks the lines first: explicit lines must be active with the template approved (a receptive one starts with a warning); automatic " +
			"selection needs at least 3 active prospect lines of good (green) quality in the segment, else 409 says why. With start_at in the future the " +
			"campaign is scheduled (a job at that time checks the lines again and freezes the audience), with limit_alert set (and the campaign.limit_alert " +
			"event) when the audience it would freeze now passes the lines' messaging limit; otherwise the audience is frozen now: " +
			"recipients and exclusions by reason are in the answer, and limit_alert when the recipients pass the lines' messaging limit. 409 unless a draft.",
		Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, auth.TemplatesWrite), handle(func(ctx context.Context, in *CampaignIDParam) (*struct{ Body CampaignBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		st, err := s.Campaigns.Start(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body CampaignBody }{Body: toCampaignBody(st.Campaign)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "retry-campaign", Method: http.MethodPost, Path: "/v1/campaigns/{id}/retry", Tags: []string{campaignsTag},
		Summary: "Make a retry run of a campaign's failed recipients", DefaultStatus: http.StatusCreated,
		Description: "Creates a draft with the campaign's settings (retry_of names it) whose audience, frozen when it is started, is the campaign's " +
			"failed recipients, checked again for blocks, broadcasts, consent and attendance. Recipients whose outcome is unknown are not retried: " +
			"the send may have reached them. 409 while the campaign may still send, or when none failed.",
		Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, auth.TemplatesWrite), handle(func(ctx context.Context, in *struct {
		ID             string `path:"id" format:"uuid"`
		IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes a retried call safe: the same key returns the first run for 24 hours instead of making another."`
	}) (*campaignCreated, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		body, replayed, err := idempotent(ctx, s, p.AccountID, "retry-campaign:"+id.String(), in.IdempotencyKey, nil, http.StatusCreated,
			func(tx pgx.Tx) (CampaignBody, error) {
				c, err := s.Campaigns.RetryTx(ctx, tx, p.AccountID, id)
				return toCampaignBody(c), err
			})
		if err != nil {
			return nil, err
		}
		return createdCampaign(body, replayed), nil
	}))
	for _, op := range []struct {
		name, summary string
		fn            func(context.Context, uuid.UUID, uuid.UUID) (campaign.Campaign, error)
	}{
		{"pause", "Pause a running campaign (409 otherwise)", s.Campaigns.Pause},
		{"resume", "Resume a paused campaign (409 otherwise)", s.Campaigns.Resume},
		{"cancel", "Cancel a scheduled, running or paused campaign for good (409 otherwise; a draft is deleted instead)", s.Campaigns.Cancel},
	} {
		huma.Register(api, secure(huma.Operation{
			OperationID: op.name + "-campaign", Method: http.MethodPost, Path: "/v1/campaigns/{id}/" + op.name, Tags: []string{campaignsTag},
			Summary: op.summary, Errors: []int{http.StatusNotFound, http.StatusConflict},
		}, auth.TemplatesWrite), handle(func(ctx context.Context, in *CampaignIDParam) (*struct{ Body CampaignBody }, error) {
			p, id, err := pathCaller(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			c, err := op.fn(ctx, p.AccountID, id)
			if err != nil {
				return nil, err
			}
			return &struct{ Body CampaignBody }{Body: toCampaignBody(c)}, nil
		}))
	}
	huma.Register(api, secure(huma.Operation{
		OperationID: "test-send-campaign", Method: http.MethodPost, Path: "/v1/campaigns/{id}/test-send", Tags: []string{campaignsTag},
		Summary: "Send the campaign's template to one contact", DefaultStatus: http.StatusAccepted,
		Description: "Through the Send Message API's path with the campaign's bindings: every rule applies (blocked contact, approval on the line, " +
			"marketing consent, paid-send stop), with the same problems.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, auth.TemplatesWrite), handle(func(ctx context.Context, in *struct {
		ID   string `path:"id" format:"uuid"`
		Body CampaignTestSendInput
	}) (*struct{ Body QueuedMessageBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		contactID, err := parseUUID("body.contact_id", in.Body.ContactID)
		if err != nil {
			return nil, err
		}
		var line *uuid.UUID
		if in.Body.ChannelID != nil {
			l, err := parseUUID("body.channel_id", *in.Body.ChannelID)
			if err != nil {
				return nil, err
			}
			line = &l
		}
		q, err := s.Campaigns.TestSend(ctx, p.AccountID, id, contactID, line)
		if err != nil {
			return nil, err
		}
		if s.Send.Wake != nil {
			s.Send.Wake(ctx, q.ChannelID)
		}
		return &struct{ Body QueuedMessageBody }{Body: toQueuedBody(q)}, nil
	}))
}
