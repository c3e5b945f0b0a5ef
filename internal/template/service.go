package template

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/provider"
)

// MaxChannels caps a template's library channels.
const MaxChannels = 100

// Enqueuer inserts a job in the caller's transaction (a River client).
type Enqueuer interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Service manages templates, scoped to one account.
type Service struct {
	pool     *pgxpool.Pool
	q        *store.Queries
	clock    clock.Clock
	channels *channel.Service
	contacts *contact.Service
	// Enqueuer schedules the fake provider's review; set once the River client exists.
	Enqueuer Enqueuer
	// WhatsAppBaseURL is the Graph API root for submissions (whatsapp.DefaultBaseURL when
	// empty); tests point it at whatsapptest.
	WhatsAppBaseURL string
}

// NewService returns a Service on pool; channels opens library channels' credentials for
// submissions and contacts reads the contact a preview renders for.
func NewService(pool *pgxpool.Pool, clk clock.Clock, channels *channel.Service, contacts *contact.Service) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk, channels: channels, contacts: contacts}
}

var errNotFound = fault.NotFound("template")

// Input creates a template; in an update nil fields are kept.
type Input struct {
	Name       *string
	Language   *string
	Category   *string
	Components *Components
	Examples   *map[string]string
	Bindings   *map[string]Binding
	ChannelIDs *[]uuid.UUID
}

// contentChanged names the first field of in that changes what the provider reviewed, or "".
func contentChanged(t Template, in Input) string {
	differs := func(a any, b any) bool {
		x, _ := json.Marshal(a)
		y, _ := json.Marshal(b)
		return string(x) != string(y)
	}
	switch {
	case in.Name != nil && *in.Name != t.Name:
		return "name"
	case in.Language != nil && *in.Language != t.Language:
		return "language"
	case in.Category != nil && *in.Category != t.Category:
		return "category"
	case in.Components != nil && differs(*in.Components, t.Components):
		return "components"
	case in.Examples != nil && differs(*in.Examples, t.Examples):
		return "examples"
	}
	return ""
}

// apply writes in over t and checks the result; defs are the account's custom fields.
func apply(t *Template, in Input, defs []customfield.Field) []fault.FieldError {
	if in.Name != nil {
		t.Name = strings.TrimSpace(*in.Name)
	}
	if in.Language != nil {
		t.Language = strings.TrimSpace(*in.Language)
	}
	if in.Category != nil {
		t.Category = *in.Category
	}
	if in.Components != nil {
		t.Components = *in.Components
	}
	if in.Examples != nil {
		t.Examples = *in.Examples
	}
	if in.Bindings != nil {
		t.Bindings = *in.Bindings
	}
	checked, errs := Check(t.Name, t.Language, t.Category, t.Components)
	t.ParameterFormat = checked.ParameterFormat
	if len(errs) > 0 {
		return errs
	}
	errs = append(errs, CheckExamples(checked.Variables, t.Components.Buttons, t.Examples)...)
	errs = append(errs, checkBindings(checked.Variables, t.Bindings, defs)...)
	return errs
}

// checkBindings allows one binding per variable location: a known source or a fixed text.
func checkBindings(vars []Variable, bindings map[string]Binding, defs []customfield.Field) []fault.FieldError {
	var errs []fault.FieldError
	keys := make([]string, 0, len(bindings))
	for k := range bindings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, loc := range keys {
		b := bindings[loc]
		field := "bindings." + loc
		if !slices.ContainsFunc(vars, func(v Variable) bool { return v.Location == loc }) {
			errs = append(errs, fault.FieldError{Field: field, Message: "the template has no variable here", Value: loc})
			continue
		}
		switch {
		case (b.Source == "") == (b.Text == ""):
			errs = append(errs, fault.FieldError{Field: field, Message: "a binding has either a source (a contact field) or a fixed text"})
		case b.Source != "" && !ValidSource(b.Source, defs):
			errs = append(errs, fault.FieldError{Field: field + ".source",
				Message: fmt.Sprintf("not a contact field: one of %s, or {key} of a custom field", strings.Join(SystemSources(), ", ")), Value: b.Source})
		case len(b.Text) > MaxExampleLength || len(b.Fallback) > MaxExampleLength:
			errs = append(errs, fault.FieldError{Field: field, Message: fmt.Sprintf("texts have at most %d characters", MaxExampleLength)})
		}
	}
	return errs
}

