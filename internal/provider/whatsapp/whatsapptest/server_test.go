package whatsapptest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	testPNID = "106540352242922"
	testWABA = "102290129340398"
)

type answer struct {
	status int
	body   map[string]any
}

func post(t *testing.T, s *Server, path, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return answer{status: resp.StatusCode, body: out}
}

// metaCode returns the error code of Meta's envelope after checking its shape (§1.6).
func metaCode(t *testing.T, a answer) int {
	t.Helper()
	e, ok := a.body["error"].(map[string]any)
	require.True(t, ok, "want Meta's error envelope, got %v", a.body)
	code := int(e["code"].(float64))
	require.True(t, strings.HasPrefix(e["message"].(string), "(#"), e["message"])
	require.NotEmpty(t, e["fbtrace_id"])
	require.Equal(t, "OAuthException", e["type"])
	return code
}

func TestMessagesRejections(t *testing.T) {
	t.Parallel()
	const ok = `{"messaging_product":"whatsapp","to":"+5511987654321","type":"text","text":{"body":"hi"}}`
	tests := []struct {
		name       string
		path       string
		token      string
		body       string
		wantStatus int
		wantCode   int // 0: success
	}{
		{"Accepted", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, ok, 200, 0},
		{"AnyVersion", "/v99.1/" + testPNID + "/messages", DefaultAccessToken, ok, 200, 0},
		{"MarkRead", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.X"}`, 200, 0},
		{"NoToken", "/v23.0/" + testPNID + "/messages", "", ok, 401, 190},
		{"WrongToken", "/v23.0/" + testPNID + "/messages", "nope", ok, 401, 190},
		{"BadVersion", "/latest/" + testPNID + "/messages", DefaultAccessToken, ok, 400, 100},
		{"OtherPhoneNumberID", "/v23.0/123/messages", DefaultAccessToken, ok, 400, 100},
		{"UnknownPath", "/v23.0/" + testPNID + "/media", DefaultAccessToken, ok, 400, 100},
		{"NotJSON", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"to":`, 400, 100},
		{"UnknownField", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"text","text":{"body":"hi","preview":true}}`, 400, 100},
		{"NoMessagingProduct", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"to":"+5511987654321","type":"text","text":{"body":"hi"}}`, 400, 100},
		{"NoRecipient", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","type":"text","text":{"body":"hi"}}`, 400, 131008},
		{"BadPhone", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"call me","type":"text","text":{"body":"hi"}}`, 400, 131009},
		{"UnknownType", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"hologram"}`, 400, 131051},
		{"TypeObjectMissing", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"image"}`, 400, 131008},
		{"TypeObjectMismatch", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"text","image":{"link":"https://x/y.jpg"}}`, 400, 100},
		{"EmptyText", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"text","text":{"body":""}}`, 400, 131008},
		{"TextTooLong", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"text","text":{"body":"` + strings.Repeat("a", 4097) + `"}}`, 400, 131009},
		{"MediaIDAndLink", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"image","image":{"id":"1","link":"https://x/y.jpg"}}`, 400, 131009},
		{"CaptionOnSticker", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"sticker","sticker":{"id":"1","caption":"x"}}`, 400, 100},
		{"ReactionWithoutEmoji", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"reaction","reaction":{"message_id":"wamid.X"}}`, 400, 131008},
		{"ContactWithoutNamePart", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"contacts","contacts":[{"name":{"formatted_name":"A"}}]}`, 400, 131008},
		{"EmptyContext", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"text","text":{"body":"x"},"context":{}}`, 400, 131008},
		{"TemplateNoLanguage", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"t"}}`, 400, 131008},
		{"TemplateIntIndex", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"button","sub_type":"url","index":0,"parameters":[{"type":"text","text":"abc"}]}]}}`, 200, 0},
		{"TemplateParamNewline", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"a\nb"}]}]}}`, 400, 132018},
		{"TemplateMixedParams", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"a","parameter_name":"x"},{"type":"text","text":"b"}]}]}}`, 400, 132012},
		{"TemplateURLParamNotEncoded", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"a b"}]}]}}`, 400, 132018},
		{"TemplateBadIndex", "/v23.0/" + testPNID + "/messages", DefaultAccessToken, `{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"button","sub_type":"url","index":"x","parameters":[]}]}}`, 400, 131009},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(t, Config{PhoneNumberID: testPNID, WABAID: testWABA})
			a := post(t, s, tc.path, tc.token, tc.body)
			require.Equal(t, tc.wantStatus, a.status, "%v", a.body)
			require.Len(t, s.Requests(), 1, "every request is recorded")
			if tc.wantCode == 0 {
				require.NotContains(t, a.body, "error")
				return
			}
			require.Equal(t, tc.wantCode, metaCode(t, a))
			require.Empty(t, s.Messages())
		})
	}
}

func TestMessagesSuccessShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		body        string
		wantContact map[string]any
	}{
		{"Phone", `{"messaging_product":"whatsapp","to":"+1 650-555-1234","type":"text","text":{"body":"hi"}}`,
			map[string]any{"input": "+1 650-555-1234", "wa_id": "16505551234"}},
		{"BusinessScopedUserID", `{"messaging_product":"whatsapp","recipient":"US.13491208655302741918","type":"text","text":{"body":"hi"}}`,
			map[string]any{"input": "US.13491208655302741918", "user_id": "US.13491208655302741918"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(t, Config{})
			a := post(t, s, "/v23.0/"+testPNID+"/messages", DefaultAccessToken, tc.body)
			require.Equal(t, 200, a.status)
			require.Equal(t, "whatsapp", a.body["messaging_product"])
			require.Equal(t, []any{tc.wantContact}, a.body["contacts"])
			id := a.body["messages"].([]any)[0].(map[string]any)["id"].(string)
			require.True(t, strings.HasPrefix(id, "wamid."), id)
			msgs := s.Messages()
			require.Len(t, msgs, 1)
			require.Equal(t, id, msgs[0].ID)
			require.JSONEq(t, tc.body, string(msgs[0].Body))
		})
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	const body = `{"messaging_product":"whatsapp","to":"+5511987654321","type":"text","text":{"body":"hi"}}`
	tests := []struct {
		name       string
		fail       func(*Server)
		wantStatus []int
		wantCode   []int
	}{
		{"TwoRateLimits", func(s *Server) { s.FailNext(2, 130429, 0) }, []int{400, 400, 200}, []int{130429, 130429, 0}},
		{"ServerErrorDefaultStatus", func(s *Server) { s.FailNext(1, 131000, 0) }, []int{500, 200}, []int{131000, 0}},
		{"ExplicitStatus", func(s *Server) { s.FailNext(1, 131026, 403) }, []int{403, 200}, []int{131026, 0}},
		{"WithSubcode", func(s *Server) { s.FailNextWith(1, APIError{Code: 100, Subcode: 2388024}) }, []int{400, 200}, []int{100, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(t, Config{})
			tc.fail(s)
			for i := range tc.wantStatus {
				a := post(t, s, "/v23.0/"+testPNID+"/messages", DefaultAccessToken, body)
				require.Equal(t, tc.wantStatus[i], a.status, "call %d", i)
				if tc.wantCode[i] != 0 {
					require.Equal(t, tc.wantCode[i], metaCode(t, a), "call %d", i)
				}
			}
			require.Len(t, s.Messages(), 1)
		})
	}
}

