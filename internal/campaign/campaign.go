// Package campaign holds campaigns (DESIGN §4 "Campaigns", issue 8): a broadcast of an
// approved template to a segment's audience, narrowed by filters, on sender lines, at a pace.
// This package stores and edits them, checks their lines, moves their lifecycle (draft,
// scheduled, running, paused, completed, cancelled, failed) and, at the start, freezes the
// audience into campaign_recipients in one set-based statement, counting who is left out and
// why. Sending the recipients in staged batches builds on the frozen rows.
package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/segment"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/tag"
	"github.com/conversa-hq/conversa/internal/template"
)

// The statuses of a campaign (DESIGN §4 lifecycle).
const (
	StatusDraft     = "draft"
	StatusScheduled = "scheduled"
	StatusRunning   = "running"
	StatusPaused    = "paused"
	StatusCompleted = "completed"
	StatusCancelled = "cancelled"
	StatusFailed    = "failed"
)

// The events campaigns emit.
const (
	EventCreated    = "campaign.created"
	EventScheduled  = "campaign.scheduled"
	EventStarted    = "campaign.started"
	EventPaused     = "campaign.paused"
	EventResumed    = "campaign.resumed"
	EventCancelled  = "campaign.cancelled"
	EventFailed     = "campaign.failed"
	EventLimitAlert = "campaign.limit_alert"
)

// Reasons a member of the segment is left out of the frozen audience, in the order the
// freeze applies them: a contact is counted under the first that holds.
var Reasons = []string{"filters", "blocked", "broadcast_off", "no_consent", "no_phone", "in_attendance"}

// Line modes.
const (
	LinesExplicit  = "explicit"
	LinesAutomatic = "automatic"
)

// Limits.
const (
	// MinAutoLines is how many good prospect lines automatic selection needs (DESIGN §4).
	MinAutoLines = 3
	// MaxSenders bounds the explicit lines of a campaign.
	MaxSenders = 50
	// MaxAhead is how far ahead a campaign may be scheduled.
	MaxAhead = 366 * 24 * time.Hour
	// MaxAttendanceHours bounds "served in the last N hours" (30 days).
	MaxAttendanceHours = 720
	// MaxIntervalMinutes bounds the pacing interval (a day).
	MaxIntervalMinutes = 1440
)

// Input is a campaign as created or edited.
type Input struct {
	Name string
	// ChannelType is the kind of lines it sends on; only whatsapp so far ("" is whatsapp).
	ChannelType string
	SegmentID   uuid.UUID
	// Filters narrow the segment's members, in the segment rules' language.
	Filters segment.Rules
	// ExplicitConsent leaves out contacts whose marketing consent was not given explicitly.
	ExplicitConsent bool
	// SenderIDs are the lines chosen explicitly; none: automatic selection at the start.
	SenderIDs  []uuid.UUID
	TemplateID uuid.UUID
	// Bindings bind variables over the template's own bindings, by variable location.
	Bindings map[string]template.Binding
	// StartAt schedules the start; nil starts when asked.
	StartAt *time.Time
	// PacePercent of the recipients every PaceIntervalMinutes (0 or 100: all at once).
	PacePercent         int
	PaceIntervalMinutes *int32
	// Attendance is include (default) or exclude: leave out contacts served in the last
	// AttendanceHours.
	Attendance      string
	AttendanceHours *int32
	// WindowStart and WindowEnd ("HH:MM", in TimeZone) bound when sends go out; both empty:
	// any time. The window may cross midnight.
	WindowStart, WindowEnd string
	// TimeZone is the window's IANA zone; America/Sao_Paulo when empty.
	TimeZone string
	// MaxFailurePercent pauses the campaign by itself when more of its sends fail (nil: 20;
	// 0: never).
	MaxFailurePercent *int32
}

// DefaultMaxFailurePercent is the failure rate past which a campaign pauses by itself.
const DefaultMaxFailurePercent = 20

// DefaultTimeZone is the delivery window's zone when none is given, and where reports tell
// times and days when nothing else says: the users are Brazilian.
const DefaultTimeZone = "America/Sao_Paulo"