// Create adds a draft template with its library channels (WhatsApp numbers of the account).
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, in Input) (Template, error) {
	var missing []fault.FieldError
	for field, v := range map[string]bool{"name": in.Name == nil, "language": in.Language == nil, "category": in.Category == nil, "components": in.Components == nil} {
		if v {
			missing = append(missing, fault.FieldError{Field: field, Message: "is required"})
		}
	}
	if len(missing) > 0 {
		slices.SortFunc(missing, func(a, b fault.FieldError) int { return strings.Compare(a.Field, b.Field) })
		return Template{}, fault.Invalid("invalid template", missing...)
	}
	t := Template{ID: uuid.Must(uuid.NewV7()), Examples: map[string]string{}, Bindings: map[string]Binding{}}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		defs, err := customfield.Load(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if errs := apply(&t, in, defs); len(errs) > 0 {
			return fault.Invalid("invalid template", errs...)
		}
		p, err := params(t)
		if err != nil {
			return err
		}
		if err := s.q.CreateTemplate(ctx, tx, store.CreateTemplateParams{
			AccountID: accountID, ID: t.ID, Name: t.Name, Language: t.Language, Category: t.Category,
			ParameterFormat: t.ParameterFormat, Components: p.components, Examples: p.examples, Bindings: p.bindings, Now: s.clock.Now(),
		}); err != nil {
			return explain(err)
		}
		if in.ChannelIDs != nil {
			return s.setChannels(ctx, tx, accountID, t.ID, *in.ChannelIDs)
		}
		return nil
	})
	if err != nil {
		return Template{}, err
	}
	return s.Get(ctx, accountID, t.ID)
}

// Update changes a template. Its content (name, language, category, components, examples)
// changes only while it is a draft: once submitted, the provider reviewed exactly that
// content, and the Cloud API's own edit (re-review, at most once a day and 10 times in 30
// days for approved templates) is not offered; create a new template instead. Bindings and
// library channels change at any time.
//
// With ifVersion, the change is refused (412) when the template's version is another.
func (s *Service) Update(ctx context.Context, accountID, id uuid.UUID, in Input, ifVersion *int) (Template, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.GetTemplateForUpdate(ctx, tx, store.GetTemplateForUpdateParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("lock template %s: %w", id, err)
		}
		t := fromRow(row)
		if ifVersion != nil && *ifVersion != t.Version {
			return fault.PreconditionFailed("the template changed since it was read")
		}
		if field := contentChanged(t, in); row.SubmittedAt != nil && field != "" {
			return fault.Conflict("a submitted template's content cannot change: its provider reviewed it as it is; create a new template",
				fault.FieldError{Field: field, Message: "frozen since submission", Value: t.Status})
		}
		defs, err := customfield.Load(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if errs := apply(&t, in, defs); len(errs) > 0 {
			return fault.Invalid("invalid template", errs...)
		}
		p, err := params(t)
		if err != nil {
			return err
		}
		if _, err := s.q.UpdateTemplate(ctx, tx, store.UpdateTemplateParams{
			AccountID: accountID, ID: id, Name: t.Name, Language: t.Language, Category: t.Category, ParameterFormat: t.ParameterFormat,
			Components: p.components, Examples: p.examples, Bindings: p.bindings, Now: s.clock.Now(),
		}); err != nil {
			return explain(err)
		}
		if in.ChannelIDs != nil {
			if err := s.setChannels(ctx, tx, accountID, id, *in.ChannelIDs); err != nil {
				return err
			}
			return s.q.RefreshTemplateStatus(ctx, tx, store.RefreshTemplateStatusParams{AccountID: accountID, Ids: []uuid.UUID{id}, Now: s.clock.Now()})
		}
		return nil
	})
	if err != nil {
		return Template{}, err
	}
	return s.Get(ctx, accountID, id)
}

