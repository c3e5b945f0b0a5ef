package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/template"
)

// Started is what a start found: the campaign as it stands, and warnings for the caller (a
// receptive line chosen explicitly).
type Started struct {
	Campaign Campaign
	Warnings []string
}

// lines is what the line checks chose.
type lines struct {
	senders  []uuid.UUID
	warnings []string
	// limit is the smallest messaging limit among the senders (0: unlimited or unknown).
	limit int64
}

// checkLines checks the campaign's lines as they stand now (DESIGN §4 Channels, Campaigns):
// explicit lines must be active with the template approved (a receptive one is allowed with a
// warning); automatic selection takes the segment's active prospect lines of good (green)
// quality with the template approved, best first (highest throughput), and refuses (409) with
// fewer than MinAutoLines, saying what it found. Receptive lines are never picked
// automatically.
func (s *Service) checkLines(ctx context.Context, db store.DBTX, c Campaign) (lines, error) {
	t, err := s.templates.Get(ctx, c.AccountID, c.TemplateID)
	if err != nil {
		if fault.Is(err, fault.KindNotFound) {
			return lines{}, fault.Conflict("the campaign's template was deleted: choose another")
		}
		return lines{}, err
	}
	// Automatic selection picks again from the segment's lines (a scheduled campaign holds the
	// ones picked when it was scheduled, which may no longer be the best).
	ids := []uuid.UUID{}
	if c.LineMode == LinesExplicit {
		ids = c.SenderIds
	}
	rows, err := s.q.CampaignLines(ctx, db, store.CampaignLinesParams{AccountID: c.AccountID, ChannelType: c.ChannelType,
		Ids: ids, SegmentID: c.SegmentID})
	if err != nil {
		return lines{}, fmt.Errorf("read the lines of campaign %s: %w", c.ID, err)
	}
	var out lines
	if c.LineMode == LinesExplicit {
		for _, id := range c.SenderIds {
			i := slices.IndexFunc(rows, func(l store.CampaignLinesRow) bool { return l.ID == id })
			if i < 0 {
				return lines{}, fault.Conflict("the line " + id.String() + " no longer exists: edit the campaign's lines")
			}
			l := rows[i]
			switch {
			case !l.Active:
				return lines{}, fault.Conflict("the line " + l.Name + " is inactive: activate it or choose another")
			case !sendable(t, l.ID):
				return lines{}, fault.Conflict("the template is not approved in the library of the line " + l.Name)
			}
			if deref(l.LineKind) == "receptive" {
				out.warnings = append(out.warnings, "the line "+l.Name+" is receptive: it serves customers who write in, and a broadcast on it risks its quality and blocks")
			}
			out.senders = append(out.senders, l.ID)
			out.limit = minLimit(out.limit, l.MessagingLimit)
		}
		return out, nil
	}
	var good []store.CampaignLinesRow
	for _, l := range rows {
		if l.Active && deref(l.LineKind) == "prospect" && deref(l.QualityRating) == "green" && sendable(t, l.ID) {
			good = append(good, l)
		}
	}
	if len(good) < MinAutoLines {
		return lines{}, fault.Conflict(fmt.Sprintf("automatic line selection needs at least %d active prospect lines of good (green) quality in the segment, "+
			"with the template approved; the segment has %d: add lines to the segment or choose the lines explicitly", MinAutoLines, len(good)))
	}
	slices.SortStableFunc(good, func(a, b store.CampaignLinesRow) int {
		return int(deref32(b.ThroughputMps) - deref32(a.ThroughputMps))
	})
	for _, l := range good {
		out.senders = append(out.senders, l.ID)
		out.limit = minLimit(out.limit, l.MessagingLimit)
	}
	return out, nil
}

// minLimit is the smaller of the current limit (0: none yet) and a line's messaging limit
// (unlimited or unknown: no limit). The lines share their portfolio's limit, so the smallest
// one seen is the cautious reading.
func minLimit(cur int64, limit *string) int64 {
	n, err := strconv.ParseInt(deref(limit), 10, 64)
	if err != nil || n <= 0 {
		return cur
	}
	if cur == 0 || n < cur {
		return n
	}
	return cur
}

