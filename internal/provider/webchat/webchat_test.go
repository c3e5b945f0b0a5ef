package webchat_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/webchat"
)

func post(token string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	if token != "" {
		r.Header.Set(webchat.TokenHeader, token)
	}
	return r
}

func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, configured, sent string
		ok                     bool
	}{
		{"the channel's token", "wt-1", "wt-1", true},
		{"missing", "wt-1", "", false},
		{"forged", "wt-1", "wt-2", false},
		{"a prefix", "wt-1", "wt-", false},
		{"no token configured refuses all", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webchat.New(webchat.Config{Token: tc.configured}).Verify(post(tc.sent), nil)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, provider.ErrBadSignature)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	const visitor = "v-0123456789abcdef"
	tests := []struct {
		name, body string
		bad        []string // the fields reported
	}{
		{"complete", `{"id":"m1","visitor_id":"` + visitor + `","text":"Oi","name":"Ana","email":"ana@example.com","phone":"+55 11 98765-4321"}`, nil},
		{"not JSON", `hello`, []string{"body"}},
		{"no id", `{"visitor_id":"` + visitor + `","text":"Oi"}`, []string{"id"}},
		{"short visitor id", `{"id":"m1","visitor_id":"abc","text":"Oi"}`, []string{"visitor_id"}},
		{"visitor id with spaces", `{"id":"m1","visitor_id":"v 0123456789abcdef","text":"Oi"}`, []string{"visitor_id"}},
		{"blank text", `{"id":"m1","visitor_id":"` + visitor + `","text":"  "}`, []string{"text"}},
		{"text too long", `{"id":"m1","visitor_id":"` + visitor + `","text":"` + strings.Repeat("a", webchat.MaxText+1) + `"}`, []string{"text"}},
		{"bad e-mail", `{"id":"m1","visitor_id":"` + visitor + `","text":"Oi","email":"ana"}`, []string{"email"}},
		{"several", `{"visitor_id":"x","text":""}`, []string{"id", "visitor_id", "text"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webchat.Decode([]byte(tc.body))
			if tc.bad == nil {
				require.NoError(t, err)
				return
			}
			var inv *webchat.InvalidError
			require.True(t, errors.As(err, &inv), "%v", err)
			var fields []string
			for _, p := range inv.Problems {
				fields = append(fields, p.Field)
			}
			require.Equal(t, tc.bad, fields)
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	c := webchat.New(webchat.Config{Token: "wt-1"})
	body := []byte(`{"id":"m1","visitor_id":"v-0123456789abcdef","text":"Olá","name":" Ana ","email":"ana@example.com","sent_at":"2026-12-01T10:00:00Z"}`)

	_, err := c.Parse(post("wrong"), body)
	require.ErrorIs(t, err, provider.ErrBadSignature)

	in, err := c.Parse(post("wt-1"), body)
	require.NoError(t, err)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	require.Equal(t, []provider.InboundMessage{{ID: "v-0123456789abcdef:m1", From: "v-0123456789abcdef", FromName: "Ana",
		To: "00000000-0000-0000-0000-000000000000", Timestamp: at, Kind: "text", Text: "Olá"}}, in.Messages)
	require.Equal(t, []provider.Event{{Kind: webchat.EventVisitor, Timestamp: at,
		Data: map[string]string{"visitor_id": "v-0123456789abcdef", "name": "Ana", "email": "ana@example.com"}}}, in.Events)

	// Without name, e-mail or phone there is no visitor event, and no time unless sent.
	in, err = c.Parse(post("wt-1"), []byte(`{"id":"m2","visitor_id":"v-0123456789abcdef","text":"Oi"}`))
	require.NoError(t, err)
	require.Empty(t, in.Events)
	require.True(t, in.Messages[0].Timestamp.IsZero())
}
