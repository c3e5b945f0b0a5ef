package closing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/closing"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/secretbox"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var start = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

type env struct {
	t        *testing.T
	pool     *pgxpool.Pool
	clock    *clock.Manual
	convs    *conversation.Service
	svc      *closing.Service
	fields   *customfield.Service
	account  uuid.UUID
	user     uuid.UUID
	whatsapp uuid.UUID
	seq      int
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(start)
	box, err := secretbox.New(secretbox.GenerateKey())
	require.NoError(t, err)
	acct, err := account.Create(ctx, pool, "Acme")
	require.NoError(t, err)
	u, err := account.CreateUser(ctx, pool, account.NewUser{AccountID: acct.ID, Email: "ana-" + acct.ID.String()[:8] + "@example.com", Password: "correct horse battery", Role: "agent"})
	require.NoError(t, err)
	fake, wa, number := "fake", "Vendas", "+55 11 4000-1234"
	w, err := channel.NewService(pool, clk, box).Create(ctx, acct.ID, channel.Input{Type: channel.WhatsApp, Name: &wa, Provider: &fake, PhoneNumber: &number})
	require.NoError(t, err)
	return &env{t: t, pool: pool, clock: clk, convs: conversation.NewService(pool, clk), svc: closing.NewService(pool, clk),
		fields: customfield.NewService(pool, clk), account: acct.ID, user: u.ID, whatsapp: w.ID}
}

// write is the contact's text (a reaction when kind says so) through the inbound pipeline at
// the clock's time; returns the conversation.
func (e *env) write(from, kind string) uuid.UUID {
	e.t.Helper()
	e.seq++
	at := e.clock.Now()
	m := &provider.InboundMessage{ID: fmt.Sprintf("wamid.%d", e.seq), From: from, FromName: "Maria", Timestamp: at, Kind: kind, Text: "Oi"}
	require.NoError(e.t, pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		return e.convs.ApplyInbound(context.Background(), tx, []conversation.Inbound{{AccountID: e.account, ChannelID: e.whatsapp, At: at, Message: m}})
	}))
	var id uuid.UUID
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT id FROM conversations WHERE account_id = $1 AND address = $2`, e.account, from).Scan(&id))
	return id
}

func (e *env) get(id uuid.UUID) conversation.Conversation {
	e.t.Helper()
	c, err := e.convs.Get(context.Background(), e.account, id)
	require.NoError(e.t, err)
	return c
}

func (e *env) eventTypes() []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT type FROM event_outbox WHERE account_id = $1 AND type NOT IN ('message.received', 'conversation.opened') ORDER BY id`, e.account)
	require.NoError(e.t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(e.t, err)
	return out
}

// lastJob is the newest scheduled close job's args and when it is due.
func (e *env) lastJob() (closing.Args, time.Time) {
	e.t.Helper()
	var raw []byte
	var at time.Time
	require.NoError(e.t, e.pool.QueryRow(context.Background(),
		`SELECT args, scheduled_at FROM river_job WHERE kind = 'conversation_close' ORDER BY id DESC LIMIT 1`).Scan(&raw, &at))
	var a closing.Args
	require.NoError(e.t, json.Unmarshal(raw, &a))
	return a, at
}

// runJob runs the job as River's worker would, against the real database.
func (e *env) runJob(a closing.Args) {
	e.t.Helper()
	w := &closing.Worker{Service: e.svc}
	require.NoError(e.t, w.Work(context.Background(), &river.Job[closing.Args]{Args: a}))
}