// setChannels makes ids the library: only WhatsApp numbers of the account keep templates.
func (s *Service) setChannels(ctx context.Context, tx pgx.Tx, accountID, id uuid.UUID, ids []uuid.UUID) error {
	if len(ids) > MaxChannels {
		return fault.Invalid("invalid template", fault.FieldError{Field: "channel_ids", Message: fmt.Sprintf("at most %d channels", MaxChannels)})
	}
	rows, err := s.q.ChannelTypes(ctx, tx, store.ChannelTypesParams{AccountID: accountID, Ids: ids})
	if err != nil {
		return fmt.Errorf("read library channels: %w", err)
	}
	types := map[uuid.UUID]string{}
	for _, r := range rows {
		types[r.ID] = r.Type
	}
	for i, cid := range ids {
		field := fmt.Sprintf("channel_ids[%d]", i)
		switch typ, ok := types[cid]; {
		case !ok:
			return fault.Invalid("invalid template", fault.FieldError{Field: field, Message: "names no channel of this account"})
		case typ != string(channel.WhatsApp):
			return fault.Invalid("invalid template", fault.FieldError{Field: field, Message: "only WhatsApp numbers keep a template library", Value: typ})
		}
	}
	if err := s.q.KeepTemplateChannels(ctx, tx, store.KeepTemplateChannelsParams{AccountID: accountID, TemplateID: id, ChannelIds: ids}); err != nil {
		return fmt.Errorf("set template channels: %w", err)
	}
	if err := s.q.AddTemplateChannels(ctx, tx, store.AddTemplateChannelsParams{AccountID: accountID, TemplateID: id, ChannelIds: ids}); err != nil {
		return fmt.Errorf("set template channels: %w", err)
	}
	return nil
}

type stored struct{ components, examples, bindings []byte }

func params(t Template) (stored, error) {
	var p stored
	var err error
	if p.components, err = json.Marshal(t.Components); err != nil {
		return p, fmt.Errorf("encode components: %w", err)
	}
	if p.examples, err = json.Marshal(t.Examples); err != nil {
		return p, fmt.Errorf("encode examples: %w", err)
	}
	if p.bindings, err = json.Marshal(t.Bindings); err != nil {
		return p, fmt.Errorf("encode bindings: %w", err)
	}
	return p, nil
}

func explain(err error) error {
	if _, ok := pgdb.UniqueViolation(err); ok {
		return fault.Conflict("a template with this name and language exists",
			fault.FieldError{Field: "name", Message: "already used with this language"})
	}
	return fmt.Errorf("store template: %w", err)
}

// Get returns one template with its library channels.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Template, error) {
	row, err := s.q.GetTemplate(ctx, s.pool, store.GetTemplateParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Template{}, errNotFound
	}
	if err != nil {
		return Template{}, fmt.Errorf("get template %s: %w", id, err)
	}
	out, err := s.withChannels(ctx, accountID, []store.Template{row})
	if err != nil {
		return Template{}, err
	}
	return out[0], nil
}

// Filter selects templates in a list.
type Filter struct {
	// Name matches templates whose name contains it; NamePrefix, whose name starts with it.
	Name       string
	NamePrefix string
	Category   string
	Status     string
	ChannelID  *uuid.UUID
	After      *uuid.UUID
	Limit      int
}

