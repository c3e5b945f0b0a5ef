package fake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/provider"
)

func text(to, body string) provider.Message {
	return provider.Message{To: to, Kind: provider.KindText, Text: body}
}

// recordingSleep returns instantly and remembers what it was asked to wait.
type recordingSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recordingSleep) Sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, d)
	return ctx.Err()
}

func TestSendFailEvery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       Config
		sends     int
		wantFails []int // 1-based attempts that fail
		wantCode  string
	}{
		{"NeverFails", Config{}, 5, nil, ""},
		{"EveryThird", Config{FailEvery: 3, FailCode: "131049", Retryable: true}, 7, []int{3, 6}, "131049"},
		{"EveryOne", Config{FailEvery: 1}, 2, []int{1, 2}, DefaultFailCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := New(tc.cfg)
			fails := map[int]bool{}
			for _, f := range tc.wantFails {
				fails[f] = true
			}
			for i := 1; i <= tc.sends; i++ {
				sent, err := p.Send(context.Background(), text("+5511987654321", "oi"))
				if !fails[i] {
					require.NoError(t, err, "send %d", i)
					require.True(t, strings.HasPrefix(sent.ID, "fake-"), sent.ID)
					continue
				}
				var pe *provider.Error
				require.True(t, errors.As(err, &pe), "send %d: %v", i, err)
				require.Equal(t, tc.wantCode, pe.Code)
				require.Equal(t, tc.cfg.Retryable, pe.Retryable)
				require.NotEmpty(t, pe.Reason)
			}
			require.Equal(t, int64(tc.sends), p.Attempts())
			require.Equal(t, int64(tc.sends-len(tc.wantFails)), p.Count())
			require.Len(t, p.Sent(), tc.sends-len(tc.wantFails))
		})
	}
}

func TestSendLatencyUsesInjectedSleep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		latency   time.Duration
		wantWaits []time.Duration
	}{
		{"NoLatencyNoWait", 0, nil},
		{"WaitsLatencyEachSend", 250 * time.Millisecond, []time.Duration{250 * time.Millisecond, 250 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recordingSleep{}
			p := New(Config{Latency: tc.latency, Sleep: rec.Sleep})
			for range 2 {
				_, err := p.Send(context.Background(), text("+1", "x"))
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantWaits, rec.waits)
		})
	}
}

func TestSendContextCancelledDuringLatency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		sleep func(started chan<- struct{}) func(context.Context, time.Duration) error
	}{
		{"InjectedSleepBlocksUntilCancel", func(started chan<- struct{}) func(context.Context, time.Duration) error {
			return func(ctx context.Context, _ time.Duration) error {
				close(started)
				<-ctx.Done()
				return ctx.Err()
			}
		}},
		{"DefaultTimerSleep", func(started chan<- struct{}) func(context.Context, time.Duration) error {
			return func(ctx context.Context, d time.Duration) error {
				close(started)
				return sleep(ctx, d) // an hour: only cancellation ends it
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{})
			p := New(Config{Latency: time.Hour, Sleep: tc.sleep(started)})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := p.Send(ctx, text("+1", "x"))
				done <- err
			}()
			<-started
			cancel()
			err := <-done
			require.ErrorIs(t, err, context.Canceled)
			require.Zero(t, p.Count())
			require.Zero(t, p.Attempts(), "a cancelled send never reached the provider")
			require.Empty(t, p.Sent())
		})
	}
}

func TestSendAlreadyCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		latency time.Duration
	}{
		{"WithoutLatency", 0},
		{"WithLatency", time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			p := New(Config{Latency: tc.latency})
			_, err := p.Send(ctx, text("+1", "x"))
			require.ErrorIs(t, err, context.Canceled)
			require.Zero(t, p.Count())
		})
	}
}

func TestSendInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  provider.Message
	}{
		{"NoRecipient", provider.Message{Kind: provider.KindText, Text: "x"}},
		{"NoText", provider.Message{To: "+1", Kind: provider.KindText}},
		{"NoTemplate", provider.Message{To: "+1", Kind: provider.KindTemplate}},
		{"NoMedia", provider.Message{To: "+1", Kind: provider.KindMedia}},
		{"NoReactionTarget", provider.Message{To: "+1", Kind: provider.KindReaction, Reaction: &provider.Reaction{Emoji: "x"}}},
		{"NoContactName", provider.Message{To: "+1", Kind: provider.KindContact, Contact: &provider.ContactCard{}}},
		{"UnknownKind", provider.Message{To: "+1", Kind: "fax"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := New(Config{})
			_, err := p.Send(context.Background(), tc.msg)
			var pe *provider.Error
			require.True(t, errors.As(err, &pe), "%v", err)
			require.Equal(t, CodeInvalidMessage, pe.Code)
			require.False(t, pe.Retryable)
			require.Zero(t, p.Attempts())
		})
	}
}

func TestSendConcurrent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		workers   int
		each      int
		failEvery int
	}{
		{"NoFailures", 16, 200, 0},
		{"EverySeventhFails", 16, 200, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recordingSleep{}
			p := New(Config{Latency: time.Millisecond, Sleep: rec.Sleep, FailEvery: tc.failEvery})
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				ids   = map[string]bool{}
				fails int
			)
			for w := range tc.workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range tc.each {
						sent, err := p.Send(context.Background(), text("+1", strings.Repeat("x", 1+(w+i)%3)))
						mu.Lock()
						if err != nil {
							fails++
						} else {
							ids[sent.ID] = true
						}
						mu.Unlock()
						_ = p.Count()
						_ = p.Sent()
					}
				}()
			}
			wg.Wait()
			total := tc.workers * tc.each
			wantFails := 0
			if tc.failEvery > 0 {
				wantFails = total / tc.failEvery
			}
			require.Equal(t, wantFails, fails)
			require.Len(t, ids, total-wantFails, "ids are unique")
			require.Equal(t, int64(total-wantFails), p.Count())
			require.Equal(t, int64(total), p.Attempts())
			require.Len(t, p.Sent(), total-wantFails)
		})
	}
}

func TestSentKeepsTheLatest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sends     int
		wantLen   int
		wantFirst int // index of the oldest kept message
	}{
		{"UnderLimit", 3, 3, 0},
		{"AtLimit", SentLimit, SentLimit, 0},
		{"OverLimit", SentLimit + 5, SentLimit, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := New(Config{})
			for i := range tc.sends {
				_, err := p.Send(context.Background(), text("+1", strconv.Itoa(i)))
				require.NoError(t, err)
			}
			sent := p.Sent()
			require.Len(t, sent, tc.wantLen)
			require.Equal(t, strconv.Itoa(tc.wantFirst), sent[0].Text)
			require.Equal(t, strconv.Itoa(tc.sends-1), sent[len(sent)-1].Text)
			require.Equal(t, int64(tc.sends), p.Count())
		})
	}
}

func TestSubmitTemplate(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		approveAfter time.Duration
		advance      []time.Duration // clock moves, each followed by a Status check
		wantInitial  string
		wantStatuses []string
	}{
		{"ApprovedAtOnce", 0, []time.Duration{0}, StatusApproved, []string{StatusApproved}},
		{"PendingUntilApproveAfter", time.Hour,
			[]time.Duration{0, 59 * time.Minute, time.Minute, time.Hour},
			StatusPending, []string{StatusPending, StatusPending, StatusApproved, StatusApproved}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewManual(start)
			p := New(Config{ApproveAfter: tc.approveAfter, Clock: clk})
			sub, err := p.SubmitTemplate(context.Background(), provider.TemplateSpec{Name: "order_update", Language: "pt_BR", Category: "UTILITY"})
			require.NoError(t, err)
			require.Equal(t, tc.wantInitial, sub.Status)
			require.True(t, strings.HasPrefix(sub.ID, "fake-tpl-"), sub.ID)
			for i, d := range tc.advance {
				clk.Advance(d)
				got, err := p.Status(sub.ID)
				require.NoError(t, err)
				require.Equal(t, tc.wantStatuses[i], got, "check %d", i)
			}
		})
	}
}

func TestSubmitTemplateInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec provider.TemplateSpec
	}{
		{"NoName", provider.TemplateSpec{Language: "pt_BR", Category: "utility"}},
		{"NoLanguage", provider.TemplateSpec{Name: "t", Category: "utility"}},
		{"ServiceCategory", provider.TemplateSpec{Name: "t", Language: "pt_BR", Category: "service"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{}).SubmitTemplate(context.Background(), tc.spec)
			var pe *provider.Error
			require.True(t, errors.As(err, &pe), "%v", err)
			require.Equal(t, CodeInvalidMessage, pe.Code)
		})
	}
}

func TestStatusUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   string
	}{
		{"Empty", ""},
		{"NeverSubmitted", "fake-tpl-x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{}).Status(tc.id)
			require.ErrorIs(t, err, ErrUnknownTemplate)
		})
	}
}

const testSecret = "fake-secret"

func signed(body, header string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/fake", bytes.NewReader([]byte(body)))
	if header != "" {
		r.Header.Set(SignatureHeader, header)
	}
	return r
}

func TestParseSignature(t *testing.T) {
	t.Parallel()
	const body = `{"messages":[{"id":"m1","from":"+5511987654321","text":"oi"}]}`
	tests := []struct {
		name    string
		secret  string
		header  string
		wantErr bool
	}{
		{"Valid", testSecret, Sign(testSecret, []byte(body)), false},
		{"Missing", testSecret, "", true},
		{"Forged", testSecret, Sign("other", []byte(body)), true},
		{"WrongPrefix", testSecret, "sha1=" + strings.TrimPrefix(Sign(testSecret, []byte(body)), "sha256="), true},
		{"NotHex", testSecret, "sha256=nothex", true},
		{"OverDifferentBody", testSecret, Sign(testSecret, []byte(`{}`)), true},
		{"NoSecretConfigured", "", Sign("", []byte(body)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in, err := New(Config{Secret: tc.secret}).Parse(signed(body, tc.header), []byte(body))
			if tc.wantErr {
				require.ErrorIs(t, err, provider.ErrBadSignature)
				require.Empty(t, in.Messages)
				return
			}
			require.NoError(t, err)
			require.Len(t, in.Messages, 1)
		})
	}
}