func fieldErrs(t *testing.T, err error) []string {
	t.Helper()
	var f *fault.Error
	require.True(t, errors.As(err, &f), "%v", err)
	out := make([]string, len(f.Fields))
	for i, fe := range f.Fields {
		out[i] = fe.Field + ": " + fe.Message
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestCloseNow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		profile string                           // the user's closing message
		prepare func(e *env)                     // before the close
		req     func(e *env, r *closing.Request) // changes to the request
		check   func(t *testing.T, e *env, res closing.Result, conv uuid.UUID)
		errs    []string   // the field errors expected (422)
		kind    fault.Kind // or the fault expected
	}{
		{name: "plain close removes agent and department", prepare: func(e *env) {
			_, err := e.pool.Exec(ctx, `INSERT INTO departments (account_id, id, name, created_at, updated_at) VALUES ($1, gen_random_uuid(), 'Suporte', now(), now())`, e.account)
			require.NoError(e.t, err)
			_, err = e.pool.Exec(ctx, `UPDATE conversations SET agent_id = $2, department_id = (SELECT id FROM departments WHERE account_id = $1) WHERE account_id = $1`, e.account, e.user)
			require.NoError(e.t, err)
		}, check: func(t *testing.T, e *env, res closing.Result, conv uuid.UUID) {
			c := e.get(conv)
			require.Equal(t, "closed", c.Status)
			require.Nil(t, c.Attendance)
			require.Nil(t, c.AgentID)
			require.Nil(t, c.DepartmentID)
			require.Nil(t, res.Message)
			var closedAt time.Time
			var agent *uuid.UUID
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT closed_at, agent_id FROM attendances WHERE id = $1`, res.AttendanceID).Scan(&closedAt, &agent))
			require.True(t, closedAt.Equal(start))
			require.Equal(t, e.user, *agent, "the attendance keeps who served it")
			require.Equal(t, []string{"conversation.closed"}, e.eventTypes())
		}},
		{name: "message given is queued", req: func(e *env, r *closing.Request) { r.Message = ptr("  Obrigado pelo contato!  ") },
			check: func(t *testing.T, e *env, res closing.Result, conv uuid.UUID) {
				require.True(t, res.Message.Queued)
				var text, status, dir string
				require.NoError(t, e.pool.QueryRow(ctx, `SELECT text, status, direction FROM messages WHERE id = $1`, *res.Message.MessageID).Scan(&text, &status, &dir))
				require.Equal(t, []string{"Obrigado pelo contato!", "queued", "outbound"}, []string{text, status, dir})
			}},
		{name: "profile message by default", profile: "Até logo!",
			check: func(t *testing.T, e *env, res closing.Result, conv uuid.UUID) {
				require.True(t, res.Message.Queued)
				require.Equal(t, "Até logo!", res.Message.Text)
			}},
		{name: "empty message sends none", profile: "Até logo!", req: func(e *env, r *closing.Request) { r.Message = ptr("") },
			check: func(t *testing.T, e *env, res closing.Result, conv uuid.UUID) { require.Nil(t, res.Message) }},
		{name: "outside the session: a system note", prepare: func(e *env) { e.clock.Advance(25 * time.Hour) },
			req: func(e *env, r *closing.Request) { r.Message = ptr("Tchau") },
			check: func(t *testing.T, e *env, res closing.Result, conv uuid.UUID) {
				require.False(t, res.Message.Queued)
				require.Contains(t, res.Message.Reason, "service session")
				var kind, dir, text string
				require.NoError(t, e.pool.QueryRow(ctx, `SELECT kind, direction, text FROM messages WHERE id = $1`, *res.Message.NoteID).Scan(&kind, &dir, &text))
				require.Equal(t, "system", kind)
				require.Equal(t, "internal", dir)
				require.Contains(t, text, "Tchau")
				var queued int
				require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE direction = 'outbound'`).Scan(&queued))
				require.Zero(t, queued)
			}},
		{name: "flow triggered", req: func(e *env, r *closing.Request) { r.Flow = "pesquisa-nps" },
			check: func(t *testing.T, e *env, res closing.Result, conv uuid.UUID) {
				require.Equal(t, "pesquisa-nps", res.FlowTriggered)
				require.Equal(t, []string{"conversation.closed", "flow.triggered"}, e.eventTypes())
				var flow string
				require.NoError(t, e.pool.QueryRow(ctx, `SELECT data->>'flow' FROM event_outbox WHERE type = 'flow.triggered'`).Scan(&flow))
				require.Equal(t, "pesquisa-nps", flow)
			}},
		{name: "required field missing", prepare: func(e *env) { e.field("motivo", "required") }, errs: []string{"body.custom_fields.motivo: is required at closing"}},
		{name: "required field given, optional cleared", prepare: func(e *env) {
			e.field("motivo", "required")
			e.field("obs", "optional")
			_, err := e.pool.Exec(ctx, `UPDATE contacts SET custom = '{"obs": "antigo", "outro": 1}' WHERE account_id = $1`, e.account)
			require.NoError(e.t, err)
		}, req: func(e *env, r *closing.Request) { r.CustomFields = map[string]any{"motivo": "Dúvida", "obs": nil} },
			check: func(t *testing.T, e *env, res closing.Result, conv uuid.UUID) {
				var custom map[string]any
				require.NoError(t, e.pool.QueryRow(ctx, `SELECT custom FROM contacts WHERE account_id = $1`, e.account).Scan(&custom))
				require.Equal(t, map[string]any{"motivo": "Dúvida", "outro": float64(1)}, custom)
			}},
		{name: "required field already held", prepare: func(e *env) {
			e.field("motivo", "required")
			_, err := e.pool.Exec(ctx, `UPDATE contacts SET custom = '{"motivo": "Venda"}' WHERE account_id = $1`, e.account)
			require.NoError(e.t, err)
		}, check: func(t *testing.T, e *env, res closing.Result, conv uuid.UUID) {
			require.Equal(t, "closed", e.get(conv).Status)
		}},
		{name: "required field cleared", prepare: func(e *env) {
			e.field("motivo", "required")
			_, err := e.pool.Exec(ctx, `UPDATE contacts SET custom = '{"motivo": "Venda"}' WHERE account_id = $1`, e.account)
			require.NoError(e.t, err)
		}, req: func(e *env, r *closing.Request) { r.CustomFields = map[string]any{"motivo": nil} },
			errs: []string{"body.custom_fields.motivo: is required at closing"}},
		{name: "bad fields", prepare: func(e *env) {
			e.field("motivo", "required")
			e.field("interno", "no")
		}, req: func(e *env, r *closing.Request) {
			r.CustomFields = map[string]any{"motivo": "Outra coisa", "interno": "x", "nada": 1}
		}, errs: []string{
			"body.custom_fields.interno: this custom field is not asked at closing (its on_close is no)",
			"body.custom_fields.motivo: must be one of [Dúvida Venda]",
			"body.custom_fields.nada: no custom field has this key",
		}},
		{name: "bad request", req: func(e *env, r *closing.Request) { r.IfContactReplies = "keep"; r.Flow = string(make([]byte, 101)) },
			errs: []string{"body.if_contact_replies: only applies to a close scheduled with in_minutes", "body.flow: must name a flow in at most 100 characters"}},
		{name: "already closed", prepare: func(e *env) {
			_, err := e.pool.Exec(ctx, `UPDATE conversations SET status = 'closed' WHERE account_id = $1`, e.account)
			require.NoError(e.t, err)
		}, kind: fault.KindConflict},
		{name: "another account's conversation", req: func(e *env, r *closing.Request) { r.AccountID = uuid.Must(uuid.NewV7()) }, kind: fault.KindNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.t = t
			conv := e.write("5511987654321", "text")
			if tc.profile != "" {
				_, err := e.svc.SetClosingMessage(ctx, e.account, e.user, tc.profile)
				require.NoError(t, err)
			}
			if tc.prepare != nil {
				tc.prepare(e)
			}
			req := closing.Request{AccountID: e.account, ConversationID: conv, UserID: &e.user}
			if tc.req != nil {
				tc.req(e, &req)
			}
			res, err := e.svc.Close(ctx, req)
			switch {
			case tc.errs != nil:
				require.ElementsMatch(t, tc.errs, fieldErrs(t, err))
				require.Equal(t, "open", e.get(conv).Status, "nothing changed")
			case tc.kind != 0:
				var f *fault.Error
				require.True(t, errors.As(err, &f), "%v", err)
				require.Equal(t, tc.kind, f.Kind)
			default:
				require.NoError(t, err)
				require.Equal(t, "closed", e.get(conv).Status)
				require.NotNil(t, res.ClosedAt)
				tc.check(t, e, res, conv)
			}
		})
	}
}

