package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/schedule"
)

// runSchedule runs a schedule's job as River would (its worker's Work), on the test's clock.
func (e *testEnv) runSchedule(a tenant, id string) error {
	e.t.Helper()
	w := &schedule.Worker{Service: e.schedules}
	return w.Work(context.Background(), &river.Job[schedule.Args]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 25},
		Args: schedule.Args{AccountID: a.account.ID, ScheduleID: uuid.MustParse(id)}})
}

func (e *testEnv) exec(sql string, args ...any) {
	e.t.Helper()
	_, err := e.pool.Exec(context.Background(), sql, args...)
	require.NoError(e.t, err)
}

func (e *testEnv) getSchedule(a tenant, id string) api.ScheduleBody {
	e.t.Helper()
	var sc api.ScheduleBody
	e.do(http.MethodGet, "/v1/schedules/"+id, a.apiKey, nil).ok(&sc)
	return sc
}

func TestScheduledTemplate(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixture()
	vars := map[string]string{"body:3": "05/12/2026"}
	path := "/v1/contacts/" + f.contact.ID + "/schedules"
	messages := func() int { return e.count(`SELECT count(*) FROM messages WHERE kind = 'template'`) }

	t.Run("runs when due and not before, once", func(t *testing.T) {
		e := e.as(t)
		f.a.token = e.login(f.a)
		at := e.clock.Now().Add(time.Hour).Truncate(time.Second)
		var sc api.ScheduleBody
		e.do(http.MethodPost, path, f.a.token, map[string]any{"kind": "template", "at": at, "channel_id": f.line.ID,
			"template_id": f.utility.ID, "variables": vars}).status(http.StatusCreated).ok(&sc)
		require.Equal(t, "pending", sc.Status)
		require.True(t, at.Equal(sc.At))
		require.Equal(t, f.a.admin.ID.String(), sc.CreatedByUserID, "who scheduled it")
		require.WithinDuration(t, e.clock.Now(), sc.CreatedAt, time.Second)
		require.Equal(t, vars, sc.Variables)
		var jobAt time.Time
		require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT scheduled_at FROM river_job WHERE kind = 'schedule_run' AND args->>'schedule_id' = $1`, sc.ID).Scan(&jobAt))
		require.True(t, at.Equal(jobAt), "the job is scheduled at the schedule's time")

		before := messages()
		e.clock.Advance(59 * time.Minute)
		var snooze *river.JobSnoozeError
		require.ErrorAs(t, e.runSchedule(f.a, sc.ID), &snooze, "a job run early waits for its time")
		require.InDelta(t, time.Minute, snooze.Duration, float64(time.Second))
		require.Equal(t, "pending", e.getSchedule(f.a, sc.ID).Status)
		require.Equal(t, before, messages(), "nothing sent before its time")

		e.clock.Advance(time.Minute)
		require.NoError(t, e.runSchedule(f.a, sc.ID))
		sc = e.getSchedule(f.a, sc.ID)
		require.Equal(t, "done", sc.Status, sc.Reason)
		require.NotEmpty(t, sc.MessageID)
		require.NotEmpty(t, sc.ConversationID)
		require.NotNil(t, sc.FinishedAt)
		require.Equal(t, before+1, messages())
		var text, status string
		require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT text, status FROM messages WHERE id = $1`, sc.MessageID).Scan(&text, &status))
		require.Equal(t, "queued", status)
		require.Contains(t, text, "05/12/2026")

		// River runs the job again (a retry after a crash past the commit): nothing more.
		require.NoError(t, e.runSchedule(f.a, sc.ID))
		require.Equal(t, before+1, messages(), "a retried job sends nothing twice")
		require.Equal(t, 1, e.count(`SELECT count(*) FROM event_outbox WHERE type = 'schedule.done' AND subject_id = $1`, sc.ID))
		e.do(http.MethodDelete, "/v1/schedules/"+sc.ID, f.a.apiKey, nil).problem(http.StatusConflict)
	})

	t.Run("cancelled before its time sends nothing", func(t *testing.T) {
		e := e.as(t)
		f.a.token = e.login(f.a)
		var sc api.ScheduleBody
		e.do(http.MethodPost, path, f.a.apiKey, map[string]any{"kind": "template", "at": e.clock.Now().Add(10 * time.Minute),
			"channel_id": f.line.ID, "template_id": f.utility.ID, "variables": vars}).ok(&sc)
		require.Empty(t, sc.CreatedByUserID)
		require.NotEmpty(t, sc.CreatedByAPIKeyID)
		var cancelled api.ScheduleBody
		e.do(http.MethodDelete, "/v1/schedules/"+sc.ID, f.a.token, nil).ok(&cancelled)
		require.Equal(t, "cancelled", cancelled.Status)
		require.Equal(t, f.a.admin.ID.String(), cancelled.CancelledByUserID)
		var state string
		require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT state FROM river_job WHERE kind = 'schedule_run' AND args->>'schedule_id' = $1`, sc.ID).Scan(&state))
		require.Equal(t, "cancelled", state, "the waiting job is cancelled too")
		before := messages()
		e.clock.Advance(time.Hour)
		require.NoError(t, e.runSchedule(f.a, sc.ID), "a job that ran anyway does nothing")
		require.Equal(t, before, messages())
		require.Equal(t, "cancelled", e.getSchedule(f.a, sc.ID).Status)
		e.do(http.MethodDelete, "/v1/schedules/"+sc.ID, f.a.apiKey, nil).problem(http.StatusConflict)
		require.Equal(t, 1, e.count(`SELECT count(*) FROM event_outbox WHERE type = 'schedule.cancelled' AND subject_id = $1`, sc.ID))
	})

	t.Run("skipped with the reason", func(t *testing.T) {
		e := e.as(t)
		f.a.token = e.login(f.a)
		for _, tc := range []struct {
			name, template string
			before, after  func()
			reason         string
		}{
			{"blocked contact", f.utility.ID,
				func() { e.exec(`UPDATE contacts SET blocked = true WHERE id = $1`, f.contact.ID) },
				func() { e.exec(`UPDATE contacts SET blocked = false WHERE id = $1`, f.contact.ID) }, "blocked"},
			{"template no longer approved", f.utility.ID,
				func() { e.exec(`UPDATE template_channels SET status = 'paused' WHERE template_id = $1`, f.utility.ID) },
				func() {
					e.exec(`UPDATE template_channels SET status = 'approved' WHERE template_id = $1`, f.utility.ID)
				}, "not approved"},
			{"marketing without consent", f.marketing.ID, func() {}, func() {}, "consent"},
		} {
			var sc api.ScheduleBody
			e.do(http.MethodPost, path, f.a.apiKey, map[string]any{"kind": "template", "at": e.clock.Now().Add(time.Minute),
				"channel_id": f.line.ID, "template_id": tc.template, "variables": vars}).ok(&sc)
			tc.before()
			before := messages()
			e.clock.Advance(time.Minute)
			require.NoError(t, e.runSchedule(f.a, sc.ID), tc.name)
			tc.after()
			sc = e.getSchedule(f.a, sc.ID)
			require.Equal(t, "skipped", sc.Status, tc.name)
			require.Contains(t, sc.Reason, tc.reason, tc.name)
			require.Equal(t, before, messages(), tc.name)
			require.Equal(t, 1, e.count(`SELECT count(*) FROM event_outbox WHERE type = 'schedule.skipped' AND subject_id = $1`, sc.ID), tc.name)
		}
	})

	t.Run("failed with the reason", func(t *testing.T) {
		e := e.as(t)
		f.a.token = e.login(f.a)
		var sc api.ScheduleBody
		e.do(http.MethodPost, path, f.a.token, map[string]any{"kind": "template", "at": e.clock.Now().Add(time.Minute),
			"channel_id": f.line.ID, "template_id": f.utility.ID}).ok(&sc)
		e.clock.Advance(time.Minute)
		require.NoError(t, e.runSchedule(f.a, sc.ID))
		sc = e.getSchedule(f.a, sc.ID)
		require.Equal(t, "failed", sc.Status)
		require.Contains(t, sc.Reason, "without a value")
	})

	t.Run("contact deleted", func(t *testing.T) {
		e := e.as(t)
		f.a.token = e.login(f.a)
		var c api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", f.a.apiKey, map[string]any{"name": "Ana", "phones": []string{"+55 11 98888-0002"}}).ok(&c)
		var sc api.ScheduleBody
		e.do(http.MethodPost, "/v1/contacts/"+c.ID+"/schedules", f.a.token, map[string]any{"kind": "template", "at": e.clock.Now().Add(time.Minute),
			"channel_id": f.line.ID, "template_id": f.utility.ID, "variables": vars}).ok(&sc)
		e.do(http.MethodDelete, "/v1/contacts/"+c.ID, f.a.apiKey, nil).ok(nil)
		e.clock.Advance(time.Minute)
		require.NoError(t, e.runSchedule(f.a, sc.ID))
		sc = e.getSchedule(f.a, sc.ID)
		require.Equal(t, "skipped", sc.Status)
		require.Contains(t, sc.Reason, "deleted or merged")
	})

	t.Run("opens an attendance for an agent", func(t *testing.T) {
		e := e.as(t)
		f.a.token = e.login(f.a)
		var c api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", f.a.apiKey, map[string]any{"name": "Bia", "customer_code": "C-3", "phones": []string{"+55 11 98888-0003"}}).ok(&c)
		var sc api.ScheduleBody
		e.do(http.MethodPost, "/v1/contacts/"+c.ID+"/schedules", f.a.token, map[string]any{"kind": "template", "at": e.clock.Now().Add(time.Minute),
			"channel_id": f.line.ID, "template_id": f.utility.ID, "variables": vars, "open_attendance": true,
			"agent_id": f.a.admin.ID}).ok(&sc)
		e.clock.Advance(time.Minute)
		require.NoError(t, e.runSchedule(f.a, sc.ID))
		sc = e.getSchedule(f.a, sc.ID)
		require.Equal(t, "done", sc.Status, sc.Reason)
		require.Contains(t, sc.Reason, "opened")
		var conv api.ConversationBody
		e.do(http.MethodGet, "/v1/conversations/"+sc.ConversationID, f.a.apiKey, nil).ok(&conv)
		require.Equal(t, "open", conv.Status)
		require.NotNil(t, conv.Attendance)
		require.NotEmpty(t, conv.Attendance.Protocol)
		require.Equal(t, f.a.admin.ID.String(), conv.AgentID)
		require.Equal(t, 1, e.count(`SELECT count(*) FROM event_outbox WHERE type = 'conversation.opened' AND subject_id = $1`, sc.ConversationID))
	})

	t.Run("opens an attendance for a department, leaving an agent in service alone", func(t *testing.T) {
		e := e.as(t)
		f.a.token = e.login(f.a)
		var d api.DepartmentBody
		e.do(http.MethodPost, "/v1/departments", f.a.token, map[string]any{"name": "Cobrança"}).ok(&d)
		var c api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", f.a.apiKey, map[string]any{"name": "Caio", "customer_code": "C-4", "phones": []string{"+55 11 98888-0004"}}).ok(&c)
		scheduleAndRun := func() api.ScheduleBody {
			var sc api.ScheduleBody
			e.do(http.MethodPost, "/v1/contacts/"+c.ID+"/schedules", f.a.apiKey, map[string]any{"kind": "template", "at": e.clock.Now().Add(time.Minute),
				"channel_id": f.line.ID, "template_id": f.utility.ID, "variables": vars, "open_attendance": true, "department_id": d.ID}).ok(&sc)
			e.clock.Advance(time.Minute)
			require.NoError(t, e.runSchedule(f.a, sc.ID))
			return e.getSchedule(f.a, sc.ID)
		}
		sc := scheduleAndRun()
		require.Equal(t, "done", sc.Status, sc.Reason)
		var conv api.ConversationBody
		e.do(http.MethodGet, "/v1/conversations/"+sc.ConversationID, f.a.apiKey, nil).ok(&conv)
		require.Equal(t, "open", conv.Status)
		require.Equal(t, d.ID, conv.DepartmentID)
		require.Empty(t, conv.AgentID)
		// An agent takes it; the next scheduled template leaves him its agent.
		e.do(http.MethodPost, "/v1/conversations/"+sc.ConversationID+"/assign", f.a.apiKey, map[string]any{"agent_id": f.a.admin.ID}).ok(nil)
		sc = scheduleAndRun()
		require.Equal(t, "done", sc.Status, sc.Reason)
		require.Contains(t, sc.Reason, "keeps it")
		e.do(http.MethodGet, "/v1/conversations/"+sc.ConversationID, f.a.apiKey, nil).ok(reset(&conv))
		require.Equal(t, f.a.admin.ID.String(), conv.AgentID)
		require.Equal(t, 1, e.count(`SELECT count(*) FROM attendances WHERE conversation_id = $1`, sc.ConversationID), "one attendance")
	})

	t.Run("lists", func(t *testing.T) {
		e := e.as(t)
		f.a.token = e.login(f.a)
		var pending api.ScheduleBody
		e.do(http.MethodPost, path, f.a.token, map[string]any{"kind": "flow", "at": e.clock.Now().Add(24 * time.Hour), "flow": "aniversario"}).ok(&pending)
		var page struct {
			Items      []api.ScheduleBody
			NextCursor string `json:"next_cursor"`
		}
		e.do(http.MethodGet, path+"?limit=1", f.a.token, nil).ok(&page)
		require.Equal(t, pending.ID, page.Items[0].ID, "pending first")
		var all []api.ScheduleBody
		for cursor := ""; ; {
			e.do(http.MethodGet, path+"?limit=2&cursor="+cursor, f.a.token, nil).ok(reset(&page))
			all = append(all, page.Items...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		seen := map[string]bool{}
		for i, sc := range all {
			require.False(t, seen[sc.ID], "no schedule twice across pages")
			seen[sc.ID] = true
			if i > 0 && all[i-1].Status != "pending" {
				require.NotEqual(t, "pending", sc.Status, "pending first")
			}
		}
		require.Len(t, all, 7, "Maria's: the sent, cancelled, 3 skipped, failed and pending ones")
		e.do(http.MethodGet, "/v1/schedules?kind=flow&status=pending", f.a.token, nil).ok(reset(&page))
		require.Len(t, page.Items, 1)
		require.Equal(t, pending.ID, page.Items[0].ID)
		e.do(http.MethodGet, "/v1/schedules?status=cancelled&created_by="+f.a.admin.ID.String(), f.a.token, nil).ok(reset(&page))
		require.Empty(t, page.Items, "the cancelled one was scheduled by the API key")
		e.do(http.MethodGet, "/v1/schedules?agent_id="+f.a.admin.ID.String(), f.a.token, nil).ok(reset(&page))
		require.Len(t, page.Items, 1)
		from := e.clock.Now().Add(23 * time.Hour).Format(time.RFC3339)
		e.do(http.MethodGet, "/v1/schedules?from="+from, f.a.token, nil).ok(reset(&page))
		require.Len(t, page.Items, 1)
		e.do(http.MethodGet, "/v1/schedules?until="+from, f.a.token, nil).ok(reset(&page))
		require.Len(t, page.Items, e.count(`SELECT count(*) FROM schedules WHERE run_at < $1`, from))
		e.do(http.MethodGet, "/v1/schedules?from="+from+"&until="+from, f.a.token, nil).problem(http.StatusUnprocessableEntity)
		e.do(http.MethodGet, "/v1/schedules?kind=other", f.a.token, nil).problem(http.StatusUnprocessableEntity)
		e.do(http.MethodGet, "/v1/schedules?agent_id=x", f.a.token, nil).problem(http.StatusUnprocessableEntity)
		e.do(http.MethodGet, "/v1/schedules?cursor=abc", f.a.token, nil).problem(http.StatusUnprocessableEntity)
	})
}

func TestScheduledFlowAndAppointment(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	line := e.whatsappLine(a, "+55 11 4000-1234")
	e.newUser(a, "agent")
	var agent string
	fresh := func() { // the test clock moves past access tokens' lifetime
		a.token = e.login(a)
		var tok api.TokenBody
		e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": "agent-" + a.account.ID.String() + "@example.com",
			"password": testPassword}).ok(&tok)
		agent = tok.AccessToken
	}

	t.Run("flow", func(t *testing.T) {
		e := e.as(t)
		fresh()
		c := e.inbound(a, line, "5511900000001", "Oi")
		var sc api.ScheduleBody
		e.do(http.MethodPost, "/v1/contacts/"+c.ContactID+"/schedules", a.token, map[string]any{"kind": "flow",
			"at": e.clock.Now().Add(time.Hour), "flow": "pesquisa-nps", "channel_id": line}).ok(&sc)
		e.clock.Advance(time.Hour)
		require.NoError(t, e.runSchedule(a, sc.ID))
		require.Equal(t, "done", e.getSchedule(a, sc.ID).Status)
		require.NoError(t, e.runSchedule(a, sc.ID))
		require.Equal(t, 1, e.count(`SELECT count(*) FROM event_outbox WHERE type = 'flow.triggered' AND data->>'flow' = 'pesquisa-nps'
			AND data->>'trigger' = 'schedule' AND data->>'schedule_id' = $1`, sc.ID), "triggered once")
	})

	t.Run("appointment hides the conversation, then puts it first", func(t *testing.T) {
		e := e.as(t)
		fresh()
		first := e.inbound(a, line, "5511900000002", "Estou esperando")
		e.clock.Advance(time.Second)
		called := e.inbound(a, line, "5511900000003", "Me liga amanhã")
		queue := func() []string {
			var q api.QueueBody
			e.do(http.MethodGet, "/v1/queue", agent, nil).ok(&q)
			var ids []string
			for _, it := range q.Items {
				ids = append(ids, it.ConversationID)
			}
			return ids
		}
		require.Equal(t, []string{first.ID, called.ID}, queue()[len(queue())-2:])
		at := e.clock.Now().Add(time.Hour)
		var sc api.ScheduleBody
		e.do(http.MethodPost, "/v1/contacts/"+called.ContactID+"/schedules", agent, map[string]any{"kind": "appointment",
			"at": at, "conversation_id": called.ID}).ok(&sc)
		require.NotContains(t, queue(), called.ID, "hidden until 5 minutes before")
		// A second appointment on the same conversation is refused while one waits.
		e.do(http.MethodPost, "/v1/contacts/"+called.ContactID+"/schedules", agent, map[string]any{"kind": "appointment",
			"at": at.Add(time.Hour), "conversation_id": called.ID}).problem(http.StatusConflict)
		e.clock.Advance(54 * time.Minute)
		fresh()
		require.NotContains(t, queue(), called.ID)
		fresh()
		e.clock.Advance(time.Minute)
		require.Equal(t, called.ID, queue()[0], "first from 5 minutes before")
		e.clock.Advance(5 * time.Minute)
		require.NoError(t, e.runSchedule(a, sc.ID))
		sc = e.getSchedule(a, sc.ID)
		require.Equal(t, "done", sc.Status)
		require.Equal(t, called.ID, queue()[0], "first until served")
		var got api.ConversationBody
		e.do(http.MethodPost, "/v1/queue/next", agent, nil).ok(&got)
		require.Equal(t, called.ID, got.ID)
		require.Equal(t, 0, e.count(`SELECT count(*) FROM conversations WHERE id = $1 AND appointment_at IS NOT NULL`, called.ID), "served: cleared")
	})

	t.Run("cancelling an appointment shows the conversation again", func(t *testing.T) {
		e := e.as(t)
		fresh()
		c := e.inbound(a, line, "5511900000004", "Oi")
		var sc api.ScheduleBody
		e.do(http.MethodPost, "/v1/contacts/"+c.ContactID+"/schedules", a.token, map[string]any{"kind": "appointment",
			"at": e.clock.Now().Add(time.Hour), "conversation_id": c.ID}).ok(&sc)
		var q api.QueueBody
		e.do(http.MethodGet, "/v1/queue", agent, nil).ok(&q)
		for _, it := range q.Items {
			require.NotEqual(t, c.ID, it.ConversationID)
		}
		e.do(http.MethodDelete, "/v1/schedules/"+sc.ID, a.token, nil).ok(nil)
		require.Equal(t, 0, e.count(`SELECT count(*) FROM conversations WHERE id = $1 AND appointment_at IS NOT NULL`, c.ID))
		e.do(http.MethodGet, "/v1/queue", agent, nil).ok(reset(&q))
		found := false
		for _, it := range q.Items {
			found = found || it.ConversationID == c.ID
		}
		require.True(t, found)
	})

	t.Run("served before its time", func(t *testing.T) {
		e := e.as(t)
		fresh()
		c := e.inbound(a, line, "5511900000005", "Oi")
		var sc api.ScheduleBody
		e.do(http.MethodPost, "/v1/contacts/"+c.ContactID+"/schedules", a.token, map[string]any{"kind": "appointment",
			"at": e.clock.Now().Add(time.Hour), "conversation_id": c.ID}).ok(&sc)
		e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/close", a.apiKey, map[string]any{"message": ""}).ok(nil)
		require.Equal(t, 0, e.count(`SELECT count(*) FROM conversations WHERE id = $1 AND appointment_at IS NOT NULL`, c.ID),
			"closing ends the callback: it would hide the conversation when the contact writes again")
		e.clock.Advance(time.Hour)
		require.NoError(t, e.runSchedule(a, sc.ID))
		sc = e.getSchedule(a, sc.ID)
		require.Equal(t, "skipped", sc.Status)
		require.Contains(t, sc.Reason, "before the appointment")
	})
}

func TestSchedulesRefuseBadInputAndOtherAccounts(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixtureNamed("Acme")
	g := e.sendFixtureNamed("Beta")
	line := f.line.ID
	c := e.inbound(f.a, line, "5511988880001", "Oi") // Maria's conversation
	path := "/v1/contacts/" + f.contact.ID + "/schedules"
	later := e.clock.Now().Add(time.Hour)
	tpl := func(extra map[string]any) map[string]any {
		b := map[string]any{"kind": "template", "at": later, "channel_id": line, "template_id": f.utility.ID}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	stored := func() int { return e.count(`SELECT count(*) FROM schedules`) }

	// An integrator's retry with the same Idempotency-Key schedules once.
	var mine, again api.ScheduleBody
	e.do(http.MethodPost, path, f.a.apiKey, tpl(nil), "Idempotency-Key: sched-1").status(http.StatusCreated).ok(&mine)
	e.do(http.MethodPost, path, f.a.apiKey, tpl(nil), "Idempotency-Key: sched-1").status(http.StatusCreated).ok(&again)
	require.Equal(t, mine.ID, again.ID)
	require.Equal(t, 1, stored())
	p := e.do(http.MethodPost, path, f.a.apiKey, tpl(map[string]any{"flow": "x"}), "Idempotency-Key: sched-1").problem(422)
	require.Contains(t, p.locations(), "header.Idempotency-Key")
	before := stored()

	for _, tc := range []struct {
		body   any
		status int
		field  string
	}{
		{tpl(map[string]any{"at": e.clock.Now().Add(-time.Minute)}), 422, "body.at"},
		{tpl(map[string]any{"at": e.clock.Now()}), 422, "body.at"},
		{tpl(map[string]any{"at": e.clock.Now().Add(400 * 24 * time.Hour)}), 422, "body.at"},
		{tpl(map[string]any{"at": "amanhã"}), 422, "body.at"},
		{tpl(map[string]any{"kind": "callback"}), 422, "body.kind"},
		{tpl(map[string]any{"channel_id": nil}), 422, "body.channel_id"},
		{tpl(map[string]any{"template_id": "x"}), 422, ""},
		{tpl(map[string]any{"channel_id": g.line.ID}), 422, "body.channel_id"},
		{tpl(map[string]any{"template_id": g.utility.ID}), 422, "body.template_id"},
		{tpl(map[string]any{"open_attendance": true, "agent_id": g.a.admin.ID}), 422, "body.agent_id"},
		{tpl(map[string]any{"open_attendance": true, "agent_id": f.a.admin.ID, "department_id": uuid.New()}), 422, "body.department_id"},
		{tpl(map[string]any{"agent_id": f.a.admin.ID}), 422, "body.agent_id"},
		{tpl(map[string]any{"flow": "x"}), 422, "body.flow"},
		{tpl(map[string]any{"variables": map[string]any{"body:3": 3}}), 422, "body.variables.body:3"},
		{tpl(map[string]any{"variables": map[string]string{"body:3": strings.Repeat("a", 1025)}}), 422, "body.variables.body:3"},
		{map[string]any{"kind": "flow", "at": later}, 422, "body.flow"},
		{map[string]any{"kind": "flow", "at": later, "flow": strings.Repeat("f", 101)}, 422, "body.flow"},
		{map[string]any{"kind": "flow", "at": later, "flow": "x", "template_id": f.utility.ID}, 422, "body.template_id"},
		{map[string]any{"kind": "appointment", "at": later}, 422, "body.conversation_id"},
		{map[string]any{"kind": "appointment", "at": later, "conversation_id": uuid.New()}, 422, "body.conversation_id"},
		{map[string]any{"kind": "appointment", "at": later, "conversation_id": c.ID, "flow": "x"}, 422, "body.flow"},
		{`{"kind": "flow",`, 400, ""},
		{`[]`, 422, ""},
	} {
		p := e.do(http.MethodPost, path, f.a.token, tc.body).problem(tc.status)
		if tc.field != "" {
			require.Contains(t, p.locations(), tc.field, "%v", tc.body)
		}
	}
	e.do(http.MethodPost, "/v1/contacts/not-a-uuid/schedules", f.a.token, tpl(nil)).problem(422)
	e.do(http.MethodPost, "/v1/contacts/"+uuid.NewString()+"/schedules", f.a.token, tpl(nil)).problem(404)
	e.do(http.MethodPost, path, "", tpl(nil)).problem(401)

	// Another account's contact, schedule and conversation are not found.
	e.do(http.MethodPost, path, g.a.token, map[string]any{"kind": "flow", "at": later, "flow": "x"}).problem(404)
	e.do(http.MethodGet, path, g.a.token, nil).problem(404)
	e.do(http.MethodGet, "/v1/schedules/"+mine.ID, g.a.token, nil).problem(404)
	e.do(http.MethodDelete, "/v1/schedules/"+mine.ID, g.a.token, nil).problem(404)
	var list struct{ Items []api.ScheduleBody }
	e.do(http.MethodGet, "/v1/schedules", g.a.token, nil).ok(&list)
	require.Empty(t, list.Items)
	e.do(http.MethodPost, "/v1/contacts/"+g.contact.ID+"/schedules", g.a.token, map[string]any{"kind": "appointment", "at": later,
		"conversation_id": c.ID}).problem(422)

	// A blocked contact is refused at creation.
	e.exec(`UPDATE contacts SET blocked = true WHERE id = $1`, f.contact.ID)
	p = e.do(http.MethodPost, path, f.a.token, map[string]any{"kind": "flow", "at": later, "flow": "x"}).problem(409)
	require.Contains(t, p.Detail, "blocked")
	e.exec(`UPDATE contacts SET blocked = false WHERE id = $1`, f.contact.ID)
	// An appointment on a closed conversation is refused.
	e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/close", f.a.token, map[string]any{"message": ""}).ok(nil)
	e.do(http.MethodPost, path, f.a.token, map[string]any{"kind": "appointment", "at": later, "conversation_id": c.ID}).problem(409)

	require.Equal(t, before, stored(), "no refusal stored anything")
	require.Equal(t, "pending", e.getSchedule(f.a, mine.ID).Status, "the other account changed nothing")
}
