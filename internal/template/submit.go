package template

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/fake"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp"
)

// Credential keys a library channel's adapter reads.
const (
	// CredAccessToken is a WhatsApp Cloud API channel's access token.
	CredAccessToken = "access_token"
	// CredApproveAfter is how long a fake channel's provider takes to approve a template (a
	// Go duration such as "30s" or "10m"); empty or "0s" approves at once.
	CredApproveAfter = "approve_after"
)

// Submit sends the template to the provider of each library channel not yet submitted and
// stores each provider template id and first status. Library channels of one WhatsApp
// business account (same WABA id) share one submission: the provider knows a template by
// (business account, name, language). A channel whose submission fails keeps status draft
// and records the provider's code and reason in its error, and can be submitted again.
// A template whose every library channel was already submitted (pending or reviewed) is a
// 409: resubmitting would be refused by the Cloud API as a duplicate name and language.
//
// The template row is locked while the providers answer, so two concurrent submissions
// cannot both reach a provider.
func (s *Service) Submit(ctx context.Context, accountID, id uuid.UUID) (Template, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.GetTemplateForUpdate(ctx, tx, store.GetTemplateForUpdateParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("lock template %s: %w", id, err)
		}
		t := fromRow(row)
		chs, err := s.q.ListTemplateChannels(ctx, tx, store.ListTemplateChannelsParams{AccountID: accountID, TemplateIds: []uuid.UUID{id}})
		if err != nil {
			return fmt.Errorf("list template channels: %w", err)
		}
		if len(chs) == 0 {
			return fault.Invalid("the template's library is empty", fault.FieldError{Field: "channel_ids", Message: "add the WhatsApp numbers to submit it to"})
		}
		// Group by business account; a group already submitted lends its id and verdict.
		type group struct {
			done  *store.ListTemplateChannelsRow
			draft []store.ListTemplateChannelsRow
		}
		groups := map[string]*group{}
		var order []string
		for _, c := range chs {
			key := c.ChannelID.String()
			if c.ChannelProvider == "whatsapp_cloud" && c.WabaID != "" {
				key = "waba:" + c.WabaID
			}
			g, ok := groups[key]
			if !ok {
				g = &group{}
				groups[key] = g
				order = append(order, key)
			}
			if c.Status == StatusDraft {
				g.draft = append(g.draft, c)
			} else if g.done == nil {
				g.done = &c
			}
		}
		now := s.clock.Now()
		submitted := 0
		for _, key := range order {
			g := groups[key]
			if len(g.draft) == 0 {
				continue
			}
			submitted++
			var res provider.Submitted
			var approveAfter time.Duration
			var subErr error
			if g.done != nil && g.done.ProviderTemplateID != nil {
				res = provider.Submitted{ID: *g.done.ProviderTemplateID, Status: g.done.Status}
			} else {
				res, approveAfter, subErr = s.submitTo(ctx, accountID, g.draft[0].ChannelID, t)
			}
			for _, c := range g.draft {
				if subErr != nil {
					msg := describe(subErr)
					if err := s.q.SetTemplateChannelError(ctx, tx, store.SetTemplateChannelErrorParams{
						AccountID: accountID, TemplateID: id, ChannelID: c.ChannelID, Error: &msg}); err != nil {
						return fmt.Errorf("record submission error: %w", err)
					}
					continue
				}
				status := providerStatus(res.Status)
				if err := s.q.SetTemplateChannelSubmitted(ctx, tx, store.SetTemplateChannelSubmittedParams{
					AccountID: accountID, TemplateID: id, ChannelID: c.ChannelID, Status: status, ProviderTemplateID: &res.ID, Now: now,
				}); err != nil {
					return fmt.Errorf("record submission: %w", err)
				}
			}
			if subErr == nil && approveAfter > 0 && providerStatus(res.Status) == StatusPending {
				if s.Enqueuer == nil {
					return errors.New("template service has no job enqueuer")
				}
				if _, err := s.Enqueuer.InsertTx(ctx, tx, ReviewArgs{AccountID: accountID, ProviderTemplateID: res.ID, Due: now.Add(approveAfter)},
					&river.InsertOpts{ScheduledAt: now.Add(approveAfter)}); err != nil {
					return fmt.Errorf("schedule fake review: %w", err)
				}
			}
		}
		if submitted == 0 {
			return fault.Conflict("the template was already submitted to every channel of its library",
				fault.FieldError{Field: "status", Message: "add a channel to the library to submit it there", Value: t.Status})
		}
		return s.q.RefreshTemplateStatus(ctx, tx, store.RefreshTemplateStatusParams{AccountID: accountID, Ids: []uuid.UUID{id}, Now: now})
	})
	if err != nil {
		return Template{}, err
	}
	return s.Get(ctx, accountID, id)
}

// submitTo submits t through the adapter of one channel; for the fake provider it also says
// after how long it approves.
func (s *Service) submitTo(ctx context.Context, accountID, channelID uuid.UUID, t Template) (provider.Submitted, time.Duration, error) {
	ch, err := s.channels.Get(ctx, accountID, channelID)
	if err != nil {
		return provider.Submitted{}, 0, err
	}
	creds, err := s.channels.Credentials(ctx, accountID, channelID)
	if err != nil {
		return provider.Submitted{}, 0, err
	}
	var sub provider.TemplateSubmitter
	var after time.Duration
	switch ch.Provider {
	case "whatsapp_cloud":
		sub = whatsapp.New(whatsapp.Config{BaseURL: s.WhatsAppBaseURL, WABAID: ch.WABAID, PhoneNumberID: ch.PhoneNumberID, AccessToken: creds[CredAccessToken]})
	case "fake":
		if v := creds[CredApproveAfter]; v != "" {
			if after, err = time.ParseDuration(v); err != nil || after < 0 {
				return provider.Submitted{}, 0, &provider.Error{Code: "bad_configuration", Reason: fmt.Sprintf("channel credential %s %q is not a duration like 30s", CredApproveAfter, v)}
			}
		}
		sub = fake.New(fake.Config{ApproveAfter: after, Clock: s.clock})
	default:
		return provider.Submitted{}, 0, &provider.Error{Code: "unsupported", Reason: fmt.Sprintf("provider %s takes no templates", ch.Provider)}
	}
	res, err := sub.SubmitTemplate(ctx, Spec(t))
	return res, after, err
}

// describe writes a submission failure for the channel's error field.
func describe(err error) string {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe.Code + ": " + pe.Reason
	}
	if f, ok := fault.As(err); ok {
		return f.Message
	}
	return "provider unreachable: " + err.Error()
}

// providerStatus maps a submission answer's status onto ours (pending unless told).
func providerStatus(s string) string {
	switch s {
	case StatusApproved, StatusRejected, StatusPaused, StatusDisabled:
		return s
	}
	return StatusPending
}
