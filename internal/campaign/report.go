package campaign

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	_ "time/tzdata" // the report's times are in the campaign's IANA zone; the binary carries them

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/fault"
)

// The read side of campaigns (issue 8 §6): statistics over the recipients' states, the
// per-contact CSV report, and the reports across campaigns. Recipient states are exclusive,
// but a later state implies the earlier milestones (read was delivered and sent; replied was
// sent), so milestones count the recipients' timestamps, not their state.

// Recipient states (campaign_recipients.state), the order the stats list them in.
var States = []string{"pending", "sending", "sent", "delivered", "read", "failed", "unknown", "replied"}

// TopFailureCodes is how many provider codes the stats list, most frequent first.
const TopFailureCodes = 10

// MaxReportPeriod caps the period of the reports across campaigns, so one request never reads
// more than a year of sends.
const MaxReportPeriod = 366 * 24 * time.Hour

// Totals counts a campaign's recipients by milestone.
type Totals struct {
	// Requested is every recipient frozen at the start.
	Requested int64 `json:"requested"`
	// Pending is not sent yet (states pending and sending).
	Pending   int64 `json:"pending"`
	Sent      int64 `json:"sent"`
	Delivered int64 `json:"delivered" doc:"Delivered or read (a read implies the delivery when its report was skipped)."`
	Read      int64 `json:"read"`
	Replied   int64 `json:"replied"`
	Failed    int64 `json:"failed"`
	Unknown   int64 `json:"unknown" doc:"Sends whose outcome was lost in a crash: never resent."`
}

// Rates are fractions (0 to 1, four decimals) of the totals: delivery, reads and replies of
// the sends; failures of the recipients requested.
type Rates struct {
	Delivered float64 `json:"delivered" doc:"delivered / sent"`
	Read      float64 `json:"read" doc:"read / sent"`
	Replied   float64 `json:"replied" doc:"replied / sent"`
	Failed    float64 `json:"failed" doc:"failed / requested"`
}

// FailureCode counts the failed recipients of one provider code.
type FailureCode struct {
	Code   string `json:"code" doc:"The provider's error code (empty when it gave none)."`
	Reason string `json:"reason" doc:"A readable reason recorded with the code."`
	Count  int64  `json:"count"`
}

// Hour counts a campaign's events in one UTC hour.
type Hour struct {
	Hour      time.Time `json:"hour" doc:"The start of the hour, UTC."`
	Sent      int64     `json:"sent"`
	Delivered int64     `json:"delivered"`
	Read      int64     `json:"read"`
	Failed    int64     `json:"failed"`
	Replied   int64     `json:"replied"`
}

// Stats are a campaign's statistics: what the campaign page charts.
type Stats struct {
	CampaignID   uuid.UUID        `json:"campaign_id"`
	Status       string           `json:"status"`
	ByState      map[string]int64 `json:"by_state" doc:"Recipients by their current (exclusive) state; every state is present."`
	Totals       Totals           `json:"totals"`
	Rates        Rates            `json:"rates"`
	FailureCodes []FailureCode    `json:"failure_codes" doc:"The most frequent provider codes of the failed recipients, at most 10."`
	Hours        []Hour           `json:"hours" doc:"Sends, deliveries, reads, failures and replies per UTC hour, oldest first; hours without events are left out."`
}