// windowMinute reads "HH:MM" as minutes of the day.
func windowMinute(s string) (int16, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return int16(t.Hour()*60 + t.Minute()), true
}

// WindowText writes minutes of the day as "HH:MM".
func WindowText(m int16) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// LimitAlert says the audience would pass the lines' messaging limit.
type LimitAlert struct {
	// Limit is the smallest messaging limit among the sender lines (unique users in 24 h).
	Limit      int64 `json:"limit"`
	Recipients int64 `json:"recipients"`
}

// Campaign is a stored campaign with its JSON columns decoded.
type Campaign struct {
	store.Campaign
	FilterRules segment.Rules
	Binds       map[string]template.Binding
	Alert       *LimitAlert
	// Excluded counts the members left out at the freeze, by reason (nil before it).
	Excluded map[string]int64
}

// Service stores campaigns and moves their lifecycle, scoped to one account per call.
type Service struct {
	pool      *pgxpool.Pool
	q         *store.Queries
	clock     clock.Clock
	templates *template.Service
	send      *send.Service
	// jobs inserts and cancels scheduled starts in the caller's transaction: an insert-only
	// River client (the workers run in whatever process runs River).
	jobs *river.Client[pgx.Tx]
}

// NewService returns a Service on pool and clk's time, reading templates through templates and
// test-sending through sender, so a test message obeys every rule of the Send Message API.
func NewService(pool *pgxpool.Pool, clk clock.Clock, templates *template.Service, sender *send.Service) *Service {
	jobs, err := river.NewClient(riverpgxv5.New(nil), &river.Config{})
	if err != nil {
		panic(fmt.Sprintf("insert-only river client: %v", err)) // only a bad config fails, and this one is fixed
	}
	return &Service{pool: pool, q: store.New(), clock: clk, templates: templates, send: sender, jobs: jobs}
}

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

var errNotFound = fault.NotFound("campaign")

// prepared is a checked input ready to store.
type prepared struct {
	in        Input
	winStart  int16
	winEnd    int16
	maxFail   int16
	filters   []byte
	matchPath *string
	bindings  []byte
	lineMode  string
}