// field defines a choice field (Dúvida, Venda) asked at closing as onClose says.
func (e *env) field(key, onClose string) {
	e.t.Helper()
	_, err := e.fields.Create(context.Background(), e.account, customfield.Input{Key: key, Type: customfield.Choice, Choices: []string{"Dúvida", "Venda"}, OnClose: &onClose})
	require.NoError(e.t, err)
}

// TestCloseLater schedules closes with keep and cancel and makes the contact reply (or not,
// or only react) before the job runs: the job runs as River's worker would, at the scheduled
// time on the fake clock.
func TestCloseLater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name       string
		ifReplies  string
		reply      string // "" none, or the message kind the contact sends before the close
		wantClosed bool
	}{
		{name: "keep, no reply", ifReplies: "keep", wantClosed: true},
		{name: "keep, contact replies", ifReplies: "keep", reply: "text", wantClosed: true},
		{name: "cancel, no reply", ifReplies: "cancel", wantClosed: true},
		{name: "cancel, contact replies", ifReplies: "cancel", reply: "text", wantClosed: false},
		{name: "cancel, contact only reacts", ifReplies: "cancel", reply: "reaction", wantClosed: true},
		{name: "default is cancel", reply: "text", wantClosed: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.t = t
			conv := e.write("5511987654321", "text")
			res, err := e.svc.Close(ctx, closing.Request{AccountID: e.account, ConversationID: conv, UserID: &e.user,
				In: 10 * time.Minute, IfContactReplies: tc.ifReplies, Message: ptr("Encerrando, obrigado!"), Flow: "nps"})
			require.NoError(t, err)
			require.Nil(t, res.ClosedAt)
			require.True(t, res.CloseAt.Equal(start.Add(10*time.Minute)))
			args, due := e.lastJob()
			require.True(t, due.Equal(start.Add(10*time.Minute)), "scheduled at the clock's time plus N: %v", due)
			require.Equal(t, *res.PendingID, args.PendingID)
			require.Equal(t, "open", e.get(conv).Status, "not closed before its time")

			e.clock.Advance(5 * time.Minute)
			if tc.reply != "" {
				e.write("5511987654321", tc.reply)
			}
			e.clock.Advance(5 * time.Minute)
			e.runJob(args)
			c := e.get(conv)
			if !tc.wantClosed {
				require.Equal(t, "open", c.Status)
				require.NotContains(t, e.eventTypes(), "conversation.closed")
				return
			}
			require.Equal(t, "closed", c.Status)
			require.Equal(t, []string{"conversation.close_scheduled", "conversation.closed", "flow.triggered"}, e.eventTypes())
			var text string
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT text FROM messages WHERE direction = 'outbound'`).Scan(&text))
			require.Equal(t, "Encerrando, obrigado!", text)
			var closedAt time.Time
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT closed_at FROM attendances WHERE id = $1`, res.AttendanceID).Scan(&closedAt))
			require.True(t, closedAt.Equal(start.Add(10*time.Minute)))

			e.runJob(args)
			require.Equal(t, []string{"conversation.close_scheduled", "conversation.closed", "flow.triggered"}, e.eventTypes(), "a second run does nothing")
		})
	}
}

