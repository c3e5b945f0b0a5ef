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

const reportsTag = "Reports"

// CampaignSummaryBody is one campaign of the "campaigns run" report.
type CampaignSummaryBody struct {
	ID           string     `json:"id" format:"uuid"`
	Name         string     `json:"name"`
	Status       string     `json:"status" enum:"draft,scheduled,running,paused,completed,cancelled,failed"`
	SegmentID    string     `json:"segment_id" format:"uuid"`
	SegmentName  string     `json:"segment_name"`
	TemplateID   string     `json:"template_id" format:"uuid"`
	TemplateName string     `json:"template_name"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	Recipients   int64      `json:"recipients" doc:"Recipients frozen at the start (requested)."`
	Sent         int64      `json:"sent"`
	Delivered    int64      `json:"delivered" doc:"Delivered or read."`
	Read         int64      `json:"read"`
	Replied      int64      `json:"replied"`
	Failed       int64      `json:"failed"`
	Unknown      int64      `json:"unknown" doc:"Sends whose outcome was lost in a crash (never resent)."`
}

// TemplateSendsBody counts the template sends of one day, template and segment.
type TemplateSendsBody struct {
	Day          string  `json:"day" format:"date" doc:"The day in the report's time zone."`
	TemplateID   string  `json:"template_id" format:"uuid"`
	TemplateName string  `json:"template_name"`
	SegmentID    *string `json:"segment_id" format:"uuid" doc:"The campaign's segment; null for template messages sent directly (not by a campaign)."`
	SegmentName  *string `json:"segment_name"`
	Sends        int64   `json:"sends"`
	Delivered    int64   `json:"delivered" doc:"Of the sends, delivered or read so far."`
	Read         int64   `json:"read"`
	Failed       int64   `json:"failed"`
}

// ReportPeriodParams are the period and segment every report across campaigns takes.
type ReportPeriodParams struct {
	From      time.Time `query:"from" required:"true" doc:"Start of the period (RFC 3339), included."`
	To        time.Time `query:"to" required:"true" doc:"End of the period (RFC 3339), excluded; at most 366 days after from."`
	SegmentID string    `query:"segment_id" format:"uuid" doc:"Only this segment's campaigns."`
}

func (p ReportPeriodParams) filter() (campaign.ReportFilter, error) {
	f := campaign.ReportFilter{From: p.From, To: p.To}
	if p.SegmentID != "" {
		id, err := parseUUID("query.segment_id", p.SegmentID)
		if err != nil {
			return f, err
		}
		f.SegmentID = &id
	}
	return f, nil
}

func (s *server) registerCampaignReports(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-campaign-stats", Method: http.MethodGet, Path: "/v1/campaigns/{id}/stats", Tags: []string{campaignsTag},
		Summary: "A campaign's statistics: counts and rates by status, failure codes, events per hour",
		Description: "Recipients by their current state (exclusive) and by milestone, where a later state implies the earlier ones " +
			"(read was delivered and sent; replied was sent): sent counts sent_at, delivered counts a delivery or a read. Rates are " +
			"fractions of the sends (delivered, read, replied) or of the recipients (failed). Hours are UTC, RFC 3339.",
		Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *CampaignIDParam) (*struct{ Body campaign.Stats }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		st, err := s.Campaigns.Stats(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body campaign.Stats }{Body: st}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "get-campaign-report", Method: http.MethodGet, Path: "/v1/campaigns/{id}/report.csv", Tags: []string{campaignsTag},
		Summary: "Download a campaign's per-contact report as CSV, streamed",
		Description: "One row per recipient, comma-separated, with a header row of exactly these columns: NomePessoa, CpfCnpj, " +
			"CodPessoaCliente, DDDTelefone, NumeroTelefone, EnderecoEmail, DataHoraSolicitacao, DataHoraEnvio, Mensagem, SituacaoEntrega. " +
			"Contact data is the contact's current (a deleted contact leaves it empty); the phone is the one frozen at the start, " +
			"split into area code and local number for Brazilian numbers (+55 11 98765-4321: 11 and 987654321; other countries: no " +
			"area code, the digits with the country code). Times are dd/mm/yyyy HH:MM:SS in the campaign's time zone " +
			"(America/Sao_Paulo unless set); DataHoraEnvio is empty until sent. SituacaoEntrega is Pendente, Enviando, Enviado, " +
			"Entregue, Lido, Respondido, Desconhecido (the outcome of the send was lost; it is never resent), Cancelado (still pending when " +
			"the campaign was cancelled: never sent) or Falha: <code> <reason>. " +
			"Text that a spreadsheet would run as a formula (starting with = + - @) gets a leading apostrophe. Streamed as PostgreSQL " +
			"returns the rows, so a million rows need no more memory than one.",
		Responses: map[string]*huma.Response{"200": {Description: "CSV", Content: map[string]*huma.MediaType{"text/csv": {}}}},
		Errors:    []int{http.StatusNotFound},
	}, auth.ContactsRead), func(ctx context.Context, in *CampaignIDParam) (*huma.StreamResponse, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, problem(err)
		}
		c, err := s.Campaigns.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, problem(err)
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			hctx.SetHeader("Content-Type", "text/csv; charset=utf-8")
			hctx.SetHeader("Content-Disposition", `attachment; filename="`+campaign.ReportFileName(c)+`"`)
			hctx.SetStatus(http.StatusOK)
			if n, err := s.Campaigns.Report(ctx, c, hctx.BodyWriter()); err != nil {
				// The status is sent; the client sees a truncated file, and the log says why.
				s.Logger.ErrorContext(ctx, "campaign report stopped", "campaign_id", c.ID, "rows", n, "error", err)
			}
		}}, nil
	})

	huma.Register(api, secure(huma.Operation{
		OperationID: "report-campaigns", Method: http.MethodGet, Path: "/v1/reports/campaigns", Tags: []string{reportsTag},
		Summary: "Campaigns run: the campaigns started in a period, with their counts",
		Description: "Campaigns whose start falls in [from, to) (of one segment when segment_id is given), newest first, each with its " +
			"recipients counted by milestone. 422 when the period is missing, reversed or longer than 366 days.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ReportPeriodParams
		PageParams
	}) (*struct{ Body listBody[CampaignSummaryBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		f, err := in.filter()
		if err != nil {
			return nil, err
		}
		items, err := s.Campaigns.CampaignsReport(ctx, p.AccountID, f, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(items, in.Limit, func(c campaign.CampaignSummary) uuid.UUID { return c.ID }, toCampaignSummaryBody), nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "report-template-sends", Method: http.MethodGet, Path: "/v1/reports/template-sends", Tags: []string{reportsTag},
		Summary: "Template (HSM) sends by day, template and segment",
		Description: "Campaign sends (recipients sent in [from, to), under their campaign's template and segment) and template messages " +
			"sent directly (outbound, created in the period; segment null, left out when segment_id is given), counted per day in " +
			"time_zone, template and segment, with how many were delivered, read or failed so far. Ordered by day, template name, " +
			"segment (direct sends first). 422 when the period is missing, reversed or longer than 366 days, or the zone unknown.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ReportPeriodParams
		TemplateID string `query:"template_id" format:"uuid" doc:"Only this template's sends."`
		TimeZone   string `query:"time_zone" maxLength:"64" default:"America/Sao_Paulo" doc:"The IANA zone the days are told in."`
	}) (*struct {
		Body struct {
			Items []TemplateSendsBody `json:"items"`
		}
	}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		f, err := in.filter()
		if err != nil {
			return nil, err
		}
		f.TimeZone = in.TimeZone
		if in.TemplateID != "" {
			id, err := parseUUID("query.template_id", in.TemplateID)
			if err != nil {
				return nil, err
			}
			f.TemplateID = &id
		}
		rows, err := s.Campaigns.TemplateSendsReport(ctx, p.AccountID, f)
		if err != nil {
			return nil, err
		}
		out := &struct {
			Body struct {
				Items []TemplateSendsBody `json:"items"`
			}
		}{}
		out.Body.Items = make([]TemplateSendsBody, len(rows))
		for i, r := range rows {
			b := TemplateSendsBody{Day: r.Day, TemplateID: r.TemplateID.String(), TemplateName: r.TemplateName, SegmentName: r.SegmentName,
				Sends: r.Sends, Delivered: r.Delivered, Read: r.Read, Failed: r.Failed}
			if r.SegmentID != nil {
				seg := r.SegmentID.String()
				b.SegmentID = &seg
			}
			out.Body.Items[i] = b
		}
		return out, nil
	}))
}

func toCampaignSummaryBody(c campaign.CampaignSummary) CampaignSummaryBody {
	return CampaignSummaryBody{ID: c.ID.String(), Name: c.Name, Status: c.Status, SegmentID: c.SegmentID.String(), SegmentName: c.SegmentName,
		TemplateID: c.TemplateID.String(), TemplateName: c.TemplateName, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt,
		Recipients: c.Recipients, Sent: c.Sent, Delivered: c.Delivered, Read: c.Read, Replied: c.Replied, Failed: c.Failed, Unknown: c.Unknown}
}