// Start starts a draft campaign: its lines are checked (409 with the reason when they do not
// pass), then, with a start time in the future, it is scheduled (a job at that time freezes
// the audience, checking the lines again) and emits campaign.scheduled, and
// campaign.limit_alert with the alert set when the audience it would freeze now passes the
// lines' messaging limit; otherwise the
// audience is frozen now and it runs (campaign.started, and campaign.limit_alert when the
// recipients pass the lines' messaging limit). Any other status is a 409.
func (s *Service) Start(ctx context.Context, accountID, id uuid.UUID) (Started, error) {
	var out Started
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		c, err := s.lock(ctx, tx, accountID, id)
		if err != nil {
			return err
		}
		if c.Status != StatusDraft {
			return fault.Conflict("the campaign is " + c.Status + ": only a draft is started (resume a paused one)")
		}
		ln, err := s.checkLines(ctx, tx, c)
		if err != nil {
			return err
		}
		out.Warnings = ln.warnings
		if c.StartAt != nil && c.StartAt.After(now) {
			job, err := s.jobs.InsertTx(ctx, tx, Args{AccountID: accountID, CampaignID: id}, &river.InsertOpts{ScheduledAt: *c.StartAt})
			if err != nil {
				return fmt.Errorf("enqueue the start of campaign %s: %w", id, err)
			}
			alert, alertJSON, err := s.scheduleAlert(ctx, tx, c, ln, now)
			if err != nil {
				return err
			}
			if err := s.q.SetCampaignStatus(ctx, tx, store.SetCampaignStatusParams{AccountID: accountID, ID: id, Status: StatusScheduled,
				SenderIds: ln.senders, Warnings: nonNilStrings(ln.warnings), LimitAlert: alertJSON, JobID: &job.Job.ID, Now: now}); err != nil {
				return fmt.Errorf("schedule campaign %s: %w", id, err)
			}
			if out.Campaign, err = s.get(ctx, tx, accountID, id); err != nil {
				return err
			}
			if err := emit(ctx, tx, EventScheduled, out.Campaign, now, nil); err != nil || alert == nil {
				return err
			}
			return emit(ctx, tx, EventLimitAlert, out.Campaign, now, map[string]any{"limit": alert.Limit, "recipients": alert.Recipients})
		}
		out.Campaign, err = s.freeze(ctx, tx, c, ln, now)
		return err
	})
	return out, err
}

// freeze writes the audience into campaign_recipients (freezeAudience streams a segment's;
// a retry run's is the failures it retries), stores the counts and what the line checks
// chose, moves the campaign to running and enqueues its senders.
func (s *Service) freeze(ctx context.Context, tx pgx.Tx, c Campaign, ln lines, now time.Time) (Campaign, error) {
	since := attendanceSince(c, now)
	var counts []reasonCount
	var err error
	if c.RetryOf != nil {
		counts, err = s.freezeRetry(ctx, tx, c, since, now)
	} else {
		counts, err = s.freezeAudience(ctx, tx, c, since, now)
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("freeze the audience of campaign %s: %w", c.ID, err)
	}
	excluded := make(map[string]int64, len(Reasons))
	for _, r := range Reasons {
		excluded[r] = 0
	}
	var recipients int64
	for _, n := range counts {
		if n.Reason == "" {
			recipients = n.N
		} else {
			excluded[n.Reason] = n.N
		}
	}
	exc, err := json.Marshal(excluded)
	if err != nil {
		return Campaign{}, fmt.Errorf("encode exclusions: %w", err)
	}
	var alert *LimitAlert
	var alertJSON []byte
	if ln.limit > 0 && recipients > ln.limit {
		alert = &LimitAlert{Limit: ln.limit, Recipients: recipients}
		if alertJSON, err = json.Marshal(alert); err != nil {
			return Campaign{}, fmt.Errorf("encode limit alert: %w", err)
		}
	}
	n32 := int32(recipients)
	if err := s.q.SetCampaignStatus(ctx, tx, store.SetCampaignStatusParams{AccountID: c.AccountID, ID: c.ID, Status: StatusRunning,
		SenderIds: ln.senders, Warnings: nonNilStrings(ln.warnings), LimitAlert: alertJSON, Recipients: &n32, Exclusions: exc,
		StartedAt: &now, Now: now}); err != nil {
		return Campaign{}, fmt.Errorf("start campaign %s: %w", c.ID, err)
	}
	out, err := s.get(ctx, tx, c.AccountID, c.ID)
	if err != nil {
		return Campaign{}, err
	}
	if err := emit(ctx, tx, EventStarted, out, now, map[string]any{"recipients": recipients, "exclusions": excluded}); err != nil {
		return Campaign{}, err
	}
	if alert != nil {
		if err := emit(ctx, tx, EventLimitAlert, out, now, map[string]any{"limit": alert.Limit, "recipients": alert.Recipients}); err != nil {
			return Campaign{}, err
		}
	}
	if recipients == 0 {
		// Nobody to send to: done at once.
		if _, err := s.q.CompleteCampaign(ctx, tx, store.CompleteCampaignParams{AccountID: c.AccountID, ID: c.ID, Now: &now}); err != nil {
			return Campaign{}, fmt.Errorf("complete campaign %s: %w", c.ID, err)
		}
		if out, err = s.get(ctx, tx, c.AccountID, c.ID); err != nil {
			return Campaign{}, err
		}
		return out, emit(ctx, tx, EventCompleted, out, now, nil)
	}
	return out, s.enqueueSenders(ctx, tx, out)
}