// Stats counts a campaign's recipients by state and milestone, the rates, the top failure
// codes and the events per hour: two set-based statements in one snapshot, whatever the
// audience's size. Another account's campaign is a 404.
func (s *Service) Stats(ctx context.Context, accountID, id uuid.UUID) (Stats, error) {
	out := Stats{CampaignID: id}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		c, err := s.get(ctx, tx, accountID, id)
		if err != nil {
			return err
		}
		out.Status = c.Status
		// A million recipients' counts are simple aggregates: compiling them (JIT) costs more
		// than it saves.
		if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
			return fmt.Errorf("set up the stats of campaign %s: %w", id, err)
		}
		t, err := s.q.CampaignStatTotals(ctx, tx, store.CampaignStatTotalsParams{AccountID: accountID, CampaignID: id, TopCodes: TopFailureCodes})
		if err != nil {
			return fmt.Errorf("count the recipients of campaign %s: %w", id, err)
		}
		out.ByState = map[string]int64{"pending": t.StPending, "sending": t.StSending, "sent": t.StSent, "delivered": t.StDelivered,
			"read": t.StRead, "failed": t.StFailed, "unknown": t.StUnknown, "replied": t.StReplied}
		out.Totals = Totals{Requested: t.Requested, Pending: t.StPending + t.StSending, Sent: t.Sent, Delivered: t.Delivered,
			Read: t.Read, Replied: t.Replied, Failed: t.StFailed, Unknown: t.StUnknown}
		out.Rates = Rates{Delivered: rate(t.Delivered, t.Sent), Read: rate(t.Read, t.Sent), Replied: rate(t.Replied, t.Sent),
			Failed: rate(t.StFailed, t.Requested)}
		out.FailureCodes = []FailureCode{}
		if err := json.Unmarshal(t.FailureCodes, &out.FailureCodes); err != nil {
			return fmt.Errorf("decode the failure codes of campaign %s: %w", id, err)
		}
		hours, err := s.q.CampaignStatHours(ctx, tx, store.CampaignStatHoursParams{AccountID: accountID, CampaignID: id})
		if err != nil {
			return fmt.Errorf("count the events of campaign %s by hour: %w", id, err)
		}
		out.Hours = make([]Hour, len(hours))
		for i, h := range hours {
			out.Hours[i] = Hour{Hour: h.Hour.UTC(), Sent: h.Sent, Delivered: h.Delivered, Read: h.Read, Failed: h.Failed, Replied: h.Replied}
		}
		return nil
	})
	return out, err
}

// rate is n/of to four decimals, 0 when of is 0.
func rate(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return math.Round(float64(n)/float64(of)*10000) / 10000
}

// ReportColumns are the per-contact CSV report's columns, exactly as DESIGN §4 names them (the
// names the users' spreadsheets and integrations already read).
var ReportColumns = []string{"NomePessoa", "CpfCnpj", "CodPessoaCliente", "DDDTelefone", "NumeroTelefone", "EnderecoEmail",
	"DataHoraSolicitacao", "DataHoraEnvio", "Mensagem", "SituacaoEntrega"}

// reportFlushRows is how often the report pushes what it wrote to the client: often enough
// that a download shows progress, rarely enough that flushing costs nothing.
const reportFlushRows = 10_000

// ReportSQL reads one campaign's recipients with their contacts' current data (a deleted
// contact gives nulls) in contact order: the recipients' primary key order, so PostgreSQL
// merge-joins the recipients as their index returns them with the contacts (a million-row
// campaign: 1.4 s in the executor, where the default plan, a parallel hash join and a sort
// spilling to disk, took 5.8 s). The contacts are joined on the account given, not on
// r.account_id, which lets the planner see their key order too. It is run directly (not
// through sqlc) so its rows stream; exported for the benchmark's raw PostgreSQL floor.
const ReportSQL = `SELECT ct.name, ct.document, ct.customer_code, r.phone, ct.email, r.requested_at, r.sent_at,
       r.message_text, r.state, r.code, r.reason
FROM campaign_recipients r
LEFT JOIN contacts ct ON ct.account_id = $1 AND ct.id = r.contact_id
WHERE r.account_id = $1 AND r.campaign_id = $2
ORDER BY r.contact_id`

// ReportSettings are the report statement's own settings (SET LOCAL, in its transaction): JIT
// compilation costs more than it saves on a stream of simple rows, parallel workers would need
// a merge of sorted outputs the index order already gives, and a large campaign's join gets
// more than the default 4 MB.
const ReportSettings = "SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL work_mem = '64MB'"

// ReportFileName is the name the report downloads as.
func ReportFileName(c Campaign) string {
	return "campanha-" + c.ID.String() + ".csv"
}

