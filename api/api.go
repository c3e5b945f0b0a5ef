// Package api is the HTTP layer: it registers the huma operations under /v1, authenticates
// callers, and turns domain results and faults into JSON and RFC 9457 problems. It holds no
// rules and no SQL: each handler decodes, calls an internal package, and encodes.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/company"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/department"
	"github.com/conversa-hq/conversa/internal/distribution"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/importer"
	"github.com/conversa-hq/conversa/internal/media"
	"github.com/conversa-hq/conversa/internal/newchat"
	"github.com/conversa-hq/conversa/internal/note"
	"github.com/conversa-hq/conversa/internal/outbound"
	"github.com/conversa-hq/conversa/internal/quickreply"
	"github.com/conversa-hq/conversa/internal/schedule"
	"github.com/conversa-hq/conversa/internal/segment"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/tag"
	"github.com/conversa-hq/conversa/internal/teamchat"
	"github.com/conversa-hq/conversa/internal/template"
	"github.com/conversa-hq/conversa/internal/webhook"
)

// Version is the API's version in the OpenAPI document.
const Version = "0.1.0"

// DefaultMaxBodyBytes caps request bodies when Deps.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// humaDefaultMaxBody is the limit huma puts on an operation that sets none.
const humaDefaultMaxBody = 1 << 20

// Deps are what the handlers call.
type Deps struct {
	Pool     *pgxpool.Pool
	Auth     *auth.Service
	Contacts *contact.Service
	Consent  *consent.Service
	Notes    *note.Service
	Tags     *tag.Service
	// CustomFields manages custom field definitions.
	CustomFields *customfield.Service
	Departments  *department.Service
	Segments     *segment.Service
	Companies    *company.Service
	Channels     *channel.Service
	Webhooks     *webhook.Service
	// Events reads the event log; Hub follows it live for the stream.
	Events *event.Log
	Hub    *event.Hub
	// Outbound manages outbound webhook subscriptions.
	Outbound *outbound.Service
	// Heartbeat is how often an idle event stream gets a heartbeat (DefaultHeartbeat when zero).
	Heartbeat time.Duration
	// Closing is closed when the server starts shutting down: event streams end. Nil: never.
	Closing <-chan struct{}
	// Templates manages message templates.
	Templates *template.Service
	// Conversations reads conversations, their messages and attendances.
	Conversations *conversation.Service
	// Imports runs CSV imports of contacts.
	Imports *importer.Service
	// Send queues messages (the Send Message API and agents' messages).
	Send *send.Service
	// Schedules are what is scheduled for contacts (templates, flows, appointments).
	Schedules *schedule.Service
	// Campaigns are the account's broadcasts.
	Campaigns *campaign.Service
	// QuickReplies are the account's canned answers.
	QuickReplies *quickreply.Service
	// Media is the account's media library.
	Media *media.Service
	// TeamChat is the users' internal chat.
	TeamChat *teamchat.Service
	// NewChat sends a template to a number that may not be a contact yet.
	NewChat *newchat.Service
	Clock   clock.Clock
	Logger  *slog.Logger
	// Ready reports whether the service can take traffic (database reachable, schema
	// current). Nil means always ready.
	Ready func(context.Context) error
	// Registry receives the HTTP metrics; /metrics serves its gatherer. Nil makes a private one.
	Registry *prometheus.Registry
	// MaxBodyBytes caps request bodies (413 beyond). Defaults to DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxImportBytes caps an uploaded CSV file (413 beyond). Defaults to DefaultMaxImportBytes.
	MaxImportBytes int64
	// TrustedProxies are the load balancers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
}

