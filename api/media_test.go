package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
	"github.com/conversa-hq/conversa/internal/send"
)

// Files as their first bytes make them, padded to size.
var (
	pngHead  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	jpegHead = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")
	webpHead = []byte("RIFF\x00\x00\x00\x00WEBPVP8 ")
	pdfHead  = []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	zipHead  = []byte("PK\x03\x04\x14\x00\x06\x00")
	oggHead  = []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00")
	mp4Head  = []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
)

func file(head []byte, size int) []byte {
	b := make([]byte, size)
	copy(b, head)
	for i := len(head); i < size; i++ {
		b[i] = byte(i * 7)
	}
	return b
}

// upload posts a file to the library.
func (e *testEnv) upload(token, query string, content []byte) *response {
	e.t.Helper()
	return e.do(http.MethodPost, "/v1/media?"+query, token, content, "Content-Type: application/octet-stream")
}

func TestMediaUploadSniffsTypeAndEnforcesLimits(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Library")
	ctx := context.Background()

	tests := []struct {
		name, query string
		content     []byte
		status      int
		kind, mime  string
	}{
		{"PNG", "name=logo.png", file(pngHead, 200<<10), 201, "image", "image/png"},
		{"JPEGNamedPNG", "name=foto.png", file(jpegHead, 1000), 201, "image", "image/jpeg"},
		{"WebPIsASticker", "name=joinha.webp", file(webpHead, 2000), 201, "sticker", "image/webp"},
		{"PDF", "name=boleto.pdf&kind=document", file(pdfHead, 3000), 201, "document", "application/pdf"},
		{"Docx", "name=contrato.docx", file(zipHead, 3000), 201, "document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"OggVoice", "name=audio.ogg", file(oggHead, 3000), 201, "audio", "audio/ogg"},
		{"MP4", "name=video.mp4", file(mp4Head, 3000), 201, "video", "video/mp4"},
		{"PlainText", "name=leia.txt", []byte("Olá, tudo bem?\n"), 201, "document", "text/plain"},
		// Refused by content, whatever the name says.
		{"HTMLNamedPDF", "name=x.pdf", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), 415, "", ""},
		{"PlainZip", "name=arquivos.zip", file(zipHead, 3000), 415, "", ""},
		{"GIF", "name=a.gif", file([]byte("GIF89a"), 100), 415, "", ""},
		{"KindMismatch", "name=logo.png&kind=document", file(pngHead, 1000), 415, "", ""},
		// WhatsApp's limit for the kind: a sticker may have 500 KB.
		{"StickerTooLarge", "name=big.webp", file(webpHead, 500<<10+1), 413, "", ""},
		{"ImageTooLarge", "name=big.png", file(pngHead, 5<<20+1), 413, "", ""},
		// Bad input.
		{"Empty", "name=vazio.png", []byte{}, 422, "", ""},
		{"NoName", "", file(pngHead, 100), 422, "", ""},
		{"BlankName", "name=%20%20", file(pngHead, 100), 422, "", ""},
		{"UnknownKind", "name=a.png&kind=gif", file(pngHead, 100), 422, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.as(t)
			r := e.upload(a.token, tc.query, tc.content)
			if tc.status != 201 {
				p := r.problem(tc.status)
				if tc.status == 413 {
					require.Contains(t, p.Detail, "WhatsApp's limit", "the kind's own limit, not the request body limit")
				}
				return
			}
			var m api.MediaBody
			r.status(201).ok(&m)
			require.Equal(t, tc.kind, m.Kind)
			require.Equal(t, tc.mime, m.Mime)
			require.Equal(t, int64(len(tc.content)), m.Size)
			sum := sha256.Sum256(tc.content)
			require.Equal(t, hex.EncodeToString(sum[:]), m.SHA256)
			require.Equal(t, a.admin.ID.String(), *m.UploadedByUserID)
			require.Equal(t, "/v1/media/"+m.ID, r.Header.Get("Location"))
		})
	}
	var files, chunks int
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*), (SELECT count(*) FROM media_chunks) FROM media").Scan(&files, &chunks))
	require.Equal(t, 8, files, "a refused upload stores nothing")
	require.Equal(t, 8, chunks, "each accepted file fits one chunk")
}

