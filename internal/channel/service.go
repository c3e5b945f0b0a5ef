package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // business hours name IANA zones; the binary carries them
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/phone"
	"github.com/conversa-hq/conversa/internal/secretbox"
)

// Channel is one of the account's ways to reach contacts: a WhatsApp number, an SMS gateway,
// a mailbox, a bot, the site's WebChat.
type Channel struct {
	ID        uuid.UUID
	Type      Type
	Name      string
	Provider  string
	Direction string
	// Priority orders the agents' queue (higher first); WebChat's is always 100.
	Priority      int
	BusinessHours []Hours
	TimeZone      string
	// WhatsApp numbers.
	PhoneNumber    string
	PhoneNumberID  string
	WABAID         string
	LineKind       string
	QualityRating  string
	ThroughputMPS  int
	MessagingLimit string
	// CredentialsSetAt says when credentials were last written; they are never read back.
	CredentialsSetAt *time.Time
	Active           bool
	SegmentIDs       []uuid.UUID
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Hours is one opening window of a weekday (0 Sunday … 6 Saturday), "HH:MM" in the channel's
// time zone.
type Hours struct {
	Day   int    `json:"day"`
	Open  string `json:"open"`
	Close string `json:"close"`
}

// Input creates a channel; in an update nil fields are kept (Type never changes).
type Input struct {
	Type           Type
	Name           *string
	Provider       *string
	Direction      *string
	Priority       *int
	BusinessHours  *[]Hours
	TimeZone       *string
	PhoneNumber    *string
	PhoneNumberID  *string
	WABAID         *string
	LineKind       *string
	QualityRating  *string
	ThroughputMPS  *int
	MessagingLimit *string
	// Credentials replace the stored ones when set (write-only).
	Credentials map[string]string
	Active      *bool
	SegmentIDs  *[]uuid.UUID
}

// DefaultPriority is the suggested priority of each type (DESIGN §4).
var DefaultPriority = map[Type]int{WebChat: 100, WhatsApp: 80, Voice: 70, Email: 50, Facebook: 40, SMS: 30}

// Providers lists the adapters each type may use; "fake" serves every type, for demos and
// benchmarks.
var Providers = map[Type][]string{
	WhatsApp: {"whatsapp_cloud", "fake"}, SMS: {"twilio", "fake"}, Email: {"smtp", "fake"},
	Telegram: {"telegram", "fake"}, WebChat: {"webchat"},
}

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// Service manages channels, scoped to one account.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
	box   *secretbox.Box
}

// NewService returns a Service on pool that seals credentials with box.
func NewService(pool *pgxpool.Pool, clk clock.Clock, box *secretbox.Box) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk, box: box}
}

var errNotFound = fault.NotFound("channel")

