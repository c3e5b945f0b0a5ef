// Package segment keeps an account's segments (carteiras): portfolios of contacts, made of
// static members and of rules on tags and custom fields evaluated in SQL, with the priority,
// SLA and distribution of their service, the departments and users who serve them, and tags
// their members get automatically.
package segment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/tag"
)

// Segment is a portfolio of contacts.
type Segment struct {
	ID            uuid.UUID
	Name          string
	Priority      int
	SLAMinutes    *int
	Distribution  string
	AutoTags      []string
	Rules         Rules
	DepartmentIDs []uuid.UUID
	UserIDs       []uuid.UUID
	CreatedAt     time.Time
	UpdatedAt     time.Time

	hasRules  bool
	tagsAny   []string
	tagsAll   []string
	origins   []string
	channels  []uuid.UUID
	matchPath string
}

// Input creates or replaces a segment.
type Input struct {
	Name          string
	Priority      int
	SLAMinutes    *int
	Distribution  string
	AutoTags      []string
	Rules         Rules
	DepartmentIDs []uuid.UUID
	UserIDs       []uuid.UUID
}

// Member is a contact of a segment, as listed.
type Member struct {
	ID           uuid.UUID
	Name         string
	CustomerCode *string
}

// Ref names a segment a contact is in.
type Ref struct {
	ID       uuid.UUID
	Name     string
	Priority int
}

// Service manages segments, scoped to one account.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk}
}

var errNotFound = fault.NotFound("segment")

// prepared is an Input checked and compiled for storage.
type prepared struct {
	in        Input
	rules     []byte
	matchPath *string
}

func (s *Service) prepare(ctx context.Context, db store.DBTX, accountID uuid.UUID, in Input) (prepared, error) {
	var errs []fault.FieldError
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 100 {
		errs = append(errs, fault.FieldError{Field: "name", Message: "must have 1 to 100 characters"})
	}
	if in.Priority == 0 {
		in.Priority = 50
	}
	if in.Priority < 1 || in.Priority > 100 {
		errs = append(errs, fault.FieldError{Field: "priority", Message: "must be between 1 and 100", Value: in.Priority})
	}
	if in.SLAMinutes != nil && (*in.SLAMinutes < 1 || *in.SLAMinutes > 60*24*30) {
		errs = append(errs, fault.FieldError{Field: "sla_minutes", Message: "must be between 1 and 43200", Value: *in.SLAMinutes})
	}
	if in.Distribution == "" {
		in.Distribution = "manual"
	}
	if in.Distribution != "manual" && in.Distribution != "automatic" {
		errs = append(errs, fault.FieldError{Field: "distribution", Message: "must be manual or automatic", Value: in.Distribution})
	}
	autoTags := []string{}
	for i, t := range in.AutoTags {
		c, ok := tag.CleanName(t)
		if !ok {
			errs = append(errs, fault.FieldError{Field: fmt.Sprintf("auto_tags[%d]", i), Message: "not a tag name", Value: t})
			continue
		}
		autoTags = append(autoTags, c)
	}
	c, ruleErrs, err := CompileFilter(ctx, db, accountID, in.Rules, "rules")
	if err != nil {
		return prepared{}, err
	}
	rules, path := c.Rules, c.MatchPath
	errs = append(errs, ruleErrs...)
	if len(errs) > 0 {
		return prepared{}, fault.Invalid("invalid segment", errs...)
	}
	now := s.clock.Now()
	if in.AutoTags, err = tag.Resolve(ctx, db, accountID, autoTags, now); err != nil {
		return prepared{}, err
	}
	if rules.TagsAny, err = tag.Resolve(ctx, db, accountID, rules.TagsAny, now); err != nil {
		return prepared{}, err
	}
	if rules.TagsAll, err = tag.Resolve(ctx, db, accountID, rules.TagsAll, now); err != nil {
		return prepared{}, err
	}
	in.Rules = rules
	p := prepared{in: in}
	if p.rules, err = json.Marshal(rules); err != nil {
		return prepared{}, fmt.Errorf("encode rules: %w", err)
	}
	if path != "" {
		p.matchPath = &path
	}
	return p, nil
}

