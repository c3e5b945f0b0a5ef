package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/sse"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/event"
)

// EventBody is one event of the log.
type EventBody struct {
	Seq        int64     `json:"seq" doc:"Grows with every event the account can see; resume after the last one you handled."`
	ID         string    `json:"id" format:"uuid" doc:"Stable: a webhook delivered twice carries the same id."`
	Type       string    `json:"type" example:"contact.merged"`
	SubjectID  string    `json:"subject_id,omitempty" format:"uuid" doc:"The resource the event is about."`
	OccurredAt time.Time `json:"occurred_at"`
	// PublishedAt lets a client see how long events wait to be numbered, apart from how long
	// they take to reach it.
	PublishedAt time.Time       `json:"published_at" doc:"When the log numbered the event; streams and webhooks see it from then."`
	Data        json.RawMessage `json:"data"`
}

// EventListBody is a page of the log.
type EventListBody struct {
	Items []EventBody `json:"items"`
	// LastSeq is where the next call resumes (after=last_seq), also when nothing in the page
	// was visible to the caller.
	LastSeq int64 `json:"last_seq"`
	More    bool  `json:"more" doc:"More events follow: call again with after=last_seq."`
}

// Heartbeat keeps an idle stream open through proxies.
type Heartbeat struct {
	Time time.Time `json:"time"`
}

const eventsTag = "Events"

// DefaultHeartbeat is how often an idle stream gets a heartbeat when Deps.Heartbeat is zero.
const DefaultHeartbeat = 15 * time.Second

func (s *server) registerEvents(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-events", Method: http.MethodGet, Path: "/v1/events", Tags: []string{eventsTag},
		Summary: "Read the event log after a sequence number",
		Description: "Events in the order they happened, after `after` (0: from the start). A client that lost its stream calls this with the last seq it handled " +
			"until `more` is false, then reconnects the stream with Last-Event-ID. Agents see the account's events and those of their departments and their own; " +
			"supervisors, admins, compliance and API keys see all.",
	}, auth.EventsRead), handle(func(ctx context.Context, in *struct {
		After int64    `query:"after" minimum:"0" doc:"The last seq already handled."`
		Types []string `query:"types" maxItems:"50" doc:"Only these types (comma-separated)."`
		Limit int      `query:"limit" minimum:"1" maximum:"10000" default:"1000"`
	}) (*struct{ Body EventListBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		viewer, err := s.viewer(ctx, p)
		if err != nil {
			return nil, err
		}
		evs, err := s.Events.List(ctx, p.AccountID, in.After, in.Types, in.Limit+1)
		if err != nil {
			return nil, err
		}
		out := &struct{ Body EventListBody }{Body: EventListBody{Items: []EventBody{}, LastSeq: in.After}}
		if len(evs) > in.Limit {
			evs, out.Body.More = evs[:in.Limit], true
		}
		for _, e := range evs {
			if viewer.Visible(e) {
				out.Body.Items = append(out.Body.Items, toEventBody(e))
			}
			out.Body.LastSeq = e.Seq
		}
		return out, nil
	}))

	sse.Register(api, secure(huma.Operation{
		OperationID: "stream-events", Method: http.MethodGet, Path: "/v1/events/stream", Tags: []string{eventsTag},
		Summary: "Follow the event log live (Server-Sent Events)",
		Description: "Each event is an SSE message whose id is its seq. Reconnect with the Last-Event-ID header (or ?after=) to receive everything after it, " +
			"history first, then live, without a gap or a repeat. A heartbeat message marks the end of the history (the stream is live from there) " +
			"and arrives every 15 seconds on an idle stream. A client too slow to keep up " +
			"is disconnected and resumes the same way. Filtering is that of GET /v1/events.",
	}, auth.EventsRead), map[string]any{"event": EventBody{}, "heartbeat": Heartbeat{}},
		func(ctx context.Context, in *struct {
			LastEventID string `header:"Last-Event-ID" doc:"The seq of the last event handled."`
			After       int64  `query:"after" minimum:"0" doc:"Used when there is no Last-Event-ID."`
		}, send sse.Sender) {
			s.stream(ctx, in.LastEventID, in.After, send)
		})
}

// stream replays the log after the client's position, then follows the hub.
func (s *server) stream(ctx context.Context, lastEventID string, after int64, send sse.Sender) {
	p, err := principal(ctx)
	if err != nil {
		return
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(lastEventID), 10, 64); err == nil && n >= 0 {
		after = n
	}
	viewer, err := s.viewer(ctx, p)
	if err != nil {
		return
	}
	sub, live, err := s.Hub.Subscribe(ctx, p.AccountID)
	if err != nil {
		return
	}
	defer sub.Close()
	emit := func(e event.Event) bool {
		if e.Seq <= after {
			return true
		}
		after = e.Seq
		if !viewer.Visible(e) {
			return true
		}
		return send(sse.Message{ID: int(e.Seq), Data: toEventBody(e)}) == nil
	}
	// History up to where the live subscription begins.
	for after < live {
		evs, err := s.Events.List(ctx, p.AccountID, after, nil, event.MaxPage)
		if err != nil || len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Seq > live {
				break
			}
			if !emit(e) {
				return
			}
		}
		if evs[len(evs)-1].Seq >= live || len(evs) < event.MaxPage {
			break
		}
	}
	// Live from here: a heartbeat says so at once. Until the stream's first message nothing,
	// not even the response's status and headers, reaches the client, so one that opened a
	// stream with no history to replay would otherwise wait up to a heartbeat interval (15 s)
	// to learn that it is connected, and events emitted meanwhile would look late.
	if send.Data(Heartbeat{Time: time.Now().UTC()}) != nil {
		return
	}
	every := s.Heartbeat
	if every == 0 {
		every = DefaultHeartbeat
	}
	beat := time.NewTicker(every)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.Closing:
			return
		case <-sub.Dropped():
			return
		case e := <-sub.Events():
			if !emit(e) {
				return
			}
		case t := <-beat.C:
			if send.Data(Heartbeat{Time: t.UTC()}) != nil {
				return
			}
		}
	}
}

// viewer says what p may see of the log.
func (s *server) viewer(ctx context.Context, p auth.Principal) (event.Viewer, error) {
	if p.UserID == nil || p.Role != auth.RoleAgent {
		return event.Viewer{All: true}, nil
	}
	deps, err := s.Departments.Of(ctx, p.AccountID, *p.UserID)
	if err != nil {
		return event.Viewer{}, err
	}
	return event.Viewer{UserID: *p.UserID, Departments: deps}, nil
}

func toEventBody(e event.Event) EventBody {
	b := EventBody{Seq: e.Seq, ID: e.ID.String(), Type: e.Type, OccurredAt: e.OccurredAt, PublishedAt: e.PublishedAt, Data: e.Data}
	if e.SubjectID != nil && *e.SubjectID != uuid.Nil {
		b.SubjectID = e.SubjectID.String()
	}
	return b
}