// apply checks in and writes it over c; sealed is the new sealed credentials, if any.
func (s *Service) apply(c *Channel, in Input) (sealed []byte, errs []fault.FieldError) {
	bad := func(field, msg string, v any) {
		errs = append(errs, fault.FieldError{Field: field, Message: msg, Value: v})
	}
	if in.Name != nil {
		c.Name = strings.TrimSpace(*in.Name)
		if c.Name == "" || utf8.RuneCountInString(c.Name) > 100 {
			bad("name", "must have 1 to 100 characters", *in.Name)
		}
	}
	if in.Provider != nil {
		c.Provider = *in.Provider
	}
	allowed, known := Providers[c.Type]
	if !known {
		allowed = []string{"fake"}
	}
	if !slices.Contains(allowed, c.Provider) {
		bad("provider", fmt.Sprintf("a %s channel uses one of %v", c.Type, allowed), c.Provider)
	}
	if in.Direction != nil {
		c.Direction = *in.Direction
		if !slices.Contains([]string{"inbound", "outbound", "both"}, c.Direction) {
			bad("direction", "must be inbound, outbound or both", *in.Direction)
		}
	}
	if in.Priority != nil {
		c.Priority = *in.Priority
		if c.Priority < 1 || c.Priority > 100 {
			bad("priority", "must be between 1 and 100", c.Priority)
		}
	}
	if c.Type == WebChat && c.Priority != 100 {
		bad("priority", "WebChat's priority is absolute: always 100", c.Priority)
	}
	if in.TimeZone != nil {
		c.TimeZone = *in.TimeZone
		if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
			bad("time_zone", "must be an IANA time zone like America/Sao_Paulo", c.TimeZone)
		}
	}
	if in.BusinessHours != nil {
		c.BusinessHours = *in.BusinessHours
		for i, h := range c.BusinessHours {
			if h.Day < 0 || h.Day > 6 || !hhmm.MatchString(h.Open) || !hhmm.MatchString(h.Close) || h.Open >= h.Close {
				bad(fmt.Sprintf("business_hours[%d]", i), "day 0-6 and open < close as HH:MM", h)
			}
		}
	}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&c.PhoneNumberID, in.PhoneNumberID)
	set(&c.WABAID, in.WABAID)
	if in.PhoneNumber != nil {
		if n, err := phone.Normalize(*in.PhoneNumber); err != nil {
			bad("phone_number", err.Error(), *in.PhoneNumber)
		} else {
			c.PhoneNumber = n.E164
		}
	}
	if in.LineKind != nil {
		c.LineKind = *in.LineKind
	}
	if in.QualityRating != nil {
		c.QualityRating = *in.QualityRating
	}
	if in.ThroughputMPS != nil {
		c.ThroughputMPS = *in.ThroughputMPS
	}
	if in.MessagingLimit != nil {
		c.MessagingLimit = *in.MessagingLimit
	}
	if c.Type == WhatsApp {
		if c.PhoneNumber == "" {
			bad("phone_number", "a WhatsApp channel needs its number", nil)
		}
		if !slices.Contains([]string{"receptive", "prospect"}, c.LineKind) {
			bad("line_kind", "must be receptive or prospect", c.LineKind)
		}
		if !slices.Contains([]string{"green", "yellow", "red", "unknown"}, c.QualityRating) {
			bad("quality_rating", "must be green, yellow, red or unknown", c.QualityRating)
		}
		if c.ThroughputMPS < 1 || c.ThroughputMPS > 1000 {
			bad("throughput_mps", "must be between 1 and 1000 messages per second", c.ThroughputMPS)
		}
		if !slices.Contains([]string{"250", "2000", "10000", "100000", "unlimited"}, c.MessagingLimit) {
			bad("messaging_limit", "must be 250, 2000, 10000, 100000 or unlimited", c.MessagingLimit)
		}
	}
	if in.Active != nil {
		c.Active = *in.Active
	}
	if in.SegmentIDs != nil {
		c.SegmentIDs = *in.SegmentIDs
	}
	if in.Credentials != nil {
		if s.box == nil {
			bad("credentials", "this server has no secret key configured (CONVERSA_SECRET_KEY)", nil)
		} else if len(in.Credentials) > 20 {
			bad("credentials", "at most 20 entries", nil)
		} else {
			plain, _ := json.Marshal(in.Credentials)
			sealed = s.box.Seal(plain, c.ID[:])
			now := s.clock.Now()
			c.CredentialsSetAt = &now
		}
	}
	return sealed, errs
}

// Create adds a channel. Type-specific defaults: the suggested priority, the type's first
// provider, and for WhatsApp a receptive line at 80 messages/s with the first messaging limit.
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, in Input) (Channel, error) {
	if !Valid(string(in.Type)) {
		return Channel{}, fault.Invalid("invalid channel", fault.FieldError{Field: "type", Message: fmt.Sprintf("must be one of %v", Types), Value: in.Type})
	}
	c := Channel{ID: uuid.Must(uuid.NewV7()), Type: in.Type, Direction: "both", TimeZone: "America/Sao_Paulo", Active: true, BusinessHours: []Hours{}}
	c.Priority = DefaultPriority[c.Type]
	if c.Priority == 0 {
		c.Priority = 50
	}
	if p, ok := Providers[c.Type]; ok {
		c.Provider = p[0]
	} else {
		c.Provider = "fake"
	}
	if c.Type == WhatsApp {
		c.LineKind, c.QualityRating, c.ThroughputMPS, c.MessagingLimit = "receptive", "unknown", 80, "250"
	}
	if in.Name == nil {
		errs := []fault.FieldError{{Field: "name", Message: "is required"}}
		return Channel{}, fault.Invalid("invalid channel", errs...)
	}
	sealed, errs := s.apply(&c, in)
	if len(errs) > 0 {
		return Channel{}, fault.Invalid("invalid channel", errs...)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := s.q.CreateChannel(ctx, tx, s.params(accountID, c, sealed))
		if err != nil {
			return explain(err)
		}
		return s.setSegments(ctx, tx, accountID, c)
	})
	if err != nil {
		return Channel{}, err
	}
	return s.Get(ctx, accountID, c.ID)
}

