package api_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/event"
)

// TestTenancyWalk calls every secured operation of the OpenAPI document with a second
// account's credentials against the first account's ids and checks that it neither sees nor
// changes anything of the first account. A new operation with a path parameter this test does
// not know fails it, so nothing new escapes the walk.
func TestTenancyWalk(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Tenant A")
	b := e.newTenant("Tenant B")

	var victim api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{
		"name": "Victim", "customer_code": "SECRET-1", "phones": []string{"+55 11 98888-1111"}, "email": "victim@example.com",
	}).ok(&victim)
	var victimTwin api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Victim twin", "customer_code": "SECRET-2"}).ok(&victimTwin)
	var victimConsent api.ConsentRecordBody
	e.do(http.MethodPost, "/v1/contacts/"+victim.ID+"/consents", a.apiKey, map[string]any{
		"action": "pending", "purposes": []string{"marketing"}, "channels": []string{"whatsapp"}, "method": "form", "text": "Quer ofertas?",
	}).ok(&victimConsent)
	var victimNote api.NoteBody
	e.do(http.MethodPost, "/v1/contacts/"+victim.ID+"/notes", a.token, map[string]any{"body": "secret note"}).ok(&victimNote)
	var victimTag api.TagBody
	e.do(http.MethodPost, "/v1/tags", a.token, map[string]any{"name": "secret-tag"}).ok(&victimTag)
	var victimField api.CustomFieldBody
	e.do(http.MethodPost, "/v1/custom-fields", a.token, map[string]any{"key": "segredo", "type": "text"}).ok(&victimField)
	var victimDept api.DepartmentBody
	e.do(http.MethodPost, "/v1/departments", a.token, map[string]any{"name": "Segredos"}).ok(&victimDept)
	e.do(http.MethodPost, "/v1/departments/"+victimDept.ID+"/members", a.token, map[string]any{"user_ids": []string{a.admin.ID.String()}}).ok(nil)
	var victimSeg api.SegmentBody
	e.do(http.MethodPost, "/v1/segments", a.token, map[string]any{"name": "Carteira secreta"}).ok(&victimSeg)
	e.do(http.MethodPost, "/v1/segments/"+victimSeg.ID+"/members", a.token, map[string]any{"contact_ids": []string{victim.ID}}).ok(nil)
	var victimCompany api.CompanyBody
	e.do(http.MethodPost, "/v1/companies", a.apiKey, map[string]any{"cnpj": "45.723.174/0001-10", "name": "Empresa secreta"}).ok(&victimCompany)
	var victimChannel api.ChannelBody
	e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "sms", "name": "Canal secreto", "provider": "fake",
		"credentials": map[string]string{"token": "secret-token"}}).ok(&victimChannel)
	// A webhook subscription with one delivery in its log (the twin's merge below is not
	// needed: any event will do).
	var victimSub api.WebhookSubscriptionBody
	e.do(http.MethodPost, "/v1/webhooks", a.token, map[string]any{"url": "https://crm.example.com/hook"}).ok(&victimSub)
	require.NoError(t, event.Emit(context.Background(), e.pool, a.account.ID, time.Now(), event.New{Type: "test.secret"}))
	e.publish()
	var victimSends struct{ Items []api.WebhookSendBody }
	e.do(http.MethodGet, "/v1/webhooks/"+victimSub.ID+"/deliveries", a.token, nil).ok(&victimSends)
	require.Len(t, victimSends.Items, 1)
	var victimLine api.ChannelBody
	e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "whatsapp", "name": "Linha secreta", "provider": "fake",
		"phone_number": "+55 11 4000-9999"}).ok(&victimLine)
	victimConv := e.inbound(a, victimLine.ID, "5511977776666", "segredo da conversa")
	var victimTemplate api.TemplateBody
	e.do(http.MethodPost, "/v1/templates", a.token, map[string]any{"name": "segredo", "language": "pt_BR", "category": "utility",
		"components": map[string]any{"body": map[string]any{"text": "Oi {{1}}"}}, "examples": map[string]string{"body:1": "Ana"},
		"channel_ids": []string{victimLine.ID}}).ok(&victimTemplate)
	// A conversation, opened by an internal note (nothing to send).
	var victimNoteMsg api.QueuedMessageBody
	e.do(http.MethodPost, "/v1/messages", a.token, map[string]any{"channel_id": victimLine.ID, "contact_id": victim.ID,
		"text": "mensagem secreta", "internal": true}).ok(&victimNoteMsg)
	var victimSettings api.ConsentSettingsBody
	e.do(http.MethodGet, "/v1/consent-settings", a.token, nil).ok(&victimSettings)
	var victimKey api.CreatedAPIKeyBody
	e.do(http.MethodPost, "/v1/api-keys", a.token, map[string]any{"name": "a key", "scopes": []string{"contacts:read"}}).ok(&victimKey)

	var victimQuick api.QuickReplyBody
	e.do(http.MethodPost, "/v1/quick-replies", a.token, map[string]any{"shortcut": "/segredo", "title": "Segredo", "text": "resposta secreta"}).ok(&victimQuick)

	var victimImport api.ImportBody
	e.do(http.MethodPost, "/v1/imports?mode=create_only&file_name=segredo.csv", a.token, "name;customer_code\nSecret;SECRET-2\n", "Content-Type: text/csv").ok(&victimImport)

	var victimSchedule api.ScheduleBody
	e.do(http.MethodPost, "/v1/contacts/"+victim.ID+"/schedules", a.token, map[string]any{"kind": "flow", "flow": "segredo",
		"at": e.clock.Now().Add(time.Hour)}).ok(&victimSchedule)
	var victimMedia api.MediaBody
	e.upload(a.token, "name=segredo.png", file(pngHead, 100)).ok(&victimMedia)
	colleague := e.chatUser(a, "colega", "agent")
	var victimTeamMsg api.TeamMessageBody
	e.do(http.MethodPost, "/v1/team-chat/messages", a.token, map[string]any{"to_user_id": colleague.id, "body": "segredo do time"}).ok(&victimTeamMsg)

	e.do(http.MethodPost, "/v1/templates/"+victimTemplate.ID+"/submit", a.token, nil).ok(reset(&victimTemplate))
	var victimCampaign api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", a.token, map[string]any{"name": "Campanha secreta", "segment_id": victimSeg.ID,
		"template_id": victimTemplate.ID, "sender_ids": []string{victimLine.ID},
		"bindings": map[string]any{"body:1": map[string]string{"source": "{nome}"}}}).ok(&victimCampaign)

	// What a path parameter is, by path prefix, pointing at account A's resources.
	params := map[string]map[string]string{
		"/v1/contacts/by-phone/": {"phone": "+5511988881111"},
		"/v1/companies/by-cnpj/": {"cnpj": "45723174000110"},
		"/v1/companies/":         {"id": victimCompany.ID},
		"/v1/channels/":          {"id": victimChannel.ID},
		"/v1/webhooks/":          {"id": victimSub.ID, "delivery_id": victimSends.Items[0].ID},
		"/v1/contacts/by-code/":  {"code": "SECRET-1"},
		"/v1/contacts/":          {"id": victim.ID, "record_id": victimConsent.ID, "note_id": victimNote.ID},
		"/v1/api-keys/":          {"id": victimKey.ID},
		"/v1/tags/":              {"id": victimTag.ID},
		"/v1/custom-fields/":     {"id": victimField.ID},
		"/v1/departments/":       {"id": victimDept.ID, "user_id": a.admin.ID.String()},
		"/v1/segments/":          {"id": victimSeg.ID},
		"/v1/templates/":         {"id": victimTemplate.ID},
		"/v1/imports/":           {"id": victimImport.ID},
		"/v1/conversations/":     {"id": victimConv.ID},
		"/v1/quick-replies/":     {"id": victimQuick.ID},
		"/v1/schedules/":         {"id": victimSchedule.ID},
		"/v1/users/":             {"id": a.admin.ID.String()},
		"/v1/media/":             {"id": victimMedia.ID},
		"/v1/team-chat/threads/": {"id": victimTeamMsg.ThreadID},
		"/v1/campaigns/":         {"id": victimCampaign.ID},
	}
	// Valid bodies, so that validation does not hide a missing tenant check. Creates use A's
	// natural keys: in B's account they are free, and must stay B's.
	bodies := map[string]any{
		"create-contact":               map[string]any{"name": "Intruder", "customer_code": "SECRET-1", "phones": []string{"+5511988881111"}},
		"update-contact":               map[string]any{"name": "Hacked"},
		"create-webhook-subscription":  map[string]any{"url": "https://evil.example.com/hook"},
		"replace-webhook-subscription": map[string]any{"url": "https://evil.example.com/hook"},
		"merge-contacts":               map[string]any{"contact_id": victimTwin.ID},
		"upsert-contact-by-code":       map[string]any{"name": "Hacked", "phones": []string{"+5511988881111"}},
		"create-api-key":               map[string]any{"name": "b key", "scopes": []string{"contacts:read"}},
		"record-consent": map[string]any{"action": "grant", "purposes": []string{"marketing"}, "channels": []string{"whatsapp"},
			"method": "checkbox", "text": "x"},
		"confirm-consent": map[string]any{"source": "link"},
		"create-note":     map[string]any{"body": "intruder note"},
		"create-tag":      map[string]any{"name": "secret-tag"},
		"batch-upsert-contacts": map[string]any{"items": []map[string]any{
			{"name": "Hacked", "customer_code": "SECRET-1", "phones": []string{"+5511988881111"}}}},
		"update-tag":             map[string]any{"name": "hacked"},
		"create-custom-field":    map[string]any{"key": "segredo", "type": "text"},
		"create-department":      map[string]any{"name": "Segredos"},
		"create-channel":         map[string]any{"type": "sms", "name": "Canal", "provider": "fake", "segment_ids": []string{victimSeg.ID}},
		"update-channel":         map[string]any{"name": "hacked"},
		"set-channel-priorities": map[string]any{"priorities": []map[string]any{{"channel_id": victimChannel.ID, "priority": 1}}},
		"create-company":         map[string]any{"cnpj": "45.723.174/0001-10", "name": "Empresa secreta"},
		"rename-company":         map[string]any{"name": "hacked"},
		"create-segment":         map[string]any{"name": "Carteira secreta", "department_ids": []string{victimDept.ID}},
		"replace-segment":        map[string]any{"name": "hacked"},
		"add-segment-members":    map[string]any{"contact_ids": []string{victim.ID}},
		"remove-segment-members": map[string]any{"contact_ids": []string{victim.ID}},
		"rename-department":      map[string]any{"name": "hacked"},
		"add-department-members": map[string]any{"user_ids": []string{a.admin.ID.String()}},
		"update-custom-field":    map[string]any{"label": "hacked"},
		"tag-contacts":           map[string]any{"contact_ids": []string{victim.ID}},
		"untag-contacts":         map[string]any{"contact_ids": []string{victim.ID}},
		"create-template": map[string]any{"name": "segredo", "language": "pt_BR", "category": "utility",
			"components": map[string]any{"body": map[string]any{"text": "Oi {{1}}"}}, "examples": map[string]string{"body:1": "Ana"},
			"channel_ids": []string{victimLine.ID}},
		"update-template":    map[string]any{"bindings": map[string]any{}, "channel_ids": []string{}},
		"preview-template":   map[string]any{"contact_id": victim.ID},
		"update-quick-reply": map[string]any{"title": "hacked"},
		"create-schedule":    map[string]any{"kind": "flow", "flow": "intruso", "at": e.clock.Now().Add(time.Hour)},
		"render-quick-reply": map[string]any{"conversation_id": victimConv.ID},
		// Ids that are nobody's: B's create is refused without echoing A's.
		"create-campaign": map[string]any{"name": "Intrusa", "segment_id": "0190a0b0-0000-7000-8000-000000000001",
			"template_id": "0190a0b0-0000-7000-8000-000000000002"},
		"update-campaign":          map[string]any{"name": "hacked", "segment_id": victimSeg.ID, "template_id": victimTemplate.ID},
		"test-send-campaign":       map[string]any{"contact_id": victim.ID},
		"update-protocol-settings": map[string]any{"format": "{seq:4}"},
		// A's contact on A's line: B's call finds neither.
		"send-message":              map[string]any{"channel_id": victimLine.ID, "contact_id": victim.ID, "text": "/interna intruso"},
		"send-conversation-message": map[string]any{"text": "/interna intruso"},
		"assign-conversation":       map[string]any{"agent_id": b.admin.ID.String()},
		"update-user-distribution":  map[string]any{"capacity": 3},
		"rename-media":              map[string]any{"name": "hacked.png"},
		"send-team-message":         map[string]any{"to_user_id": colleague.id, "body": "intruso"},
		"start-new-chat": map[string]any{"channel_id": victimLine.ID, "template_id": victimTemplate.ID, "phone": "+5511988881111",
			"name": "Intruder"},
		"update-consent-settings": map[string]any{"opt_out_keywords": []string{"PARE"}, "opt_in_keywords": []string{"OK"},
			"opt_out_reply": "x", "opt_in_reply": "y"},
	}
	secrets := []string{"test.secret", victimSub.ID, "crm.example.com", victim.ID, victimKey.ID, victimConsent.ID, victimConsent.Hash, victimNote.ID, "secret note", victimTag.ID, victimField.ID, victimDept.ID, victimSeg.ID, victimCompany.ID, victimChannel.ID, victimLine.ID, victimTemplate.ID, "secret-token", a.account.ID.String(), a.admin.ID.String(), "victim@example.com", victimImport.ID, "segredo.csv", victimConv.ID, "segredo da conversa", victimConv.Attendance.Protocol, victimNoteMsg.ConversationID, victimNoteMsg.ID, victimQuick.ID, "resposta secreta",
		victimMedia.ID, "segredo.png", victimTeamMsg.ThreadID, victimTeamMsg.ID, "segredo do time", colleague.id, victimCampaign.ID, "Campanha secreta"}

	oapi := api.OpenAPI()
	paths := make([]string, 0, len(oapi.Paths))
	for p := range oapi.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	walked := 0
	for _, path := range paths {
		item := oapi.Paths[path]
		for _, m := range []struct {
			method string
			op     *apiOperation
		}{
			{http.MethodGet, opOf(item.Get)}, {http.MethodPost, opOf(item.Post)}, {http.MethodPut, opOf(item.Put)},
			{http.MethodPatch, opOf(item.Patch)}, {http.MethodDelete, opOf(item.Delete)},
		} {
			if m.op == nil || !m.op.secured {
				continue
			}
			walked++
			target, hasID := fillPath(t, path, params)
			// A stream does not end by itself: it is read for a while (its history replays
			// everything after 0 at once).
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			r := e.doCtx(ctx, m.method, target, b.token, bodies[m.op.id])
			cancel()
			if hasID {
				require.Equal(t, http.StatusNotFound, r.Status, "%s %s with another account's id: %s", m.method, target, r.Body)
			} else {
				require.Less(t, r.Status, 500, "%s %s: %s", m.method, target, r.Body)
			}
			for _, s := range secrets {
				require.NotContains(t, string(r.Body), s, "%s %s leaked account A's data", m.method, target)
			}
		}
	}
	require.GreaterOrEqual(t, walked, 14, "the walk must cover every secured operation")

	// Account A still has exactly what it had.
	var victimAgent api.AgentDistributionBody
	e.do(http.MethodGet, "/v1/users/"+a.admin.ID.String()+"/distribution", a.token, nil).ok(&victimAgent)
	require.Nil(t, victimAgent.OwnCapacity)
	var after api.ContactBody
	e.do(http.MethodGet, "/v1/contacts/"+victim.ID, a.apiKey, nil).ok(&after)
	require.Equal(t, victim, after)
	e.do(http.MethodGet, "/v1/contacts", victimKey.Key, nil).ok(nil)
	var history struct{ Items []api.ConsentRecordBody }
	e.do(http.MethodGet, "/v1/contacts/"+victim.ID+"/consents", a.token, nil).ok(&history)
	require.Equal(t, []api.ConsentRecordBody{victimConsent}, history.Items, "no record was added to A's chain")
	var settings api.ConsentSettingsBody
	e.do(http.MethodGet, "/v1/consent-settings", a.token, nil).ok(&settings)
	require.Equal(t, victimSettings, settings)
	var protocol api.ProtocolSettingsBody
	e.do(http.MethodGet, "/v1/protocol-settings", a.token, nil).ok(&protocol)
	require.Equal(t, "{yyyy}{mm}{dd}{seq:6}", protocol.Format, "B's format is B's")
	var convNow api.ConversationBody
	e.do(http.MethodGet, "/v1/conversations/"+victimConv.ID, a.token, nil).ok(&convNow)
	require.Equal(t, victimConv.ID, convNow.ID)
	var members struct{ Items []api.MemberBody }
	e.do(http.MethodGet, "/v1/departments/"+victimDept.ID+"/members", a.token, nil).ok(&members)
	require.Len(t, members.Items, 1)
	var campaignNow api.CampaignBody
	e.do(http.MethodGet, "/v1/campaigns/"+victimCampaign.ID, a.token, nil).ok(&campaignNow)
	require.Equal(t, victimCampaign, campaignNow, "B's calls left A's campaign a draft, unchanged")
	var segCount api.CountBody
	e.do(http.MethodGet, "/v1/segments/"+victimSeg.ID+"/count", a.token, nil).ok(&segCount)
	require.EqualValues(t, 1, segCount.Count)
	var channelNow api.ChannelBody
	e.do(http.MethodGet, "/v1/channels/"+victimChannel.ID, a.token, nil).ok(&channelNow)
	require.Equal(t, victimChannel, channelNow)
	var fieldNow api.CustomFieldBody
	e.do(http.MethodGet, "/v1/custom-fields/"+victimField.ID, a.token, nil).ok(&fieldNow)
	require.Equal(t, victimField, fieldNow)
	var tagNow api.TagBody
	e.do(http.MethodGet, "/v1/tags/"+victimTag.ID, a.token, nil).ok(&tagNow)
	require.Equal(t, victimTag, tagNow)
	var notes struct{ Items []api.NoteBody }
	e.do(http.MethodGet, "/v1/contacts/"+victim.ID+"/notes", a.token, nil).ok(&notes)
	require.Equal(t, []api.NoteBody{victimNote}, notes.Items)
	var templateNow api.TemplateBody
	e.do(http.MethodGet, "/v1/templates/"+victimTemplate.ID, a.token, nil).ok(&templateNow)
	require.Equal(t, victimTemplate, templateNow)
	var importNow api.ImportBody
	e.do(http.MethodGet, "/v1/imports/"+victimImport.ID, a.token, nil).ok(&importNow)
	require.Equal(t, "queued", importNow.Status, "B could not cancel A's import")
	var msgs int
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT count(*) FROM messages").Scan(&msgs))
	require.Equal(t, 2, msgs, "B added no message to A's conversations (A has its note and the contact's inbound message)")
	var byPhone api.ContactBody
	e.do(http.MethodGet, "/v1/contacts/by-phone/+5511988881111", a.apiKey, nil).ok(&byPhone)
	require.Equal(t, victim.ID, byPhone.ID)
}

type apiOperation struct {
	id      string
	secured bool
}

func opOf(op *huma.Operation) *apiOperation {
	if op == nil {
		return nil
	}
	return &apiOperation{id: op.OperationID, secured: len(op.Security) > 0}
}

// fillPath puts account A's values into path's parameters; hasID says whether the path names
// an existing resource of A (so B must get a 404).
func fillPath(t *testing.T, path string, params map[string]map[string]string) (string, bool) {
	t.Helper()
	if !strings.Contains(path, "{") {
		return path, false
	}
	prefixes := make([]string, 0, len(params))
	for p := range params {
		prefixes = append(prefixes, p)
	}
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
	for _, prefix := range prefixes {
		if !strings.HasPrefix(path, prefix) {
			continue
		}
		out := path
		for name, value := range params[prefix] {
			out = strings.ReplaceAll(out, "{"+name+"}", value)
		}
		require.NotContains(t, out, "{", "no value for a parameter of %s: add it to the walk", path)
		_, isID := params[prefix]["id"]
		return out, isID
	}
	t.Fatalf("no parameters known for %s: add them to the walk", path)
	return "", false
}