// freezeRetry inserts a retry run's recipients: the failed recipients of the campaign it
// retries, checked again, in one statement (a retry's audience is small next to a segment's).
func (s *Service) freezeRetry(ctx context.Context, tx pgx.Tx, c Campaign, since *time.Time, now time.Time) ([]reasonCount, error) {
	rows, err := s.q.FreezeRetryAudience(ctx, tx, store.FreezeRetryAudienceParams{AccountID: c.AccountID, CampaignID: c.ID,
		ServedSince: since, Now: now})
	out := make([]reasonCount, len(rows))
	for i, r := range rows {
		out[i] = reasonCount{Reason: r.Reason, N: r.N}
	}
	return out, err
}

// RunScheduled starts a scheduled campaign when its time has come on the injected clock: the
// lines are checked again (a campaign whose lines no longer pass fails with the reason,
// campaign.failed) and the audience is frozen. A campaign no longer scheduled (cancelled,
// already started) is left alone, so the job acts once; before its time it says how long is
// left.
func (s *Service) RunScheduled(ctx context.Context, accountID, id uuid.UUID) (wait time.Duration, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		c, err := s.lock(ctx, tx, accountID, id)
		if errors.Is(err, errNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if c.Status != StatusScheduled {
			return nil
		}
		if c.StartAt != nil && c.StartAt.After(now) {
			wait = c.StartAt.Sub(now)
			return nil
		}
		ln, err := s.checkLines(ctx, tx, c)
		if fe, ok := fault.As(err); ok {
			return s.fail(ctx, tx, c, fe.Error(), now)
		}
		if err != nil {
			return err
		}
		_, err = s.freeze(ctx, tx, c, ln, now)
		return err
	})
	return wait, err
}

// Fail records a scheduled campaign as failed with reason: what the job does when River gives
// up retrying its start, so that it does not stay scheduled forever.
func (s *Service) Fail(ctx context.Context, accountID, id uuid.UUID, reason string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.lock(ctx, tx, accountID, id)
		if errors.Is(err, errNotFound) {
			return nil
		}
		if err != nil || c.Status != StatusScheduled {
			return err
		}
		return s.fail(ctx, tx, c, reason, s.now())
	})
}

func (s *Service) fail(ctx context.Context, tx pgx.Tx, c Campaign, reason string, now time.Time) error {
	if err := s.q.SetCampaignStatus(ctx, tx, store.SetCampaignStatusParams{AccountID: c.AccountID, ID: c.ID, Status: StatusFailed,
		Reason: &reason, FinishedAt: &now, Now: now}); err != nil {
		return fmt.Errorf("fail campaign %s: %w", c.ID, err)
	}
	c.Status = StatusFailed
	return emit(ctx, tx, EventFailed, c, now, map[string]any{"reason": reason})
}

// transitions are the lifecycle moves by hand: from which statuses each goes, to what, and
// the event it emits.
var transitions = map[string]struct {
	from  []string
	to    string
	event string
}{
	"pause":  {from: []string{StatusRunning}, to: StatusPaused, event: EventPaused},
	"resume": {from: []string{StatusPaused}, to: StatusRunning, event: EventResumed},
	"cancel": {from: []string{StatusScheduled, StatusRunning, StatusPaused}, to: StatusCancelled, event: EventCancelled},
}