func TestParseBody(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	at := time.Date(2026, 6, 30, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name    string
		body    string
		want    provider.Inbound
		wantErr string
	}{
		{
			name: "Everything",
			body: `{
				"messages":[
					{"id":"m1","from":"+5511987654321","from_name":"Ana","to":"line-1","timestamp":"2026-06-30T09:30:00Z","text":"oi"},
					{"id":"m2","from":"+5511987654321","kind":"image","media":{"kind":"image","url":"https://x/y.jpg","caption":"c"},"reply_to":"m0","echo":true}],
				"statuses":[
					{"message_id":"fake-1","status":"delivered","timestamp":"2026-06-30T09:30:00Z","recipient":"+5511987654321"},
					{"message_id":"fake-2","status":"failed","error":{"code":"131026","reason":"undeliverable","retry_after_seconds":60,"retryable":true}},
					{"message_id":"fake-3","status":"failed"}],
				"events":[{"kind":"quality","data":{"rating":"red"}}],
				"future_field":1}`,
			want: provider.Inbound{
				Messages: []provider.InboundMessage{
					{ID: "m1", From: "+5511987654321", FromName: "Ana", To: "line-1", Timestamp: at, Kind: "text", Text: "oi"},
					{ID: "m2", From: "+5511987654321", Timestamp: now, Kind: "image", ReplyTo: "m0", Echo: true,
						Media: &provider.Media{Kind: provider.Image, URL: "https://x/y.jpg", Caption: "c"}},
				},
				Statuses: []provider.StatusUpdate{
					{MessageID: "fake-1", Status: provider.StatusDelivered, Timestamp: at, Recipient: "+5511987654321"},
					{MessageID: "fake-2", Status: provider.StatusFailed, Timestamp: now,
						Error: &provider.Error{Code: "131026", Reason: "undeliverable", Retryable: true, RetryAfter: time.Minute}},
					{MessageID: "fake-3", Status: provider.StatusFailed, Timestamp: now,
						Error: &provider.Error{Code: DefaultFailCode, Reason: "fake provider reported the message failed"}},
				},
				Events: []provider.Event{{Kind: "quality", Timestamp: now, Data: map[string]string{"rating": "red"}}},
			},
		},
		{name: "Empty", body: `{}`},
		{name: "NotJSON", body: `{"messages":`, wantErr: "decode"},
		{name: "MessageWithoutID", body: `{"messages":[{"from":"+1"}]}`, wantErr: "message 0: id and from"},
		{name: "UnknownStatus", body: `{"statuses":[{"message_id":"x","status":"lost"}]}`, wantErr: `status 0: "lost"`},
		{name: "StatusWithoutID", body: `{"statuses":[{"status":"read"}]}`, wantErr: "message_id is required"},
		{name: "EventWithoutKind", body: `{"events":[{"data":{}}]}`, wantErr: "event 0: kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := New(Config{Secret: testSecret, Clock: clock.NewManual(now)})
			in, err := p.Parse(signed(tc.body, Sign(testSecret, []byte(tc.body))), []byte(tc.body))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.False(t, errors.Is(err, provider.ErrBadSignature))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, in)
		})
	}
}

// TestSendDedupesByRef: a re-send of an accepted message (same Ref, as after a worker crash)
// gets the first id back and is counted once; messages without a Ref are never deduped.
func TestSendDedupesByRef(t *testing.T) {
	t.Parallel()
	p := New(Config{})
	ctx := context.Background()
	m := text("+5511987654321", "oi")
	m.Ref = "msg-1"
	first, err := p.Send(ctx, m)
	require.NoError(t, err)
	again, err := p.Send(ctx, m)
	require.NoError(t, err)
	require.Equal(t, first.ID, again.ID)
	m.Ref = "msg-2"
	other, err := p.Send(ctx, m)
	require.NoError(t, err)
	require.NotEqual(t, first.ID, other.ID)
	for range 2 {
		_, err := p.Send(ctx, text("+5511987654321", "sem ref"))
		require.NoError(t, err)
	}
	require.EqualValues(t, 4, p.Count())
	require.EqualValues(t, 1, p.Duplicates())
	require.Len(t, p.Sent(), 4)
}

// TestSendForgetsOldRefs: the dedupe remembers the latest RefLimit references only, so a
// provider that sends millions keeps flat memory; a recent re-send is still the same message.
func TestSendForgetsOldRefs(t *testing.T) {
	t.Parallel()
	p := New(Config{})
	ctx := context.Background()
	ids := map[string]string{}
	for i := range RefLimit + 10 {
		m := text("+5511987654321", "oi")
		m.Ref = fmt.Sprintf("msg-%d", i)
		s, err := p.Send(ctx, m)
		require.NoError(t, err)
		ids[m.Ref] = s.ID
	}
	require.Len(t, p.refs, RefLimit)
	recent := text("+5511987654321", "oi")
	recent.Ref = fmt.Sprintf("msg-%d", RefLimit+9)
	s, err := p.Send(ctx, recent)
	require.NoError(t, err)
	require.Equal(t, ids[recent.Ref], s.ID, "a recent re-send is deduped")
	old := text("+5511987654321", "oi")
	old.Ref = "msg-0"
	s, err = p.Send(ctx, old)
	require.NoError(t, err)
	require.NotEqual(t, ids[old.Ref], s.ID, "the oldest reference was forgotten")
	require.Len(t, p.refs, RefLimit)
}
