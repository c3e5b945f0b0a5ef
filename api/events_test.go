package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/outbound"
)

// sseMessage is one message read off an event stream.
type sseMessage struct {
	id    string
	event string
	data  string
}

// openStream connects to the stream with lastID as Last-Event-ID ("" for none) and returns
// its messages as they arrive.
func openStream(t *testing.T, srv *httptest.Server, token, lastID string) <-chan sseMessage {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/events/stream", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	// The response must come at once (the stream opens with a heartbeat), not at the first
	// event or periodic heartbeat.
	late := time.AfterFunc(5*time.Second, cancel)
	resp, err := srv.Client().Do(req)
	require.True(t, late.Stop(), "the stream's response took over 5 s")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/event-stream")
	out := make(chan sseMessage, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var m sseMessage
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m.data != "" {
					out <- m
				}
				m = sseMessage{}
			case strings.HasPrefix(line, "id: "):
				m.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				m.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				m.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// next returns the next message that is not a heartbeat.
func next(t *testing.T, ch <-chan sseMessage) api.EventBody {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-ch:
			require.True(t, ok, "the stream ended")
			if m.event == "heartbeat" {
				continue
			}
			var b api.EventBody
			require.NoError(t, json.Unmarshal([]byte(m.data), &b))
			require.Equal(t, strconv.FormatInt(b.Seq, 10), m.id, "the SSE id is the seq")
			return b
		case <-deadline:
			t.Fatal("no event arrived")
		}
	}
}

func TestEventLogAndStream(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	b := e.newTenant("Other")
	srv := httptest.NewServer(e.handler)
	defer srv.Close()

	merge := func(e *testEnv) string {
		var k, d api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "K", "customer_code": uuid.NewString()}).ok(&k)
		e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "D", "customer_code": uuid.NewString()}).ok(&d)
		e.do(http.MethodPost, "/v1/contacts/"+k.ID+"/merge", a.token, map[string]any{"contact_id": d.ID}).ok(nil)
		e.publish()
		return k.ID
	}
	first := merge(e)

	var page api.EventListBody
	e.do(http.MethodGet, "/v1/events?after=0", a.token, nil).ok(&page)
	require.Len(t, page.Items, 1)
	require.Equal(t, "contact.merged", page.Items[0].Type)
	require.Equal(t, first, page.Items[0].SubjectID)
	require.False(t, page.More)
	firstSeq := page.Items[0].Seq
	e.do(http.MethodGet, "/v1/events?after=0", b.token, nil).ok(&page)
	require.Empty(t, page.Items, "another account's events are not seen")
	e.do(http.MethodGet, "/v1/events?after=0&types=contact.created", a.token, nil).ok(&page)
	require.Empty(t, page.Items)
	e.do(http.MethodGet, "/v1/events?after=-1", a.token, nil).problem(422)
	e.do(http.MethodGet, "/v1/events?after=abc", a.token, nil).problem(422)

	t.Run("StreamReplaysThenFollows", func(t *testing.T) {
		e := e.as(t)
		stream := openStream(t, srv, a.token, "0")
		other := openStream(t, srv, b.token, "")
		require.Equal(t, firstSeq, next(t, stream).Seq, "history first")
		second := merge(e)
		got := next(t, stream)
		require.Equal(t, second, got.SubjectID, "then live")
		// Resuming after the first event gives the second, and nothing twice.
		resumed := openStream(t, srv, a.token, strconv.FormatInt(firstSeq, 10))
		require.Equal(t, got.Seq, next(t, resumed).Seq)
		third := merge(e)
		require.Equal(t, third, next(t, resumed).SubjectID)
		require.Equal(t, third, next(t, stream).SubjectID)
		// The other account's stream saw only heartbeats.
		deadline := time.After(500 * time.Millisecond)
		for done := false; !done; {
			select {
			case m := <-other:
				require.Equal(t, "heartbeat", m.event, "another account's event leaked: %s", m.data)
			case <-deadline:
				done = true
			}
		}
	})

	t.Run("StreamOpensAtOnce", func(t *testing.T) {
		// Nothing to replay and a heartbeat interval of an hour: openStream gets the response
		// at once, and its first message is the heartbeat saying the stream is live.
		select {
		case m := <-openStream(t, srv, b.token, ""):
			require.Equal(t, "heartbeat", m.event)
		case <-time.After(5 * time.Second):
			t.Fatal("no heartbeat when the stream opened")
		}
	})

	t.Run("AgentsSeeTheirDepartments", func(t *testing.T) {
		e := e.as(t)
		agent := e.newUser(a, "agent")
		var dept struct{ ID string }
		e.do(http.MethodPost, "/v1/departments", a.token, map[string]any{"name": "Vendas"}).ok(&dept)
		deptID := uuid.MustParse(dept.ID)
		ctx := context.Background()
		require.NoError(t, event.Emit(ctx, e.pool, a.account.ID, time.Now(), event.New{Type: "conversation.routed", DepartmentID: &deptID}))
		e.publish()
		var p api.EventListBody
		e.do(http.MethodGet, "/v1/events?after="+strconv.FormatInt(firstSeq, 10), agent, nil).ok(&p)
		for _, it := range p.Items {
			require.NotEqual(t, "conversation.routed", it.Type, "not in the department")
		}
		require.Positive(t, p.LastSeq, "the position advances past what the agent may not see")
		e.do(http.MethodGet, "/v1/events?after="+strconv.FormatInt(firstSeq, 10), a.token, nil).ok(&p)
		require.Equal(t, "conversation.routed", p.Items[len(p.Items)-1].Type, "an admin sees it")
	})
}

