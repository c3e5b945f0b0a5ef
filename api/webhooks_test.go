package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
)

func TestWhatsAppWebhook(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	ctx := context.Background()
	var ch api.ChannelBody
	e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "whatsapp", "name": "Vendas", "phone_number": "+55 11 4000-1234",
		"phone_number_id": "10987", "credentials": map[string]string{"app_secret": "s3cret", "verify_token": "vt-123"}}).ok(&ch)
	path := "/webhooks/whatsapp/" + ch.ID

	// The verification handshake.
	r := e.do(http.MethodGet, path+"?hub.mode=subscribe&hub.verify_token=vt-123&hub.challenge=4711", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "4711", string(r.Body))
	e.do(http.MethodGet, path+"?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=4711", "", nil).problem(403)

	deliveries := func() int {
		var n int
		require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM webhook_deliveries").Scan(&n))
		return n
	}
	body := whatsapptest.InboundTextPayload(whatsapptest.Inbound{WABAID: "55555", PhoneNumberID: "10987", From: "5511987654321",
		Name: "Maria", ID: "wamid.abc", Text: "Oi, quero saber do meu pedido", At: time.Unix(1_790_000_000, 0)})

	// Forged, missing and wrong signatures change nothing.
	e.do(http.MethodPost, path, "", body, "X-Hub-Signature-256: "+whatsapptest.Sign("not-the-secret", body)).problem(401)
	e.do(http.MethodPost, path, "", body).problem(401)
	e.do(http.MethodPost, path, "", body, "X-Hub-Signature-256: sha256=00").problem(401)
	require.Zero(t, deliveries())
	e.do(http.MethodPost, "/webhooks/whatsapp/"+uuid.NewString(), "", body, "X-Hub-Signature-256: "+whatsapptest.Sign("s3cret", body)).problem(404)

	// A signed delivery is stored and acknowledged; the provider's retry is stored too, but
	// what it carries is recorded once.
	for range 2 {
		e.do(http.MethodPost, path, "", body, "X-Hub-Signature-256: "+whatsapptest.Sign("s3cret", body)).ok(nil)
	}
	require.Equal(t, 2, deliveries())
	rows, err := e.pool.Query(ctx, "SELECT account_id, id FROM webhook_deliveries ORDER BY id")
	require.NoError(t, err)
	var ids [][2]uuid.UUID
	for rows.Next() {
		var acct, id uuid.UUID
		require.NoError(t, rows.Scan(&acct, &id))
		ids = append(ids, [2]uuid.UUID{acct, id})
	}
	require.NoError(t, rows.Err())
	first, err := e.webhooks.Process(ctx, ids[0][0], ids[0][1])
	require.NoError(t, err)
	require.EqualValues(t, 1, first)
	again, err := e.webhooks.Process(ctx, ids[1][0], ids[1][1])
	require.NoError(t, err)
	require.Zero(t, again, "a retried delivery records nothing twice")
	var kind, key string
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT kind, provider_key FROM provider_events").Scan(&kind, &key))
	require.Equal(t, "message", kind)
	require.Equal(t, "wamid.abc", key)
	// Processing is enqueued with the delivery.
	var jobs int
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'webhook_process'").Scan(&jobs))
	require.Equal(t, 2, jobs)
}