func TestMediaLibraryReadsAndTenancy(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Library")
	b := e.newTenant("Other")
	big := file(pngHead, 2<<20+123) // three chunks
	var logo, boleto, sticker api.MediaBody
	e.upload(a.apiKey, "name=Logo%20azul.png", big).ok(&logo)
	require.NotNil(t, logo.UploadedByAPIKeyID, "an API key's upload names the key")
	require.Nil(t, logo.UploadedByUserID)
	e.upload(a.token, "name=Boleto_100%25.pdf", file(pdfHead, 500)).ok(&boleto)
	e.upload(a.token, "name=joinha.webp", file(webpHead, 500)).ok(&sticker)

	// The content comes back whole, streamed, with its type and ETag.
	r := e.do(http.MethodGet, logo.ContentURL, a.token, nil).status(200)
	require.True(t, bytes.Equal(big, r.Body))
	require.Equal(t, "image/png", r.Header.Get("Content-Type"))
	require.Equal(t, `"`+logo.SHA256+`"`, r.Header.Get("ETag"))
	e.do(http.MethodGet, logo.ContentURL, a.token, nil, `If-None-Match: "`+logo.SHA256+`"`).status(304)

	// Listing: newest first, by kind, by part of the name (any case; % is a character).
	list := func(query string) []string {
		var l struct{ Items []api.MediaBody }
		e.do(http.MethodGet, "/v1/media?"+query, a.token, nil).ok(&l)
		names := []string{}
		for _, m := range l.Items {
			names = append(names, m.Name)
		}
		return names
	}
	require.Equal(t, []string{"joinha.webp", "Boleto_100%.pdf", "Logo azul.png"}, list(""))
	require.Equal(t, []string{"Boleto_100%.pdf"}, list("kind=document"))
	require.Equal(t, []string{"Logo azul.png"}, list("q=AZUL"))
	require.Equal(t, []string{"Boleto_100%.pdf"}, list("q=100%25"))
	require.Empty(t, list("q=l_g"), "an underscore is not a wildcard")
	var page1, page2 struct {
		Items      []api.MediaBody
		NextCursor string `json:"next_cursor"`
	}
	e.do(http.MethodGet, "/v1/media?limit=2", a.token, nil).ok(&page1)
	require.Len(t, page1.Items, 2)
	e.do(http.MethodGet, "/v1/media?limit=2&cursor="+page1.NextCursor, a.token, nil).ok(&page2)
	require.Len(t, page2.Items, 1)
	require.Equal(t, logo.ID, page2.Items[0].ID)
	e.do(http.MethodGet, "/v1/media?kind=gif", a.token, nil).problem(422)

	// Rename; bad names are refused and change nothing.
	var renamed api.MediaBody
	e.do(http.MethodPatch, "/v1/media/"+boleto.ID, a.token, map[string]any{"name": "Boleto dezembro.pdf"}).ok(&renamed)
	require.Equal(t, "Boleto dezembro.pdf", renamed.Name)
	e.do(http.MethodPatch, "/v1/media/"+boleto.ID, a.token, map[string]any{"name": " "}).problem(422)
	e.do(http.MethodPatch, "/v1/media/"+boleto.ID, a.token, map[string]any{"name": 5}).problem(422)
	e.do(http.MethodPatch, "/v1/media/"+boleto.ID, a.token, map[string]any{"name": strings.Repeat("a", 256)}).problem(422)
	e.do(http.MethodGet, "/v1/media/"+boleto.ID, a.token, nil).ok(reset(&renamed))
	require.Equal(t, "Boleto dezembro.pdf", renamed.Name)
	e.do(http.MethodGet, "/v1/media/not-a-uuid", a.token, nil).problem(422)

	// Another account sees none of it.
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/v1/media/" + logo.ID}, {http.MethodGet, logo.ContentURL},
		{http.MethodPatch, "/v1/media/" + logo.ID}, {http.MethodDelete, "/v1/media/" + logo.ID},
	} {
		var body any
		if req.method == http.MethodPatch {
			body = map[string]any{"name": "x.png"}
		}
		e.do(req.method, req.path, b.token, body).problem(404)
	}
	var other struct{ Items []api.MediaBody }
	e.do(http.MethodGet, "/v1/media", b.token, nil).ok(&other)
	require.Empty(t, other.Items)

	// Delete removes content too.
	e.do(http.MethodDelete, "/v1/media/"+logo.ID, a.token, nil).status(204)
	e.do(http.MethodGet, logo.ContentURL, a.token, nil).problem(404)
	e.do(http.MethodDelete, "/v1/media/"+logo.ID, a.token, nil).problem(404)
	var chunks int
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT count(*) FROM media_chunks WHERE media_id = $1", logo.ID).Scan(&chunks))
	require.Zero(t, chunks)
}