// prepare checks in (422 naming every bad field; references of another account are 422 too,
// as a body's foreign ids are in this API) and compiles the filters.
func (s *Service) prepare(ctx context.Context, db store.DBTX, accountID uuid.UUID, in Input, now time.Time) (prepared, error) {
	var errs []fault.FieldError
	bad := func(field, msg string, v any) {
		errs = append(errs, fault.FieldError{Field: "body." + field, Message: msg, Value: v})
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 200 || strings.ContainsRune(in.Name, 0) {
		bad("name", "must have 1 to 200 characters", in.Name)
	}
	if in.ChannelType == "" {
		in.ChannelType = "whatsapp"
	}
	if in.ChannelType != "whatsapp" {
		bad("channel_type", "only whatsapp campaigns are supported", in.ChannelType)
	}
	if in.StartAt != nil {
		at := in.StartAt.UTC().Truncate(time.Microsecond)
		in.StartAt = &at
		switch {
		case !at.After(now):
			bad("start_at", "must be in the future", at)
		case at.After(now.Add(MaxAhead)):
			bad("start_at", fmt.Sprintf("must be within %d days", int(MaxAhead.Hours()/24)), at)
		}
	}
	if in.PacePercent == 0 {
		in.PacePercent = 100
	}
	switch {
	case in.PacePercent < 1 || in.PacePercent > 100:
		bad("pace_percent", "must be between 1 and 100", in.PacePercent)
	case in.PaceIntervalMinutes != nil && (*in.PaceIntervalMinutes < 1 || *in.PaceIntervalMinutes > MaxIntervalMinutes):
		bad("pace_interval_minutes", fmt.Sprintf("must be between 1 and %d", MaxIntervalMinutes), *in.PaceIntervalMinutes)
	case in.PacePercent < 100 && in.PaceIntervalMinutes == nil:
		bad("pace_interval_minutes", "is required when pace_percent is below 100", nil)
	}
	if in.Attendance == "" {
		in.Attendance = "include"
	}
	switch in.Attendance {
	case "include":
		if in.AttendanceHours != nil {
			bad("attendance_hours", "only applies with attendance exclude", *in.AttendanceHours)
		}
	case "exclude":
		if in.AttendanceHours == nil || *in.AttendanceHours < 1 || *in.AttendanceHours > MaxAttendanceHours {
			bad("attendance_hours", fmt.Sprintf("must be between 1 and %d with attendance exclude", MaxAttendanceHours), in.AttendanceHours)
		}
	default:
		bad("attendance", "must be include or exclude", in.Attendance)
	}
	var winStart, winEnd int16
	if in.WindowStart != "" || in.WindowEnd != "" {
		var okStart, okEnd bool
		winStart, okStart = windowMinute(in.WindowStart)
		winEnd, okEnd = windowMinute(in.WindowEnd)
		switch {
		case !okStart:
			bad("window_start", "must be a time of day as HH:MM (with window_end)", in.WindowStart)
		case !okEnd:
			bad("window_end", "must be a time of day as HH:MM (with window_start)", in.WindowEnd)
		case winStart == winEnd:
			bad("window_end", "must differ from window_start (leave both out for no window)", in.WindowEnd)
		}
	}
	if in.TimeZone == "" {
		in.TimeZone = DefaultTimeZone
	}
	if _, err := time.LoadLocation(in.TimeZone); err != nil || in.TimeZone == "Local" {
		bad("time_zone", "must be an IANA time zone such as America/Sao_Paulo", in.TimeZone)
	}
	maxFail := int32(DefaultMaxFailurePercent)
	if in.MaxFailurePercent != nil {
		maxFail = *in.MaxFailurePercent
		if maxFail < 0 || maxFail > 100 {
			bad("max_failure_percent", "must be between 0 (never pause) and 100", maxFail)
		}
	}
	senders := []uuid.UUID{}
	for _, id := range in.SenderIDs {
		if !slices.Contains(senders, id) {
			senders = append(senders, id)
		}
	}
	in.SenderIDs = senders
	if len(senders) > MaxSenders {
		bad("sender_ids", fmt.Sprintf("at most %d lines", MaxSenders), len(senders))
	}
	compiled, ruleErrs, err := segment.CompileFilter(ctx, db, accountID, in.Filters, "body.filters")
	if err != nil {
		return prepared{}, err
	}
	errs = append(errs, ruleErrs...)
	refs, err := s.q.CampaignRefs(ctx, db, store.CampaignRefsParams{AccountID: accountID, SegmentID: in.SegmentID, TemplateID: in.TemplateID})
	if err != nil {
		return prepared{}, fmt.Errorf("check campaign references: %w", err)
	}
	if !refs.SegmentOk {
		bad("segment_id", "not a segment of the account", in.SegmentID.String())
	}
	if !refs.TemplateOk {
		bad("template_id", "not a template of the account", in.TemplateID.String())
	} else {
		t, err := s.templates.Get(ctx, accountID, in.TemplateID)
		if err != nil {
			return prepared{}, err
		}
		defs, err := customfield.Load(ctx, db, accountID)
		if err != nil {
			return prepared{}, err
		}
		_, bindErrs := template.Bind(t, in.Bindings, defs, "body.bindings")
		errs = append(errs, bindErrs...)
		senderErrs, err := s.checkSenders(ctx, db, accountID, in, t)
		if err != nil {
			return prepared{}, err
		}
		errs = append(errs, senderErrs...)
	}
	if len(errs) > 0 {
		return prepared{}, fault.Invalid("invalid campaign", errs...)
	}
	rules := compiled.Rules
	if rules.TagsAny, err = tag.Resolve(ctx, db, accountID, rules.TagsAny, now); err != nil {
		return prepared{}, err
	}
	if rules.TagsAll, err = tag.Resolve(ctx, db, accountID, rules.TagsAll, now); err != nil {
		return prepared{}, err
	}
	in.Filters = rules
	p := prepared{in: in, lineMode: LinesAutomatic, winStart: winStart, winEnd: winEnd, maxFail: int16(maxFail)}
	if len(senders) > 0 {
		p.lineMode = LinesExplicit
	}
	if compiled.MatchPath != "" {
		p.matchPath = &compiled.MatchPath
	}
	if p.filters, err = json.Marshal(rules); err != nil {
		return prepared{}, fmt.Errorf("encode filters: %w", err)
	}
	if in.Bindings == nil {
		in.Bindings = map[string]template.Binding{}
		p.in.Bindings = in.Bindings
	}
	if p.bindings, err = json.Marshal(in.Bindings); err != nil {
		return prepared{}, fmt.Errorf("encode bindings: %w", err)
	}
	return p, nil
}

// checkSenders refuses explicit lines that are not the account's lines of the type, or whose
// library lacks the template approved; with automatic selection, the template must be approved
// on some line.
func (s *Service) checkSenders(ctx context.Context, db store.DBTX, accountID uuid.UUID, in Input, t template.Template) ([]fault.FieldError, error) {
	if len(in.SenderIDs) == 0 {
		if !slices.ContainsFunc(t.Channels, func(c template.ChannelState) bool { return c.Status == template.StatusApproved }) {
			return []fault.FieldError{{Field: "body.template_id", Message: "the template is approved on no line: submit it and wait for approval", Value: t.ID.String()}}, nil
		}
		return nil, nil
	}
	lines, err := s.q.CampaignLines(ctx, db, store.CampaignLinesParams{AccountID: accountID, ChannelType: in.ChannelType, Ids: in.SenderIDs})
	if err != nil {
		return nil, fmt.Errorf("read the campaign's lines: %w", err)
	}
	var errs []fault.FieldError
	for i, id := range in.SenderIDs {
		field := fmt.Sprintf("body.sender_ids[%d]", i)
		switch {
		case !slices.ContainsFunc(lines, func(l store.CampaignLinesRow) bool { return l.ID == id }):
			errs = append(errs, fault.FieldError{Field: field, Message: "not a " + in.ChannelType + " line of the account", Value: id.String()})
		case !sendable(t, id):
			errs = append(errs, fault.FieldError{Field: field, Message: "the template is not approved in this line's library", Value: id.String()})
		}
	}
	return errs, nil
}

func sendable(t template.Template, lineID uuid.UUID) bool {
	_, ok := t.Sendable(lineID)
	return ok
}

// Create stores a draft campaign and emits campaign.created.
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, in Input) (out Campaign, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out, err = s.CreateTx(ctx, tx, accountID, in)
		return err
	})
	return out, err
}