// List returns templates in id (creation) order, after f.After, at most f.Limit.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, f Filter) ([]Template, error) {
	p := store.ListTemplatesParams{AccountID: accountID, After: f.After, ChannelID: f.ChannelID, MaxRows: int32(f.Limit)}
	if f.Name != "" {
		like := "%" + pgdb.EscapeLike(strings.ToLower(f.Name)) + "%"
		p.NameLike = &like
	}
	if f.NamePrefix != "" {
		like := pgdb.EscapeLike(strings.ToLower(f.NamePrefix)) + "%"
		if p.NameLike != nil {
			return nil, fault.Invalid("invalid filter", fault.FieldError{Field: "query.name_prefix", Message: "give name or name_prefix, not both"})
		}
		p.NameLike = &like
	}
	if f.Category != "" {
		p.Category = &f.Category
	}
	if f.Status != "" {
		p.Status = &f.Status
	}
	rows, err := s.q.ListTemplates(ctx, s.pool, p)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	return s.withChannels(ctx, accountID, rows)
}

func (s *Service) withChannels(ctx context.Context, accountID uuid.UUID, rows []store.Template) ([]Template, error) {
	ids := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	chs, err := s.q.ListTemplateChannels(ctx, s.pool, store.ListTemplateChannelsParams{AccountID: accountID, TemplateIds: ids})
	if err != nil {
		return nil, fmt.Errorf("list template channels: %w", err)
	}
	by := map[uuid.UUID][]ChannelState{}
	for _, c := range chs {
		by[c.TemplateID] = append(by[c.TemplateID], ChannelState{ChannelID: c.ChannelID, Status: c.Status, Reason: deref(c.Reason),
			ProviderTemplateID: deref(c.ProviderTemplateID), Error: deref(c.Error), SubmittedAt: utc(c.SubmittedAt), StatusAt: utc(c.StatusAt)})
	}
	out := make([]Template, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
		out[i].Channels = by[r.ID]
		if out[i].Channels == nil {
			out[i].Channels = []ChannelState{}
		}
	}
	return out, nil
}

func fromRow(r store.Template) Template {
	t := Template{ID: r.ID, Name: r.Name, Language: r.Language, Category: r.Category, ParameterFormat: r.ParameterFormat,
		Status: r.Status, Reason: deref(r.Reason), SubmittedAt: utc(r.SubmittedAt), Version: int(r.Version),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Examples: map[string]string{}, Bindings: map[string]Binding{}}
	_ = json.Unmarshal(r.Components, &t.Components)
	_ = json.Unmarshal(r.Examples, &t.Examples)
	_ = json.Unmarshal(r.Bindings, &t.Bindings)
	return t
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Delete removes a template. One that was never submitted is deleted for good; one that was
// is only marked deleted (it disappears from the API and frees its name and language, but
// messages sent with it keep their reference). Nothing is deleted at the provider.
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.GetTemplateForUpdate(ctx, tx, store.GetTemplateForUpdateParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("lock template %s: %w", id, err)
		}
		if row.SubmittedAt == nil {
			_, err = s.q.DeleteTemplate(ctx, tx, store.DeleteTemplateParams{AccountID: accountID, ID: id})
		} else {
			_, err = s.q.SoftDeleteTemplate(ctx, tx, store.SoftDeleteTemplateParams{AccountID: accountID, ID: id, Now: s.clock.Now()})
		}
		if err != nil {
			return fmt.Errorf("delete template %s: %w", id, err)
		}
		return nil
	})
}

// Preview renders the template for a contact, given by id or by customer code.
func (s *Service) Preview(ctx context.Context, accountID, id uuid.UUID, contactID *uuid.UUID, customerCode string) (Rendered, error) {
	t, err := s.Get(ctx, accountID, id)
	if err != nil {
		return Rendered{}, err
	}
	if contactID == nil {
		code := strings.TrimSpace(customerCode)
		cid, err := s.q.ContactIDByCode(ctx, s.pool, store.ContactIDByCodeParams{AccountID: accountID, CustomerCode: &code})
		if errors.Is(err, pgx.ErrNoRows) {
			return Rendered{}, fault.NotFound("contact")
		}
		if err != nil {
			return Rendered{}, fmt.Errorf("find contact by code: %w", err)
		}
		contactID = &cid
	}
	return s.RenderFor(ctx, accountID, t, *contactID)
}