// Pause stops a running campaign (409 otherwise).
func (s *Service) Pause(ctx context.Context, accountID, id uuid.UUID) (Campaign, error) {
	return s.move(ctx, accountID, id, "pause")
}

// Resume continues a paused campaign (409 otherwise).
func (s *Service) Resume(ctx context.Context, accountID, id uuid.UUID) (Campaign, error) {
	return s.move(ctx, accountID, id, "resume")
}

// Cancel ends a scheduled, running or paused campaign for good, cancelling a waiting start
// job (409 otherwise: a draft is deleted instead).
func (s *Service) Cancel(ctx context.Context, accountID, id uuid.UUID) (Campaign, error) {
	return s.move(ctx, accountID, id, "cancel")
}

func (s *Service) move(ctx context.Context, accountID, id uuid.UUID, action string) (Campaign, error) {
	tr := transitions[action]
	var out Campaign
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		c, err := s.lock(ctx, tx, accountID, id)
		if err != nil {
			return err
		}
		if !slices.Contains(tr.from, c.Status) {
			return fault.Conflict(fmt.Sprintf("the campaign is %s: %s applies to a campaign that is %s", c.Status, action, strings.Join(tr.from, " or ")))
		}
		p := store.SetCampaignStatusParams{AccountID: accountID, ID: id, Status: tr.to, JobID: c.JobID, Now: now}
		if tr.to == StatusCancelled {
			if err := s.cancelJob(ctx, tx, c); err != nil {
				return err
			}
			p.JobID, p.FinishedAt = nil, &now
		}
		if err := s.q.SetCampaignStatus(ctx, tx, p); err != nil {
			return fmt.Errorf("%s campaign %s: %w", action, id, err)
		}
		if out, err = s.get(ctx, tx, accountID, id); err != nil {
			return err
		}
		if tr.to == StatusRunning {
			if err := s.q.SetFailureBase(ctx, tx, store.SetFailureBaseParams{AccountID: accountID, ID: id}); err != nil {
				return fmt.Errorf("resume campaign %s: %w", id, err)
			}
			if err := s.enqueueSenders(ctx, tx, out); err != nil {
				return err
			}
		}
		return emit(ctx, tx, tr.event, out, now, nil)
	})
	return out, err
}

// enqueueSenders enqueues a sender for each of a running campaign's lines, in the transaction
// that made it run (the leader's sweep is the safety net).
func (s *Service) enqueueSenders(ctx context.Context, tx pgx.Tx, c Campaign) error {
	if _, err := s.jobs.InsertManyTx(ctx, tx, sendJobs(c.AccountID, c.ID, c.SenderIds)); err != nil {
		return fmt.Errorf("enqueue the senders of campaign %s: %w", c.ID, err)
	}
	return nil
}

// TestSend sends the campaign's template, with its bindings, to one contact through the Send
// Message API's path (every rule applies: blocked, approval on the line, consent, paid-send
// stop), on lineID or else the campaign's first sender line. The caller wakes the line once
// the message is stored.
func (s *Service) TestSend(ctx context.Context, accountID, id, contactID uuid.UUID, lineID *uuid.UUID) (send.Queued, error) {
	c, err := s.Get(ctx, accountID, id)
	if err != nil {
		return send.Queued{}, err
	}
	if lineID == nil {
		if len(c.SenderIds) == 0 {
			return send.Queued{}, fault.Invalid("the campaign has no line yet (automatic selection picks them at the start): give channel_id",
				fault.FieldError{Field: "body.channel_id", Message: "is required for a campaign without lines"})
		}
		lineID = &c.SenderIds[0]
	}
	t, err := s.templates.Get(ctx, accountID, c.TemplateID)
	if err != nil {
		return send.Queued{}, err
	}
	t.Bindings, _ = template.Bind(t, c.Binds, nil, "")
	r, err := s.templates.RenderFor(ctx, accountID, t, contactID)
	if err != nil {
		return send.Queued{}, err
	}
	return s.send.Send(ctx, s.pool, send.Request{AccountID: accountID, ContactID: &contactID, ChannelID: *lineID,
		TemplateID: &c.TemplateID, Variables: r.Values})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func deref32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