// New builds the router and the API. The returned handler serves everything: /v1, the
// OpenAPI documents, /docs, health, metrics and the JWKS.
func New(d Deps) (http.Handler, huma.API) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Clock == nil {
		d.Clock = clock.System{}
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.MaxBodyBytes == 0 {
		d.MaxBodyBytes = DefaultMaxBodyBytes
	}
	installErrorHandler(d.Logger)

	router := chi.NewMux()
	var origins func(context.Context, uuid.UUID) ([]string, error)
	if d.Webhooks != nil {
		origins = d.Webhooks.WebChatOrigins
	}
	router.Use(requestContext(d.TrustedProxies), recoverer(d.Logger), accessLog(d.Logger), webchatCORS(origins))
	router.Handle("/metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{}))

	api := humachi.New(router, config())
	m := newHTTPMetrics(d.Registry)
	api.UseMiddleware(m.middleware, wellFormedQuery(api), authenticate(api, d.Auth))

	// Every operation is registered through one group so that settings common to all of
	// them (the body limit) are applied in one place. huma has already put its own 1 MiB
	// default on operations with a body when the modifier runs.
	grp := huma.NewGroup(api)
	grp.UseModifier(func(op *huma.Operation, next func(*huma.Operation)) {
		if op.MaxBodyBytes == 0 || op.MaxBodyBytes == humaDefaultMaxBody {
			op.MaxBodyBytes = d.MaxBodyBytes
		}
		next(op)
	})
	s := &server{Deps: d, distribution: distribution.NewService(d.Pool, d.Clock)}
	s.registerHealth(grp)
	s.registerAuth(grp)
	s.registerAccount(grp)
	s.registerAPIKeys(grp)
	s.registerContactBatch(grp)
	s.registerContacts(grp)
	s.registerContactMerge(grp)
	s.registerConsents(grp)
	s.registerNotes(grp)
	s.registerTags(grp)
	s.registerCustomFields(grp)
	s.registerDepartments(grp)
	s.registerSegments(grp)
	s.registerCompanies(grp)
	s.registerChannels(grp)
	s.registerWebhooks(grp)
	s.registerEvents(grp)
	s.registerOutbound(grp)
	s.registerTemplates(grp)
	s.registerImports(grp)
	s.registerMessages(grp)
	s.registerPaidSends(grp)
	s.registerQuickReplies(grp)
	s.registerConversations(grp)
	s.registerQueue(grp)
	s.registerClosing(grp)
	s.registerSchedules(grp)
	s.registerDistribution(grp)
	s.registerMedia(grp)
	s.registerTeamChat(grp)
	s.registerNewChat(grp)
	s.registerCampaigns(grp)
	s.registerCampaignRecipients(grp)
	s.registerCampaignReports(grp)
	return router, api
}

// OpenAPI returns the API description without a database, for `conversa openapi` and the
// drift test.
func OpenAPI() *huma.OpenAPI {
	_, api := New(Deps{})
	return api.OpenAPI()
}

type server struct {
	Deps
	// distribution keeps the agents' availability and capacities (GET and PATCH /v1/me too).
	distribution *distribution.Service
}

// humaGlobals sets huma's package-level settings once: several APIs may be built at once
// (parallel tests), and huma reads these while it builds schemas.
var humaGlobals sync.Once

func config() huma.Config {
	humaGlobals.Do(func() { huma.DefaultArrayNullable = false })
	cfg := huma.DefaultConfig("Conversa API", Version)
	cfg.CreateHooks = nil
	cfg.Info.Description = "Headless omnichannel customer engagement: contacts, channels, conversations, " +
		"templates, campaigns and LGPD consent. Errors are RFC 9457 problems; lists use cursor pagination; " +
		"reads return an ETag and updates honour If-Match; creating calls accept an Idempotency-Key."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		schemeBearer: {
			Type: "http", Scheme: "bearer", BearerFormat: "JWT or API key",
			Description: "An access token from POST /v1/auth/login, or an integrator API key (cvk_...).",
		},
		schemeAPIKey: {
			Type: "apiKey", In: "header", Name: "X-API-Key",
			Description: "An integrator API key (cvk_...), as an alternative to the Authorization header.",
		},
	}
	return cfg
}