func TestTemplateSubmissions(t *testing.T) {
	t.Parallel()
	path := "/v23.0/" + testWABA + "/message_templates"
	tests := []struct {
		name     string
		body     string
		wantCode int // 0: accepted
	}{
		{"Positional", `{"name":"order_update","language":"pt_BR","category":"UTILITY","components":[{"type":"BODY","text":"Oi {{1}} {{2}}","example":{"body_text":[["a","b"]]}}]}`, 0},
		{"Named", `{"name":"welcome","language":"en_US","category":"MARKETING","parameter_format":"named","components":[{"type":"BODY","text":"Hi {{first_name}}","example":{"body_text_named_params":[{"param_name":"first_name","example":"Ana"}]}}]}`, 0},
		{"BadName", `{"name":"Order Update","language":"pt_BR","category":"UTILITY","components":[{"type":"BODY","text":"x"}]}`, 100},
		{"ServiceCategory", `{"name":"t","language":"pt_BR","category":"SERVICE","components":[{"type":"BODY","text":"x"}]}`, 100},
		{"NoBody", `{"name":"t","language":"pt_BR","category":"UTILITY","components":[{"type":"FOOTER","text":"x"}]}`, 100},
		{"MissingExample", `{"name":"t","language":"pt_BR","category":"UTILITY","components":[{"type":"BODY","text":"Oi {{1}}"}]}`, 100},
		{"SkippedPosition", `{"name":"t","language":"pt_BR","category":"UTILITY","components":[{"type":"BODY","text":"Oi {{1}} {{3}}","example":{"body_text":[["a","b"]]}}]}`, 100},
		{"NamedInPositional", `{"name":"t","language":"pt_BR","category":"UTILITY","components":[{"type":"BODY","text":"Oi {{name}}","example":{"body_text":[["a"]]}}]}`, 100},
		{"MediaHeaderNoHandle", `{"name":"t","language":"pt_BR","category":"UTILITY","components":[{"type":"HEADER","format":"IMAGE"},{"type":"BODY","text":"x"}]}`, 100},
		{"URLButtonNoExample", `{"name":"t","language":"pt_BR","category":"UTILITY","components":[{"type":"BODY","text":"x"},{"type":"BUTTONS","buttons":[{"type":"URL","text":"Go","url":"https://x/{{1}}"}]}]}`, 100},
		{"UnknownField", `{"name":"t","language":"pt_BR","category":"UTILITY","colour":"red","components":[{"type":"BODY","text":"x"}]}`, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(t, Config{WABAID: testWABA})
			a := post(t, s, path, DefaultAccessToken, tc.body)
			if tc.wantCode != 0 {
				require.Equal(t, 400, a.status)
				require.Equal(t, tc.wantCode, metaCode(t, a))
				require.Empty(t, s.Templates())
				return
			}
			require.Equal(t, 200, a.status, "%v", a.body)
			require.Equal(t, "PENDING", a.body["status"])
			tpls := s.Templates()
			require.Len(t, tpls, 1)
			require.Equal(t, a.body["id"], tpls[0].ID)

			dup := post(t, s, path, DefaultAccessToken, tc.body)
			require.Equal(t, 100, metaCode(t, dup))
			require.Equal(t, float64(2388024), dup.body["error"].(map[string]any)["error_subcode"])
		})
	}
}

func TestSetTemplateStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		id      func(s *Server) string
		status  string
		wantErr string
	}{
		{"Approve", func(s *Server) string { return s.AddTemplate(Template{Name: "t", Language: "en", Status: "PENDING"}) }, "approved", ""},
		{"Pause", func(s *Server) string { return s.AddTemplate(Template{Name: "t", Language: "en"}) }, "PAUSED", ""},
		{"UnknownID", func(*Server) string { return "404" }, "APPROVED", "no template"},
		{"UnknownStatus", func(s *Server) string { return s.AddTemplate(Template{Name: "t", Language: "en"}) }, "GREAT", "unknown template status"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(t, Config{})
			id := tc.id(s)
			err := s.SetTemplateStatus(id, tc.status)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, strings.ToUpper(tc.status), s.Templates()[0].Status)
		})
	}
}

func TestSignedWebhook(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		payload  string
		wantBody string
	}{
		{"ASCII", `{"a":"b"}`, `{"a":"b"}`},
		{"EscapedLikeMeta", `{"a":"Olá 👋"}`, `{"a":"Ol\u00e1 \ud83d\udc4b"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := SignedWebhook("s3cret", []byte(tc.payload))
			body, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			require.Equal(t, tc.wantBody, string(body))
			require.Equal(t, Sign("s3cret", body), r.Header.Get("X-Hub-Signature-256"))
			require.Equal(t, http.MethodPost, r.Method)
			require.Equal(t, WebhookPath, r.URL.Path)
		})
	}
}