// CreateTx is Create in the caller's transaction, which an Idempotency-Key's stored answer
// shares so that a retried call creates nothing twice.
func (s *Service) CreateTx(ctx context.Context, tx pgx.Tx, accountID uuid.UUID, in Input) (Campaign, error) {
	now := s.now()
	p, err := s.prepare(ctx, tx, accountID, in, now)
	if err != nil {
		return Campaign{}, err
	}
	id, err := s.q.InsertCampaign(ctx, tx, insertParams(accountID, uuid.Must(uuid.NewV7()), p, now))
	if err != nil {
		return Campaign{}, fmt.Errorf("store campaign: %w", err)
	}
	out, err := s.get(ctx, tx, accountID, id)
	if err != nil {
		return Campaign{}, err
	}
	return out, emit(ctx, tx, EventCreated, out, now, nil)
}

func insertParams(accountID, id uuid.UUID, p prepared, now time.Time) store.InsertCampaignParams {
	return store.InsertCampaignParams{AccountID: accountID, ID: id, Name: p.in.Name, ChannelType: p.in.ChannelType,
		SegmentID: p.in.SegmentID, Filters: p.filters, TagsAny: p.in.Filters.TagsAny,
		TagsAll: p.in.Filters.TagsAll, Origins: p.in.Filters.Origins, ChannelIdsFilter: p.in.Filters.Channels,
		MatchPath: p.matchPath, ExplicitConsent: p.in.ExplicitConsent, LineMode: p.lineMode, SenderIds: p.in.SenderIDs,
		TemplateID: p.in.TemplateID, Bindings: p.bindings, StartTime: p.in.StartAt, PacePercent: int16(p.in.PacePercent),
		IntervalMinutes: p.in.PaceIntervalMinutes, AttendanceMode: p.in.Attendance, AttHours: p.in.AttendanceHours,
		WindowStart: p.winStart, WindowEnd: p.winEnd, TimeZone: p.in.TimeZone, MaxFailurePercent: p.maxFail, Now: now}
}