// Update changes a channel; credentials are replaced only when given.
func (s *Service) Update(ctx context.Context, accountID, id uuid.UUID, in Input) (Channel, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.GetChannelForUpdate(ctx, tx, store.GetChannelForUpdateParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("lock channel %s: %w", id, err)
		}
		c := fromRow(store.GetChannelRow{
			AccountID: row.AccountID, ID: row.ID, Type: row.Type, Name: row.Name, Provider: row.Provider, Direction: row.Direction,
			Priority: row.Priority, BusinessHours: row.BusinessHours, TimeZone: row.TimeZone, PhoneNumber: row.PhoneNumber,
			PhoneNumberID: row.PhoneNumberID, WabaID: row.WabaID, LineKind: row.LineKind, QualityRating: row.QualityRating,
			ThroughputMps: row.ThroughputMps, MessagingLimit: row.MessagingLimit, CredentialsSetAt: row.CredentialsSetAt,
			Active: row.Active, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt,
		})
		sealed, errs := s.apply(&c, in)
		if len(errs) > 0 {
			return fault.Invalid("invalid channel", errs...)
		}
		if sealed == nil {
			sealed = row.Credentials
		}
		p := s.params(accountID, c, sealed)
		n, err := s.q.UpdateChannel(ctx, tx, store.UpdateChannelParams{
			AccountID: accountID, ID: id, Name: p.Name, Direction: p.Direction, Priority: p.Priority, BusinessHours: p.BusinessHours,
			TimeZone: p.TimeZone, PhoneNumber: p.PhoneNumber, PhoneNumberID: p.PhoneNumberID, WabaID: p.WabaID, LineKind: p.LineKind,
			QualityRating: p.QualityRating, ThroughputMps: p.ThroughputMps, MessagingLimit: p.MessagingLimit, Credentials: p.Credentials,
			CredentialsSetAt: p.CredentialsSetAt, Active: p.Active, Now: p.Now,
		})
		if err != nil {
			return explain(err)
		}
		if n == 0 {
			return errNotFound
		}
		if in.SegmentIDs != nil {
			return s.setSegments(ctx, tx, accountID, c)
		}
		return nil
	})
	if err != nil {
		return Channel{}, err
	}
	return s.Get(ctx, accountID, id)
}

func (s *Service) params(accountID uuid.UUID, c Channel, sealed []byte) store.CreateChannelParams {
	hours, _ := json.Marshal(c.BusinessHours)
	p := store.CreateChannelParams{
		AccountID: accountID, ID: c.ID, Type: string(c.Type), Name: c.Name, Provider: c.Provider, Direction: c.Direction,
		Priority: int16(c.Priority), BusinessHours: hours, TimeZone: c.TimeZone, Credentials: sealed,
		CredentialsSetAt: c.CredentialsSetAt, Active: c.Active, Now: s.clock.Now(),
		PhoneNumber: opt(c.PhoneNumber), PhoneNumberID: opt(c.PhoneNumberID), WabaID: opt(c.WABAID),
	}
	if c.Type == WhatsApp {
		mps := int32(c.ThroughputMPS)
		p.LineKind, p.QualityRating, p.ThroughputMps, p.MessagingLimit = opt(c.LineKind), opt(c.QualityRating), &mps, opt(c.MessagingLimit)
	}
	return p
}

func (s *Service) setSegments(ctx context.Context, tx pgx.Tx, accountID uuid.UUID, c Channel) error {
	ids := c.SegmentIDs
	if ids == nil {
		ids = []uuid.UUID{}
	}
	err := s.q.KeepChannelSegments(ctx, tx, store.KeepChannelSegmentsParams{AccountID: accountID, ChannelID: c.ID, SegmentIds: ids})
	if err == nil {
		err = s.q.AddChannelSegments(ctx, tx, store.AddChannelSegmentsParams{AccountID: accountID, ChannelID: c.ID, SegmentIds: ids})
	}
	if _, ok := pgdb.ForeignKeyViolation(err); ok {
		return fault.Invalid("invalid channel", fault.FieldError{Field: "segment_ids", Message: "an id names no segment of this account"})
	}
	if err != nil {
		return fmt.Errorf("set segments of channel %s: %w", c.ID, err)
	}
	return nil
}

func explain(err error) error {
	if _, ok := pgdb.UniqueViolation(err); ok {
		return fault.Conflict("another channel has this phone number", fault.FieldError{Field: "phone_number", Message: "already in use"})
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23514" {
		return fault.Invalid("invalid channel", fault.FieldError{Field: "priority", Message: "WebChat's priority is absolute: always 100"})
	}
	return fmt.Errorf("store channel: %w", err)
}

// Get returns one channel (never its credentials).
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Channel, error) {
	row, err := s.q.GetChannel(ctx, s.pool, store.GetChannelParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Channel{}, errNotFound
	}
	if err != nil {
		return Channel{}, fmt.Errorf("get channel %s: %w", id, err)
	}
	return fromRow(row), nil
}