func TestWebhookSubscriptions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	agent := e.newUser(a, "agent")

	var mu sync.Mutex
	var bodies []string
	var fail = true
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(b))
		if fail {
			fail = false
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer rcv.Close()

	e.do(http.MethodPost, "/v1/webhooks", agent, map[string]any{"url": rcv.URL}).problem(403)
	e.do(http.MethodPost, "/v1/webhooks", a.token, map[string]any{"url": "ftp://x"}).problem(422)
	e.do(http.MethodPost, "/v1/webhooks", a.token, map[string]any{"url": 42}).problem(422)
	var sub api.WebhookSubscriptionBody
	e.do(http.MethodPost, "/v1/webhooks", a.token, map[string]any{"url": rcv.URL, "event_types": []string{"contact.merged"}}).ok(&sub)
	require.NotEmpty(t, sub.Secret)
	var got api.WebhookSubscriptionBody
	e.do(http.MethodGet, "/v1/webhooks/"+sub.ID, a.token, nil).ok(&got)
	require.Empty(t, got.Secret, "the secret is shown once")
	var list struct{ Items []api.WebhookSubscriptionBody }
	e.do(http.MethodGet, "/v1/webhooks", a.token, nil).ok(&list)
	require.Len(t, list.Items, 1)

	var k, d api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "K", "customer_code": "K"}).ok(&k)
	e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "D", "customer_code": "D"}).ok(&d)
	e.do(http.MethodPost, "/v1/contacts/"+k.ID+"/merge", a.token, map[string]any{"contact_id": d.ID}).ok(nil)
	e.publish()
	ctx := context.Background()
	_, err := e.outbound.Deliver(ctx)
	require.NoError(t, err)

	var sends struct{ Items []api.WebhookSendBody }
	e.do(http.MethodGet, "/v1/webhooks/"+sub.ID+"/deliveries", a.token, nil).ok(&sends)
	require.Len(t, sends.Items, 1)
	require.Equal(t, "pending", sends.Items[0].Status)
	require.Equal(t, 502, *sends.Items[0].LastStatus)
	require.NotNil(t, sends.Items[0].NextAttemptAt)
	// Redelivered by hand at once, without waiting for the retry.
	r := e.do(http.MethodPost, "/v1/webhooks/"+sub.ID+"/deliveries/"+sends.Items[0].ID+"/redeliver", a.token, nil)
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	_, err = e.outbound.Deliver(ctx)
	require.NoError(t, err)
	e.do(http.MethodGet, "/v1/webhooks/"+sub.ID+"/deliveries", a.token, nil).ok(&sends)
	require.Equal(t, "succeeded", sends.Items[0].Status)
	mu.Lock()
	require.Len(t, bodies, 2)
	var p outbound.Payload
	require.NoError(t, json.Unmarshal([]byte(bodies[1]), &p))
	mu.Unlock()
	require.Equal(t, "contact.merged", p.Type)
	require.Equal(t, k.ID, p.SubjectID.String())

	e.do(http.MethodPut, "/v1/webhooks/"+sub.ID, a.token, map[string]any{"url": rcv.URL + "/v2", "active": false}).ok(&got)
	require.False(t, got.Active)
	require.Empty(t, got.EventTypes, "types replaced: every type")
	r = e.do(http.MethodDelete, "/v1/webhooks/"+sub.ID, a.token, nil)
	require.Equal(t, http.StatusNoContent, r.Status)
	e.do(http.MethodGet, "/v1/webhooks/"+sub.ID, a.token, nil).problem(404)
}