// Update replaces what a campaign that has not started says (draft or scheduled: edit and
// reschedule before the start). A scheduled campaign keeps a start time in the future and its
// start job moves with it. After the start it is a 409. With ifVersion (the If-Match of
// DESIGN §5), the change is refused (412) when the campaign's version is another: someone
// edited, started or rescheduled it since the caller read it.
func (s *Service) Update(ctx context.Context, accountID, id uuid.UUID, in Input, ifVersion *int) (Campaign, error) {
	var out Campaign
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		cur, err := s.lock(ctx, tx, accountID, id)
		if err != nil {
			return err
		}
		if ifVersion != nil && *ifVersion != int(cur.Version) {
			return fault.PreconditionFailed("the campaign changed since it was read (If-Match does not match its ETag)")
		}
		if cur.Status != StatusDraft && cur.Status != StatusScheduled {
			return fault.Conflict("the campaign is " + cur.Status + ": only a draft or scheduled campaign is edited")
		}
		if cur.Status == StatusScheduled && in.StartAt == nil {
			return fault.Invalid("invalid campaign", fault.FieldError{Field: "body.start_at", Message: "a scheduled campaign needs a start time: cancel it to start by hand"})
		}
		p, err := s.prepare(ctx, tx, accountID, in, now)
		if err != nil {
			return err
		}
		ip := insertParams(accountID, id, p, now)
		if _, err := s.q.UpdateCampaign(ctx, tx, store.UpdateCampaignParams{AccountID: accountID, ID: id, Name: ip.Name,
			ChannelType: ip.ChannelType, SegmentID: ip.SegmentID, Filters: ip.Filters, TagsAny: ip.TagsAny,
			TagsAll: ip.TagsAll, Origins: ip.Origins, ChannelIdsFilter: ip.ChannelIdsFilter, MatchPath: ip.MatchPath,
			ExplicitConsent: ip.ExplicitConsent, LineMode: ip.LineMode, SenderIds: ip.SenderIds, TemplateID: ip.TemplateID,
			Bindings: ip.Bindings, StartTime: ip.StartTime, PacePercent: ip.PacePercent, IntervalMinutes: ip.IntervalMinutes,
			AttendanceMode: ip.AttendanceMode, AttHours: ip.AttHours, WindowStart: ip.WindowStart, WindowEnd: ip.WindowEnd,
			TimeZone: ip.TimeZone, MaxFailurePercent: ip.MaxFailurePercent, Now: now}); err != nil {
			return fmt.Errorf("update campaign %s: %w", id, err)
		}
		if cur.Status == StatusScheduled && !cur.StartAt.Equal(*p.in.StartAt) {
			if err := s.reschedule(ctx, tx, cur, *p.in.StartAt, now); err != nil {
				return err
			}
		}
		out, err = s.get(ctx, tx, accountID, id)
		return err
	})
	return out, err
}

// reschedule moves a scheduled campaign's start job to at.
func (s *Service) reschedule(ctx context.Context, tx pgx.Tx, c Campaign, at, now time.Time) error {
	if err := s.cancelJob(ctx, tx, c); err != nil {
		return err
	}
	job, err := s.jobs.InsertTx(ctx, tx, Args{AccountID: c.AccountID, CampaignID: c.ID}, &river.InsertOpts{ScheduledAt: at})
	if err != nil {
		return fmt.Errorf("enqueue the start of campaign %s: %w", c.ID, err)
	}
	return s.q.SetCampaignStatus(ctx, tx, store.SetCampaignStatusParams{AccountID: c.AccountID, ID: c.ID, Status: StatusScheduled,
		JobID: &job.Job.ID, Now: now})
}