// List returns the account's channels (of one type, if given), highest priority first.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, t Type) ([]Channel, error) {
	var tp *string
	if t != "" {
		v := string(t)
		tp = &v
	}
	ids, err := s.q.ListChannelIDs(ctx, s.pool, store.ListChannelIDsParams{AccountID: accountID, Type: tp})
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	out := make([]Channel, 0, len(ids))
	for _, id := range ids {
		c, err := s.Get(ctx, accountID, id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Delete removes a channel.
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	n, err := s.q.DeleteChannel(ctx, s.pool, store.DeleteChannelParams{AccountID: accountID, ID: id})
	if err != nil {
		return fmt.Errorf("delete channel %s: %w", id, err)
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

// SetPriorities writes the whole priority table in one statement: every id must be a channel
// of the account, and WebChat stays at 100.
func (s *Service) SetPriorities(ctx context.Context, accountID uuid.UUID, priorities map[uuid.UUID]int) error {
	ids := make([]uuid.UUID, 0, len(priorities))
	vals := make([]int16, 0, len(priorities))
	for id, p := range priorities {
		if p < 1 || p > 100 {
			return fault.Invalid("invalid priorities", fault.FieldError{Field: "priorities", Message: "each must be between 1 and 100", Value: p})
		}
		ids, vals = append(ids, id), append(vals, int16(p))
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n, err := s.q.SetChannelPriorities(ctx, tx, store.SetChannelPrioritiesParams{AccountID: accountID, Ids: ids, Priorities: vals, Now: s.clock.Now()})
		if err != nil {
			return explain(err)
		}
		if int(n) != len(ids) {
			return errNotFound
		}
		return nil
	})
}

// Credentials opens a channel's credentials, for the adapters; nil when none were set.
func (s *Service) Credentials(ctx context.Context, accountID, id uuid.UUID) (map[string]string, error) {
	row, err := s.q.GetChannelForUpdate(ctx, s.pool, store.GetChannelForUpdateParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read channel %s: %w", id, err)
	}
	if row.Credentials == nil {
		return nil, nil
	}
	if s.box == nil {
		return nil, errors.New("no secret key configured")
	}
	plain, err := s.box.Open(row.Credentials, id[:])
	if err != nil {
		return nil, fmt.Errorf("open credentials of %s: %w", id, err)
	}
	out := map[string]string{}
	return out, json.Unmarshal(plain, &out)
}

func fromRow(r store.GetChannelRow) Channel {
	c := Channel{
		ID: r.ID, Type: Type(r.Type), Name: r.Name, Provider: r.Provider, Direction: r.Direction, Priority: int(r.Priority),
		TimeZone: r.TimeZone, PhoneNumber: val(r.PhoneNumber), PhoneNumberID: val(r.PhoneNumberID), WABAID: val(r.WabaID),
		LineKind: val(r.LineKind), QualityRating: val(r.QualityRating), MessagingLimit: val(r.MessagingLimit),
		CredentialsSetAt: r.CredentialsSetAt, Active: r.Active, SegmentIDs: r.SegmentIds, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		BusinessHours: []Hours{},
	}
	if r.ThroughputMps != nil {
		c.ThroughputMPS = int(*r.ThroughputMps)
	}
	_ = json.Unmarshal(r.BusinessHours, &c.BusinessHours)
	if c.CredentialsSetAt != nil {
		t := c.CredentialsSetAt.UTC()
		c.CredentialsSetAt = &t
	}
	return c
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func val(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Endpoint is what a webhook delivery needs to know about the channel it names.
type Endpoint struct {
	AccountID   uuid.UUID
	ChannelID   uuid.UUID
	Type        Type
	Provider    string
	Credentials map[string]string
}

// ForWebhook finds an active channel by id alone, across accounts (webhook URLs name the
// channel; the signature checked with the channel's own secret authenticates the delivery),
// with its credentials opened.
func (s *Service) ForWebhook(ctx context.Context, id uuid.UUID) (Endpoint, error) {
	row, err := s.q.GetChannelForWebhook(ctx, s.pool, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Endpoint{}, errNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("find channel %s: %w", id, err)
	}
	ep := Endpoint{AccountID: row.AccountID, ChannelID: row.ID, Type: Type(row.Type), Provider: row.Provider, Credentials: map[string]string{}}
	if row.Credentials != nil && s.box != nil {
		plain, err := s.box.Open(row.Credentials, id[:])
		if err != nil {
			return Endpoint{}, fmt.Errorf("open credentials of %s: %w", id, err)
		}
		if err := json.Unmarshal(plain, &ep.Credentials); err != nil {
			return Endpoint{}, fmt.Errorf("decode credentials of %s: %w", id, err)
		}
	}
	return ep, nil
}