// TestPendingCloseSuperseded: a close now, a newer schedule or a cancel leave the old job
// nothing to do; a job for an attendance that closed and reopened does nothing either.
func TestPendingCloseSuperseded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name   string
		after  func(e *env, conv uuid.UUID)
		closed int // conversation.closed events at the end
	}{
		{name: "closed now meanwhile", after: func(e *env, conv uuid.UUID) {
			_, err := e.svc.Close(ctx, closing.Request{AccountID: e.account, ConversationID: conv})
			require.NoError(e.t, err)
		}, closed: 1},
		{name: "cancelled", after: func(e *env, conv uuid.UUID) {
			require.NoError(e.t, e.svc.CancelPending(ctx, e.account, conv))
			var f *fault.Error
			require.True(e.t, errors.As(e.svc.CancelPending(ctx, e.account, conv), &f))
			require.Equal(e.t, fault.KindConflict, f.Kind, "nothing left to cancel")
		}, closed: 0},
		{name: "replaced by a later schedule", after: func(e *env, conv uuid.UUID) {
			_, err := e.svc.Close(ctx, closing.Request{AccountID: e.account, ConversationID: conv, In: time.Hour})
			require.NoError(e.t, err)
		}, closed: 0},
		{name: "closed and reopened", after: func(e *env, conv uuid.UUID) {
			_, err := e.svc.Close(ctx, closing.Request{AccountID: e.account, ConversationID: conv})
			require.NoError(e.t, err)
			e.write("5511987654321", "text")
			require.Equal(e.t, "open", e.get(conv).Status)
		}, closed: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.t = t
			conv := e.write("5511987654321", "text")
			_, err := e.svc.Close(ctx, closing.Request{AccountID: e.account, ConversationID: conv, In: 10 * time.Minute, IfContactReplies: "keep"})
			require.NoError(t, err)
			args, _ := e.lastJob()
			tc.after(e, conv)
			e.clock.Advance(10 * time.Minute)
			closed, err := e.svc.RunPending(ctx, args)
			require.NoError(t, err)
			require.False(t, closed)
			n := 0
			for _, ty := range e.eventTypes() {
				if ty == "conversation.closed" {
					n++
				}
			}
			require.Equal(t, tc.closed, n)
		})
	}
}