func (s *Service) cancelJob(ctx context.Context, tx pgx.Tx, c Campaign) error {
	if c.JobID == nil {
		return nil
	}
	if _, err := s.jobs.JobCancelTx(ctx, tx, *c.JobID); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
		return fmt.Errorf("cancel the start job of campaign %s: %w", c.ID, err)
	}
	return nil
}

// Get returns one campaign of the account.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Campaign, error) {
	return s.get(ctx, s.pool, accountID, id)
}

func (s *Service) get(ctx context.Context, db store.DBTX, accountID, id uuid.UUID) (Campaign, error) {
	row, err := s.q.GetCampaign(ctx, db, store.GetCampaignParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Campaign{}, errNotFound
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("read campaign %s: %w", id, err)
	}
	return decode(row)
}

func (s *Service) lock(ctx context.Context, tx pgx.Tx, accountID, id uuid.UUID) (Campaign, error) {
	return lockCampaign(ctx, tx, s.q, accountID, id)
}

// lockCampaign reads a campaign locked until tx ends: lifecycle changes and the senders'
// claims take turns on it.
func lockCampaign(ctx context.Context, tx pgx.Tx, q *store.Queries, accountID, id uuid.UUID) (Campaign, error) {
	row, err := q.LockCampaign(ctx, tx, store.LockCampaignParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Campaign{}, errNotFound
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("lock campaign %s: %w", id, err)
	}
	return decode(row)
}

// List returns the account's campaigns, newest first, after the campaign named by after, in
// status when given.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, status string, after *uuid.UUID, limit int) ([]Campaign, error) {
	var st *string
	if status != "" {
		st = &status
	}
	rows, err := s.q.ListCampaigns(ctx, s.pool, store.ListCampaignsParams{AccountID: accountID, After: after, Status: st, Lim: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	out := make([]Campaign, len(rows))
	for i, r := range rows {
		if out[i], err = decode(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Delete removes a draft campaign; any other is a 409 (it has a history: cancel it instead).
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	n, err := s.q.DeleteDraftCampaign(ctx, s.pool, store.DeleteDraftCampaignParams{AccountID: accountID, ID: id})
	if err != nil {
		return fmt.Errorf("delete campaign %s: %w", id, err)
	}
	if n == 0 {
		c, err := s.Get(ctx, accountID, id)
		if err != nil {
			return err
		}
		return fault.Conflict("the campaign is " + c.Status + ": only a draft is deleted (cancel it instead)")
	}
	return nil
}

func decode(r store.Campaign) (Campaign, error) {
	c := Campaign{Campaign: r, Binds: map[string]template.Binding{}}
	if err := json.Unmarshal(r.Filters, &c.FilterRules); err != nil {
		return Campaign{}, fmt.Errorf("decode filters of campaign %s: %w", r.ID, err)
	}
	if err := json.Unmarshal(r.Bindings, &c.Binds); err != nil {
		return Campaign{}, fmt.Errorf("decode bindings of campaign %s: %w", r.ID, err)
	}
	if len(r.LimitAlert) > 0 {
		c.Alert = &LimitAlert{}
		if err := json.Unmarshal(r.LimitAlert, c.Alert); err != nil {
			return Campaign{}, fmt.Errorf("decode limit alert of campaign %s: %w", r.ID, err)
		}
	}
	if len(r.Exclusions) > 0 {
		if err := json.Unmarshal(r.Exclusions, &c.Excluded); err != nil {
			return Campaign{}, fmt.Errorf("decode exclusions of campaign %s: %w", r.ID, err)
		}
	}
	return c, nil
}

// emit writes a campaign's event: what it is and how it stands, with extra data.
func emit(ctx context.Context, db store.DBTX, typ string, c Campaign, now time.Time, extra map[string]any) error {
	id := c.ID
	data := map[string]any{"campaign_id": c.ID, "name": c.Name, "status": c.Status, "segment_id": c.SegmentID,
		"template_id": c.TemplateID, "start_at": c.StartAt, "sender_ids": c.SenderIds}
	for k, v := range extra {
		data[k] = v
	}
	return event.Emit(ctx, db, c.AccountID, now, event.New{Type: typ, SubjectID: &id, Data: data})
}
