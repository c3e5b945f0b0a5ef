package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestChannels(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	var wa, web, sms api.ChannelBody
	r := e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{
		"type": "whatsapp", "name": "Vendas SP", "phone_number": "+55 11 4000-1234", "phone_number_id": "10987",
		"waba_id": "55555", "line_kind": "prospect", "credentials": map[string]string{"access_token": "EAAG-secret", "app_secret": "shh"},
		"business_hours": []map[string]any{{"day": 1, "open": "08:00", "close": "18:00"}},
	})
	r.ok(&wa)
	require.NotContains(t, string(r.Body), "EAAG-secret", "credentials are write-only")
	require.NotNil(t, wa.CredentialsSetAt)
	require.Equal(t, 80, wa.Priority)
	require.Equal(t, 80, wa.ThroughputMPS)
	require.Equal(t, "250", wa.MessagingLimit)
	require.Equal(t, "+551140001234", wa.PhoneNumber)
	e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "webchat", "name": "Site"}).ok(&web)
	require.Equal(t, 100, web.Priority)
	e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "sms", "name": "Torpedo", "provider": "fake"}).ok(&sms)

	// Stored sealed: the database never holds the token in clear.
	var raw []byte
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT credentials FROM channels WHERE id = $1", wa.ID).Scan(&raw))
	require.NotContains(t, string(raw), "EAAG-secret")

	p := e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "webchat", "name": "Lower", "priority": 10}).problem(422)
	require.Equal(t, []string{"body.priority"}, p.locations())
	p = e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "whatsapp", "name": "No number", "provider": "smtp",
		"business_hours": []map[string]any{{"day": 9, "open": "18:00", "close": "08:00"}}, "time_zone": "Mars/Olympus"}).problem(422)
	require.ElementsMatch(t, []string{"body.phone_number", "body.provider", "body.business_hours[0]", "body.time_zone"}, p.locations())
	e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "whatsapp", "name": "Dup", "phone_number": "11 4000-1234"}).problem(409)
	e.do(http.MethodPost, "/v1/channels", a.apiKey, map[string]any{"type": "sms", "name": "X"}).problem(403)

	// The priority table in one call; WebChat stays absolute; unknown ids change nothing.
	e.do(http.MethodPut, "/v1/channel-priorities", a.token, map[string]any{"priorities": []map[string]any{
		{"channel_id": wa.ID, "priority": 60}, {"channel_id": sms.ID, "priority": 90}}}).ok(nil)
	var list struct{ Items []api.ChannelBody }
	e.do(http.MethodGet, "/v1/channels", a.apiKey, nil).ok(&list)
	require.Equal(t, []string{web.ID, sms.ID, wa.ID}, []string{list.Items[0].ID, list.Items[1].ID, list.Items[2].ID})
	e.do(http.MethodPut, "/v1/channel-priorities", a.token, map[string]any{"priorities": []map[string]any{{"channel_id": web.ID, "priority": 50}}}).problem(422)
	e.do(http.MethodPut, "/v1/channel-priorities", a.token, map[string]any{"priorities": []map[string]any{
		{"channel_id": sms.ID, "priority": 10}, {"channel_id": uuid.NewString(), "priority": 10}}}).problem(404)
	e.do(http.MethodGet, "/v1/channels/"+sms.ID, a.apiKey, nil).ok(&sms)
	require.Equal(t, 90, sms.Priority, "all or nothing")

	// A change without credentials keeps them; quality is set by hand here.
	var upd api.ChannelBody
	e.do(http.MethodPatch, "/v1/channels/"+wa.ID, a.token, map[string]any{"quality_rating": "yellow", "throughput_mps": 1000}).ok(&upd)
	require.Equal(t, "yellow", upd.QualityRating)
	require.Equal(t, wa.CredentialsSetAt, upd.CredentialsSetAt)
	e.do(http.MethodDelete, "/v1/channels/"+sms.ID, a.token, nil).ok(nil)
	e.do(http.MethodGet, "/v1/channels/"+sms.ID, a.apiKey, nil).problem(404)
}