// RenderFor renders t as given (a campaign lays its bindings over the template's) for the
// account's contact, with the account's custom field definitions; an unknown contact is a 404.
func (s *Service) RenderFor(ctx context.Context, accountID uuid.UUID, t Template, contactID uuid.UUID) (Rendered, error) {
	c, err := s.contacts.Get(ctx, accountID, contactID)
	if err != nil {
		return Rendered{}, err
	}
	defs, err := customfield.Load(ctx, s.pool, accountID)
	if err != nil {
		return Rendered{}, err
	}
	return Render(t, c, defs), nil
}

// Spec is the provider-neutral submission of t.
func Spec(t Template) provider.TemplateSpec {
	spec := provider.TemplateSpec{Name: t.Name, Language: t.Language, Category: t.Category}
	c := t.Components
	examplesOf := func(part, text string) []string {
		vars, _ := variables("", text)
		if t.ParameterFormat != "named" {
			slices.SortFunc(vars, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
		}
		out := make([]string, len(vars))
		for i, v := range vars {
			out[i] = t.Examples[part+":"+v]
		}
		return out
	}
	if h := c.Header; h != nil {
		comp := provider.Component{Type: "header", Format: h.Format, Text: h.Text}
		if h.Format == HeaderText {
			comp.Example = examplesOf("header", h.Text)
		} else {
			// The Cloud API wants a Resumable-Upload handle; the example link stands in for it
			// until media upload exists.
			comp.Example = []string{h.ExampleURL}
		}
		spec.Components = append(spec.Components, comp)
	}
	spec.Components = append(spec.Components, provider.Component{Type: "body", Text: c.Body.Text, Example: examplesOf("body", c.Body.Text)})
	if c.Footer != nil {
		spec.Components = append(spec.Components, provider.Component{Type: "footer", Text: c.Footer.Text})
	}
	if len(c.Buttons) > 0 {
		comp := provider.Component{Type: "buttons"}
		for i, b := range c.Buttons {
			pb := provider.Button{Type: b.Type, Text: b.Text, URL: b.URL, Phone: b.PhoneNumber}
			if b.Type == CopyCode {
				// WhatsApp shows its own label on a copy-code button.
				pb.Text = "Copy code"
			}
			if b.Type == URLButton && strings.HasSuffix(b.URL, "{{1}}") {
				comp.Example = append(comp.Example, t.Examples[fmt.Sprintf("button:%d", i)])
			}
			comp.Buttons = append(comp.Buttons, pb)
		}
		spec.Components = append(spec.Components, comp)
	}
	return spec
}

// Bind lays a sender's bindings (a campaign's, by variable location) over t's own and checks
// them as a template's bindings are checked. Every variable must end up bound (a media header
// shows its example link when unbound), else a field error names it: a broadcast cannot fill
// a variable per contact by hand. Field errors are named under prefix (e.g. "body.bindings").
func Bind(t Template, over map[string]Binding, defs []customfield.Field, prefix string) (map[string]Binding, []fault.FieldError) {
	checked, _ := Check(t.Name, t.Language, t.Category, t.Components)
	errs := checkBindings(checked.Variables, over, defs)
	for i := range errs {
		errs[i].Field = prefix + strings.TrimPrefix(errs[i].Field, "bindings")
	}
	merged := make(map[string]Binding, len(t.Bindings)+len(over))
	maps.Copy(merged, t.Bindings)
	maps.Copy(merged, over)
	for _, v := range checked.Variables {
		if _, ok := merged[v.Location]; !ok && v.Location != MediaLocation {
			errs = append(errs, fault.FieldError{Field: prefix + "." + v.Location, Message: "the variable is not bound: bind it to a contact field or a fixed text", Value: v.Location})
		}
	}
	return merged, errs
}