// TestSendLibraryMedia: a message with media_id goes to the provider as the file's kind and a
// signed public link that serves the file without a token; a forged, foreign or expired link
// does not.
func TestSendLibraryMedia(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixture()
	ctx := context.Background()
	doc := file(pdfHead, 4000)
	var boleto, logo api.MediaBody
	e.upload(f.a.token, "name=boleto.pdf", doc).ok(&boleto)
	e.upload(f.a.token, "name=logo.png", file(pngHead, 100)).ok(&logo)
	var q api.QueuedMessageBody
	// No conversation yet: the full path; open it first with a template so both paths run.
	e.do(http.MethodPost, "/v1/messages", f.a.apiKey, map[string]any{"channel_id": f.line.ID, "contact_id": f.contact.ID,
		"template_id": f.utility.ID, "variables": map[string]string{"body:3": "x"}}).status(202).ok(&q)
	_, err := e.pool.Exec(ctx, "UPDATE conversations SET service_expires_at = $1 WHERE id = $2", e.clock.Now().Add(time.Hour), q.ConversationID)
	require.NoError(t, err)
	e.do(http.MethodPost, "/v1/messages", f.a.apiKey, map[string]any{"channel_id": f.line.ID, "contact_id": f.contact.ID,
		"media": map[string]any{"media_id": boleto.ID, "caption": "Seu boleto"}}).status(202).ok(&q)
	require.Equal(t, "media", q.Kind)
	e.do(http.MethodPost, "/v1/conversations/"+q.ConversationID+"/messages", f.a.token, map[string]any{
		"media": map[string]any{"media_id": logo.ID, "kind": "image"}}).status(202)

	// Refusals: unknown or foreign id, a kind that is not the file's, both url and media_id,
	// a link without its kind; none stores a message.
	other := e.newTenant("Other")
	var foreign api.MediaBody
	e.upload(other.token, "name=x.png", file(pngHead, 100)).ok(&foreign)
	sendMedia := func(m map[string]any) *response {
		return e.do(http.MethodPost, "/v1/messages", f.a.apiKey, map[string]any{"channel_id": f.line.ID, "contact_id": f.contact.ID, "media": m})
	}
	p := sendMedia(map[string]any{"media_id": foreign.ID}).problem(404)
	require.Equal(t, []string{"body.media.media_id"}, p.locations())
	sendMedia(map[string]any{"media_id": uuid.NewString()}).problem(404)
	sendMedia(map[string]any{"media_id": "nope"}).problem(422)
	sendMedia(map[string]any{"media_id": boleto.ID, "kind": "image"}).problem(422)
	sendMedia(map[string]any{"media_id": boleto.ID, "url": "https://cdn.example.com/a.pdf"}).problem(422)
	sendMedia(map[string]any{"url": "https://cdn.example.com/a.pdf"}).problem(422)
	var n int
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM messages WHERE kind = 'media'").Scan(&n))
	require.Equal(t, 2, n)

	// The dispatcher hands WhatsApp (its test server, over the Cloud API's wire format) the
	// signed links, by the file's kind.
	srv := whatsapptest.New(t, whatsapptest.Config{PhoneNumberID: "111"})
	wa := whatsapp.New(whatsapp.Config{BaseURL: srv.URL, PhoneNumberID: "111", AccessToken: whatsapptest.DefaultAccessToken})
	d := send.NewDispatcher(e.pool, e.clock, func(context.Context, uuid.UUID, uuid.UUID) (provider.Sender, error) { return wa, nil })
	_, err = d.DispatchBatch(ctx, uuid.MustParse(f.line.ID))
	require.NoError(t, err)
	type waMedia struct{ Link, Caption, Filename string }
	media := map[string]waMedia{}
	for _, m := range srv.Messages() {
		var body map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(m.Body, &body))
		if raw, ok := body[m.Type]; ok && m.Type != "template" {
			var wm waMedia
			require.NoError(t, json.Unmarshal(raw, &wm))
			media[m.Type] = wm
		}
	}
	require.Len(t, media, 2)
	require.Equal(t, "boleto.pdf", media["document"].Filename, "a document shows its library name")
	require.Equal(t, "Seu boleto", media["document"].Caption)
	require.True(t, strings.HasPrefix(media["image"].Link, testPublicURL+"/public/media/"+f.a.account.ID.String()+"/"+logo.ID+"?"), media["image"].Link)
	require.True(t, strings.HasPrefix(media["document"].Link, testPublicURL+"/public/media/"+f.a.account.ID.String()+"/"+boleto.ID+"?"), media["document"].Link)

	// The link serves the file to anyone holding it, without a token.
	link := strings.TrimPrefix(media["document"].Link, testPublicURL)
	r := e.do(http.MethodGet, link, "", nil).status(200)
	require.True(t, bytes.Equal(doc, r.Body))
	require.Equal(t, "application/pdf", r.Header.Get("Content-Type"))
	require.Equal(t, `inline; filename=boleto.pdf`, r.Header.Get("Content-Disposition"))

	// Forged, foreign or expired links do not.
	u, err := url.Parse(link)
	require.NoError(t, err)
	qs := u.Query()
	sig, exp := qs.Get("sig"), qs.Get("exp")
	forged := []string{
		"/public/media/" + f.a.account.ID.String() + "/" + boleto.ID + "?exp=" + exp + "&sig=" + strings.Repeat("A", len(sig)),
		"/public/media/" + f.a.account.ID.String() + "/" + boleto.ID + "?exp=" + exp + "1&sig=" + sig,
		"/public/media/" + f.a.account.ID.String() + "/" + logo.ID + "?exp=" + exp + "&sig=" + sig,
		"/public/media/" + other.account.ID.String() + "/" + boleto.ID + "?exp=" + exp + "&sig=" + sig,
		"/public/media/" + f.a.account.ID.String() + "/" + boleto.ID,
	}
	for _, l := range forged {
		e.do(http.MethodGet, l, "", nil).problem(401)
	}
	e.do(http.MethodGet, "/public/media/nope/"+boleto.ID+"?exp="+exp+"&sig="+sig, "", nil).problem(422)
	e.clock.Advance(8 * 24 * time.Hour)
	e.do(http.MethodGet, link, "", nil).problem(401)
	e.clock.Advance(-8 * 24 * time.Hour)
	// A deleted file's link is gone.
	e.do(http.MethodDelete, "/v1/media/"+boleto.ID, f.a.token, nil).status(204)
	e.do(http.MethodGet, link, "", nil).problem(404)
}
