package schedule

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/fault"
)

// TestCheck is what a request is refused for before the database is asked: each kind's
// required and foreign fields, and a time that is not in the future or too far ahead.
func TestCheck(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	id := uuid.New()
	for _, tc := range []struct {
		name   string
		req    Request
		fields []string
	}{
		{"template", Request{Kind: KindTemplate, At: now.Add(time.Minute), ChannelID: &id, TemplateID: &id}, nil},
		{"template for an agent", Request{Kind: KindTemplate, At: now.Add(time.Minute), ChannelID: &id, TemplateID: &id, OpenAttendance: true, AgentID: &id}, nil},
		{"template without channel and template", Request{Kind: KindTemplate, At: now.Add(time.Minute)}, []string{"body.channel_id", "body.template_id"}},
		{"agent without open_attendance", Request{Kind: KindTemplate, At: now.Add(time.Minute), ChannelID: &id, TemplateID: &id, AgentID: &id}, []string{"body.agent_id"}},
		{"agent and department", Request{Kind: KindTemplate, At: now.Add(time.Minute), ChannelID: &id, TemplateID: &id, OpenAttendance: true, AgentID: &id, DepartmentID: &id}, []string{"body.department_id"}},
		{"now is not the future", Request{Kind: KindFlow, At: now, Flow: "x"}, []string{"body.at"}},
		{"the past", Request{Kind: KindFlow, At: now.Add(-time.Second), Flow: "x"}, []string{"body.at"}},
		{"too far", Request{Kind: KindFlow, At: now.Add(MaxAhead + time.Minute), Flow: "x"}, []string{"body.at"}},
		{"flow", Request{Kind: KindFlow, At: now.Add(time.Minute), Flow: " nps ", ChannelID: &id}, nil},
		{"flow without a name", Request{Kind: KindFlow, At: now.Add(time.Minute), Flow: "  "}, []string{"body.flow"}},
		{"flow with a template", Request{Kind: KindFlow, At: now.Add(time.Minute), Flow: "x", TemplateID: &id}, []string{"body.template_id"}},
		{"appointment", Request{Kind: KindAppointment, At: now.Add(time.Minute), ConversationID: &id}, nil},
		{"appointment without conversation", Request{Kind: KindAppointment, At: now.Add(time.Minute)}, []string{"body.conversation_id"}},
		{"appointment with a channel", Request{Kind: KindAppointment, At: now.Add(time.Minute), ConversationID: &id, ChannelID: &id}, []string{"body.channel_id"}},
		{"unknown kind", Request{Kind: "callback", At: now.Add(time.Minute)}, []string{"body.kind"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(&tc.req, now)
			if tc.fields == nil {
				require.NoError(t, err)
				return
			}
			f, ok := fault.As(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, fault.KindInvalid, f.Kind)
			var got []string
			for _, fe := range f.Fields {
				got = append(got, fe.Field)
			}
			require.ElementsMatch(t, tc.fields, got)
		})
	}
	req := Request{Kind: KindFlow, At: now.Add(time.Minute), Flow: " nps "}
	require.NoError(t, check(&req, now))
	require.Equal(t, "nps", req.Flow, "the flow's name is trimmed")
}