// Create adds a segment. Names are unique in the account, ignoring case.
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, in Input) (Segment, error) {
	var id uuid.UUID
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := s.prepare(ctx, tx, accountID, in)
		if err != nil {
			return err
		}
		id, err = s.q.CreateSegment(ctx, tx, store.CreateSegmentParams{
			AccountID: accountID, ID: uuid.Must(uuid.NewV7()), Name: p.in.Name, Priority: int16(p.in.Priority),
			SlaMinutes: int32p(p.in.SLAMinutes), Distribution: p.in.Distribution, AutoTags: p.in.AutoTags, Rules: p.rules,
			HasRules: !p.in.Rules.Empty(), TagsAny: nonNil(p.in.Rules.TagsAny), TagsAll: nonNil(p.in.Rules.TagsAll),
			Origins: nonNil(p.in.Rules.Origins), ChannelIds: nonNilIDs(p.in.Rules.Channels),
			MatchPath: p.matchPath, Now: s.clock.Now(),
		})
		if err != nil {
			return explain(err)
		}
		return s.setServers(ctx, tx, accountID, id, p.in)
	})
	if err != nil {
		return Segment{}, err
	}
	return s.Get(ctx, accountID, id)
}

// Update replaces a segment's settings and rules (its static members stay).
func (s *Service) Update(ctx context.Context, accountID, id uuid.UUID, in Input) (Segment, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := s.prepare(ctx, tx, accountID, in)
		if err != nil {
			return err
		}
		n, err := s.q.UpdateSegment(ctx, tx, store.UpdateSegmentParams{
			AccountID: accountID, ID: id, Name: p.in.Name, Priority: int16(p.in.Priority),
			SlaMinutes: int32p(p.in.SLAMinutes), Distribution: p.in.Distribution, AutoTags: p.in.AutoTags, Rules: p.rules,
			HasRules: !p.in.Rules.Empty(), TagsAny: nonNil(p.in.Rules.TagsAny), TagsAll: nonNil(p.in.Rules.TagsAll),
			Origins: nonNil(p.in.Rules.Origins), ChannelIds: nonNilIDs(p.in.Rules.Channels),
			MatchPath: p.matchPath, Now: s.clock.Now(),
		})
		if err != nil {
			return explain(err)
		}
		if n == 0 {
			return errNotFound
		}
		return s.setServers(ctx, tx, accountID, id, p.in)
	})
	if err != nil {
		return Segment{}, err
	}
	return s.Get(ctx, accountID, id)
}

func (s *Service) setServers(ctx context.Context, tx pgx.Tx, accountID, id uuid.UUID, in Input) error {
	depts, users := nonNilIDs(in.DepartmentIDs), nonNilIDs(in.UserIDs)
	err := s.q.KeepSegmentDepartments(ctx, tx, store.KeepSegmentDepartmentsParams{AccountID: accountID, SegmentID: id, DepartmentIds: depts})
	if err == nil {
		err = s.q.AddSegmentDepartments(ctx, tx, store.AddSegmentDepartmentsParams{AccountID: accountID, SegmentID: id, DepartmentIds: depts})
	}
	if _, ok := pgdb.ForeignKeyViolation(err); ok {
		return fault.Invalid("invalid segment", fault.FieldError{Field: "department_ids", Message: "an id names no department of this account"})
	}
	if err != nil {
		return fmt.Errorf("set departments of segment %s: %w", id, err)
	}
	err = s.q.KeepSegmentUsers(ctx, tx, store.KeepSegmentUsersParams{AccountID: accountID, SegmentID: id, UserIds: users})
	if err == nil {
		err = s.q.AddSegmentUsers(ctx, tx, store.AddSegmentUsersParams{AccountID: accountID, SegmentID: id, UserIds: users})
	}
	if _, ok := pgdb.ForeignKeyViolation(err); ok {
		return fault.Invalid("invalid segment", fault.FieldError{Field: "user_ids", Message: "an id names no user of this account"})
	}
	if err != nil {
		return fmt.Errorf("set users of segment %s: %w", id, err)
	}
	return nil
}

func explain(err error) error {
	if _, ok := pgdb.UniqueViolation(err); ok {
		return fault.Conflict("a segment with this name exists", fault.FieldError{Field: "name", Message: "already in use"})
	}
	return fmt.Errorf("store segment: %w", err)
}

// Get returns one segment.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Segment, error) {
	return s.get(ctx, s.pool, accountID, id)
}

func (s *Service) get(ctx context.Context, db store.DBTX, accountID, id uuid.UUID) (Segment, error) {
	r, err := s.q.GetSegment(ctx, db, store.GetSegmentParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Segment{}, errNotFound
	}
	if err != nil {
		return Segment{}, fmt.Errorf("get segment %s: %w", id, err)
	}
	return fromRow(r)
}