// Report writes campaign c's per-contact report to w as CSV (comma-separated, like the
// contacts export): a header of ReportColumns, then one row per recipient, read from a single
// query and written as it arrives, so a million rows need no more memory than one. Times are
// dd/mm/yyyy HH:MM:SS in the campaign's time zone (America/Sao_Paulo unless set), free text
// is neutralised against formula injection as the contacts export does it. Rows come in
// contact order, from one read-only snapshot. c comes from Get, which already checked the
// account. It returns how many rows it wrote.
func (s *Service) Report(ctx context.Context, c Campaign, w io.Writer) (int, error) {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil || c.TimeZone == "" {
		loc, _ = time.LoadLocation(DefaultTimeZone)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(ReportColumns); err != nil {
		return 0, fmt.Errorf("write report header: %w", err)
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("begin the report of campaign %s: %w", c.ID, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // read-only: nothing to keep
	if _, err := tx.Exec(ctx, ReportSettings); err != nil {
		return 0, fmt.Errorf("set up the report of campaign %s: %w", c.ID, err)
	}
	rows, err := tx.Query(ctx, ReportSQL, c.AccountID, c.ID)
	if err != nil {
		return 0, fmt.Errorf("read the recipients of campaign %s: %w", c.ID, err)
	}
	defer rows.Close()
	var (
		name, doc, code, email, text, fcode, reason pgtype.Text
		phone, state                                string
		requested                                   time.Time
		sent                                        pgtype.Timestamptz
		rec                                         = make([]string, len(ReportColumns))
		buf                                         []byte
		n                                           int
	)
	cancelled := c.Status == StatusCancelled
	for rows.Next() {
		if err := rows.Scan(&name, &doc, &code, &phone, &email, &requested, &sent, &text, &state, &fcode, &reason); err != nil {
			return n, fmt.Errorf("read report row %d: %w", n+1, err)
		}
		rec[0], rec[1], rec[2] = contact.Inert(name.String), doc.String, contact.Inert(code.String)
		rec[3], rec[4] = SplitPhone(phone)
		rec[5] = contact.Inert(email.String)
		buf = appendBrazilian(buf[:0], requested.In(loc))
		rec[6] = string(buf)
		rec[7] = ""
		if sent.Valid {
			buf = appendBrazilian(buf[:0], sent.Time.In(loc))
			rec[7] = string(buf)
		}
		rec[8] = contact.Inert(text.String)
		if state == "pending" && cancelled {
			// Its turn never came: said so, rather than pending for good (rewriting a
			// million rows would make the cancel itself slow).
			rec[9] = SituationCancelled
		} else {
			rec[9] = contact.Inert(Situation(state, fcode.String, reason.String))
		}
		if err := cw.Write(rec); err != nil {
			return n, fmt.Errorf("write report row %d: %w", n+1, err)
		}
		n++
		if n%reportFlushRows == 0 {
			if err := flush(cw, w); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read the recipients of campaign %s: %w", c.ID, err)
	}
	return n, flush(cw, w)
}

// flush pushes the CSV writer's buffer and, when w is an HTTP response, the response's too.
func flush(cw *csv.Writer, w io.Writer) error {
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if fl, ok := w.(interface{ Flush() }); ok {
		fl.Flush()
	}
	return nil
}

// appendBrazilian appends t as dd/mm/yyyy HH:MM:SS, the way Brazilian users read a time
// (hand-written: a million rows make time.Format's layout parsing show in a profile).
func appendBrazilian(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = append2(b, d)
	b = append(b, '/')
	b = append2(b, int(mo))
	b = append(b, '/', byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), ' ')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	return append2(b, s)
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

// SplitPhone splits a frozen E.164 phone into the report's DDDTelefone and NumeroTelefone:
// a Brazilian number (+55, a two-digit area code, 8 or 9 digits) gives its area code and
// local number (+5511987654321 → 11 and 987654321); any other gives no area code and its
// digits with the country code.
func SplitPhone(phone string) (ddd, number string) {
	digits := strings.TrimPrefix(phone, "+")
	if digits == "" || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return "", contact.Inert(phone) // not a phone number the freeze writes: keep it, harmless
	}
	if strings.HasPrefix(phone, "+55") && (len(digits) == 12 || len(digits) == 13) {
		return digits[2:4], digits[4:]
	}
	return "", digits
}

// SituationCancelled is the report's SituacaoEntrega of a recipient still pending when its
// campaign was cancelled: never sent, and never to be.
const SituationCancelled = "Cancelado"

// Situation is a recipient's state in the Portuguese words of the report's SituacaoEntrega; a
// failure carries the provider's code and reason.
func Situation(state, code, reason string) string {
	switch state {
	case "pending":
		return "Pendente"
	case "sending":
		return "Enviando"
	case "sent":
		return "Enviado"
	case "delivered":
		return "Entregue"
	case "read":
		return "Lido"
	case "replied":
		return "Respondido"
	case "unknown":
		return "Desconhecido"
	case "failed":
		detail := strings.TrimSpace(code + " " + reason)
		if detail == "" {
			return "Falha"
		}
		return "Falha: " + detail
	}
	return state
}

// ReportFilter narrows the reports across campaigns: a period [From, To), optionally one
// segment or template; days are told in TimeZone.
type ReportFilter struct {
	From, To   time.Time
	SegmentID  *uuid.UUID
	TemplateID *uuid.UUID
	// TimeZone is an IANA zone ("" is DefaultTimeZone).
	TimeZone string
}

// check refuses a missing, reversed or too long period and an unknown time zone (422 naming
// the query parameters).
func (f *ReportFilter) check() error {
	var errs []fault.FieldError
	switch {
	case f.From.IsZero():
		errs = append(errs, fault.FieldError{Field: "query.from", Message: "is required (RFC 3339)"})
	case f.To.IsZero():
		errs = append(errs, fault.FieldError{Field: "query.to", Message: "is required (RFC 3339)"})
	case !f.To.After(f.From):
		errs = append(errs, fault.FieldError{Field: "query.to", Message: "must be after from", Value: f.To})
	case f.To.Sub(f.From) > MaxReportPeriod:
		errs = append(errs, fault.FieldError{Field: "query.to", Message: fmt.Sprintf("the period may span at most %d days", int(MaxReportPeriod.Hours()/24)), Value: f.To})
	}
	if f.TimeZone == "" {
		f.TimeZone = DefaultTimeZone
	}
	if _, err := time.LoadLocation(f.TimeZone); err != nil || strings.EqualFold(f.TimeZone, "local") {
		errs = append(errs, fault.FieldError{Field: "query.time_zone", Message: "not an IANA time zone", Value: f.TimeZone})
	}
	if len(errs) > 0 {
		return fault.Invalid("invalid report period", errs...)
	}
	f.From, f.To = f.From.UTC(), f.To.UTC()
	return nil
}

// CampaignSummary is one campaign of the "campaigns run" report with its recipients counted
// by milestone.
type CampaignSummary struct {
	ID           uuid.UUID
	Name         string
	Status       string
	SegmentID    uuid.UUID
	SegmentName  string
	TemplateID   uuid.UUID
	TemplateName string
	StartedAt    *time.Time
	FinishedAt   *time.Time
	Recipients   int64
	Sent         int64
	Delivered    int64
	Read         int64
	Replied      int64
	Failed       int64
	Unknown      int64
}

// CampaignsReport lists the campaigns started in f's period (of f's segment when given),
// newest first after the campaign named by after, each with its counts: one statement.
func (s *Service) CampaignsReport(ctx context.Context, accountID uuid.UUID, f ReportFilter, after *uuid.UUID, limit int) ([]CampaignSummary, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	rows, err := s.q.CampaignsReport(ctx, s.pool, store.CampaignsReportParams{AccountID: accountID, FromAt: f.From, ToAt: f.To,
		SegmentID: f.SegmentID, After: after, Lim: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("report campaigns: %w", err)
	}
	out := make([]CampaignSummary, len(rows))
	for i, r := range rows {
		out[i] = CampaignSummary(r)
	}
	return out, nil
}

// TemplateSends counts template sends of one day, template and segment.
type TemplateSends struct {
	// Day is the date (YYYY-MM-DD) in the filter's time zone.
	Day          string
	TemplateID   uuid.UUID
	TemplateName string
	// SegmentID is the campaign's segment; nil for direct template messages.
	SegmentID   *uuid.UUID
	SegmentName *string
	Sends       int64
	Delivered   int64
	Read        int64
	Failed      int64
}

// TemplateSendsReport counts the template sends of f's period by day, template and segment:
// campaign recipients sent in the period, under their campaign's template and segment, and
// direct template messages created in it (no segment; left out when f names a segment). One
// statement.
func (s *Service) TemplateSendsReport(ctx context.Context, accountID uuid.UUID, f ReportFilter) ([]TemplateSends, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	rows, err := s.q.TemplateSendsReport(ctx, s.pool, store.TemplateSendsReportParams{AccountID: accountID, TimeZone: f.TimeZone,
		FromAt: f.From, ToAt: f.To, SegmentID: f.SegmentID, TemplateID: f.TemplateID})
	if err != nil {
		return nil, fmt.Errorf("report template sends: %w", err)
	}
	out := make([]TemplateSends, len(rows))
	for i, r := range rows {
		out[i] = TemplateSends(r)
	}
	return out, nil
}