// fromRow turns a stored segment into a Segment.
func fromRow(r store.GetSegmentRow) (Segment, error) {
	seg := Segment{
		ID: r.ID, Name: r.Name, Priority: int(r.Priority), Distribution: r.Distribution, AutoTags: r.AutoTags,
		DepartmentIDs: r.DepartmentIds, UserIDs: r.UserIds, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		hasRules: r.HasRules, tagsAny: r.TagsAny, tagsAll: r.TagsAll, matchPath: r.MatchPath,
		origins: r.Origins, channels: r.ChannelIds,
	}
	if r.SlaMinutes != nil {
		m := int(*r.SlaMinutes)
		seg.SLAMinutes = &m
	}
	if err := json.Unmarshal(r.Rules, &seg.Rules); err != nil {
		return Segment{}, fmt.Errorf("decode rules of %s: %w", r.ID, err)
	}
	return seg, nil
}

// List pages through the account's segments.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, after *uuid.UUID, limit int) ([]Segment, error) {
	rows, err := s.q.ListSegments(ctx, s.pool, store.ListSegmentsParams{AccountID: accountID, After: after, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	out := make([]Segment, 0, len(rows))
	for _, r := range rows {
		seg, err := fromRow(store.GetSegmentRow(r))
		if err != nil {
			return nil, err
		}
		out = append(out, seg)
	}
	return out, nil
}

// Delete removes a segment (its contacts stay). A segment that campaigns target stays too (409):
// their audience, reports and retries name it.
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	n, err := s.q.DeleteSegment(ctx, s.pool, store.DeleteSegmentParams{AccountID: accountID, ID: id})
	if c, ok := pgdb.ForeignKeyViolation(err); ok && c == "campaigns_account_id_segment_id_fkey" {
		return fault.Conflict("campaigns target this segment: delete their drafts first; a segment a campaign has started on is kept for its reports")
	}
	if err != nil {
		return fmt.Errorf("delete segment %s: %w", id, err)
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

// AddMembers adds static members (ids of no contact of the account are skipped) and gives them
// the segment's automatic tags, in one transaction. It returns how many joined.
func (s *Service) AddMembers(ctx context.Context, accountID, id uuid.UUID, contactIDs []uuid.UUID) (int64, error) {
	if len(contactIDs) == 0 || len(contactIDs) > tag.MaxBulk {
		return 0, fault.Invalid("invalid contact list", fault.FieldError{Field: "contact_ids", Message: fmt.Sprintf("give 1 to %d contact ids", tag.MaxBulk)})
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		seg, err := s.get(ctx, tx, accountID, id)
		if err != nil {
			return err
		}
		if n, err = s.q.AddSegmentMembers(ctx, tx, store.AddSegmentMembersParams{AccountID: accountID, SegmentID: id, ContactIds: contactIDs, Now: s.clock.Now()}); err != nil {
			return fmt.Errorf("add members to %s: %w", id, err)
		}
		if len(seg.AutoTags) == 0 {
			return nil
		}
		// Only the new members: the others got the tags when they joined or at the last sync.
		_, err = s.q.ApplySegmentTagsTo(ctx, tx, store.ApplySegmentTagsToParams{
			AccountID: accountID, ContactIds: contactIDs, AutoTags: seg.AutoTags, Now: s.clock.Now(),
		})
		if err != nil {
			return fmt.Errorf("apply tags of segment %s: %w", id, err)
		}
		return nil
	})
	return n, err
}

// RemoveMembers removes static members (a contact that matches the rules stays a member).
func (s *Service) RemoveMembers(ctx context.Context, accountID, id uuid.UUID, contactIDs []uuid.UUID) (int64, error) {
	if len(contactIDs) == 0 || len(contactIDs) > tag.MaxBulk {
		return 0, fault.Invalid("invalid contact list", fault.FieldError{Field: "contact_ids", Message: fmt.Sprintf("give 1 to %d contact ids", tag.MaxBulk)})
	}
	if _, err := s.Get(ctx, accountID, id); err != nil {
		return 0, err
	}
	n, err := s.q.RemoveSegmentMembers(ctx, s.pool, store.RemoveSegmentMembersParams{AccountID: accountID, SegmentID: id, ContactIds: contactIDs})
	if err != nil {
		return 0, fmt.Errorf("remove members of %s: %w", id, err)
	}
	return n, nil
}

// Count counts the segment's members in one set-based query.
func (s *Service) Count(ctx context.Context, accountID, id uuid.UUID) (int64, error) {
	seg, err := s.Get(ctx, accountID, id)
	if err != nil {
		return 0, err
	}
	n, err := s.q.CountSegment(ctx, s.pool, store.CountSegmentParams{
		AccountID: accountID, SegmentID: id, HasRules: seg.hasRules, TagsAny: seg.tagsAny, TagsAll: seg.tagsAll, MatchPath: optPath(seg.matchPath),
		Origins: seg.origins, ChannelIds: seg.channels,
	})
	if err != nil {
		return 0, fmt.Errorf("count segment %s: %w", id, err)
	}
	return n, nil
}

// Members pages through the segment's members, in contact id order.
func (s *Service) Members(ctx context.Context, accountID, id uuid.UUID, after *uuid.UUID, limit int) ([]Member, error) {
	seg, err := s.Get(ctx, accountID, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.q.ListSegmentMembers(ctx, s.pool, store.ListSegmentMembersParams{
		AccountID: accountID, SegmentID: id, After: after, HasRules: seg.hasRules, TagsAny: seg.tagsAny, TagsAll: seg.tagsAll,
		Origins: seg.origins, ChannelIds: seg.channels,
		MatchPath: optPath(seg.matchPath), MaxRows: int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", id, err)
	}
	out := make([]Member, len(rows))
	for i, r := range rows {
		out[i] = Member{ID: r.ID, Name: r.Name, CustomerCode: r.CustomerCode}
	}
	return out, nil
}

// ContactSegments lists the segments a contact is in, highest priority first.
func (s *Service) ContactSegments(ctx context.Context, accountID, contactID uuid.UUID) ([]Ref, error) {
	rows, err := s.q.ContactSegments(ctx, s.pool, store.ContactSegmentsParams{AccountID: accountID, ContactID: contactID})
	if err != nil {
		return nil, fmt.Errorf("segments of contact %s: %w", contactID, err)
	}
	out := make([]Ref, len(rows))
	for i, r := range rows {
		out[i] = Ref{ID: r.ID, Name: r.Name, Priority: int(r.Priority)}
	}
	return out, nil
}

// SyncTags gives every member of each of the account's segments the segment's automatic tags
// it lacks (members that joined by a rule since the last sync), and returns how many contacts
// changed.
func (s *Service) SyncTags(ctx context.Context, accountID uuid.UUID) (int64, error) {
	ids, err := s.q.SegmentsWithAutoTags(ctx, s.pool, accountID)
	if err != nil {
		return 0, fmt.Errorf("list segments with automatic tags: %w", err)
	}
	var total int64
	for _, id := range ids {
		seg, err := s.Get(ctx, accountID, id)
		if err != nil {
			return total, err
		}
		n, err := s.applyTags(ctx, s.pool, accountID, seg)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// AccountsToSync lists the accounts with segments that apply tags.
func (s *Service) AccountsToSync(ctx context.Context) ([]uuid.UUID, error) {
	ids, err := s.q.AccountsWithAutoTagSegments(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("list accounts with automatic tags: %w", err)
	}
	return ids, nil
}

func (s *Service) applyTags(ctx context.Context, db store.DBTX, accountID uuid.UUID, seg Segment) (int64, error) {
	if len(seg.AutoTags) == 0 {
		return 0, nil
	}
	n, err := s.q.ApplySegmentTags(ctx, db, store.ApplySegmentTagsParams{
		AccountID: accountID, SegmentID: seg.ID, AutoTags: seg.AutoTags, HasRules: seg.hasRules, TagsAny: seg.tagsAny,
		TagsAll: seg.tagsAll, MatchPath: optPath(seg.matchPath),
		Origins: seg.origins, ChannelIds: seg.channels, Now: s.clock.Now(),
	})
	if err != nil {
		return 0, fmt.Errorf("apply tags of segment %s: %w", seg.ID, err)
	}
	return n, nil
}

func optPath(p string) *string {
	if p == "" {
		return nil
	}
	return &p
}

func int32p(p *int) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilIDs(s []uuid.UUID) []uuid.UUID {
	if s == nil {
		return []uuid.UUID{}
	}
	return s
}
