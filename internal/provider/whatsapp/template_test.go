package whatsapp

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
)

func TestSubmitTemplateWireFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		spec           provider.TemplateSpec
		want           string
		wantBodyParams int
	}{
		{
			name: "PositionalWithHeaderFooterButtons",
			spec: provider.TemplateSpec{
				Name: "order_update", Language: "pt_BR", Category: "utility",
				Components: []provider.Component{
					{Type: "header", Format: "text", Text: "Pedido {{1}}", Example: []string{"SKB-1"}},
					{Type: "body", Text: "Olá {{1}}, seu pedido {{2}} saiu para entrega.", Example: []string{"Jessica", "SKB-1"}},
					{Type: "footer", Text: "Loja Exemplo"},
					{Type: "buttons", Example: []string{"SKB-1"}, Buttons: []provider.Button{
						{Type: "url", Text: "Rastrear", URL: "https://shop.example.com/track/{{1}}"},
						{Type: "phone_number", Text: "Ligar", Phone: "+5511987654321"},
						{Type: "quick_reply", Text: "Parar avisos"},
					}},
				},
			},
			want: `{"name":"order_update","language":"pt_BR","category":"UTILITY","parameter_format":"positional","components":[
				{"type":"HEADER","format":"TEXT","text":"Pedido {{1}}","example":{"header_text":["SKB-1"]}},
				{"type":"BODY","text":"Olá {{1}}, seu pedido {{2}} saiu para entrega.","example":{"body_text":[["Jessica","SKB-1"]]}},
				{"type":"FOOTER","text":"Loja Exemplo"},
				{"type":"BUTTONS","buttons":[
					{"type":"URL","text":"Rastrear","url":"https://shop.example.com/track/{{1}}","example":["https://shop.example.com/track/SKB-1"]},
					{"type":"PHONE_NUMBER","text":"Ligar","phone_number":"+5511987654321"},
					{"type":"QUICK_REPLY","text":"Parar avisos"}]}]}`,
			wantBodyParams: 2,
		},
		{
			name: "Named",
			spec: provider.TemplateSpec{
				Name: "welcome", Language: "en_US", Category: "Marketing",
				Components: []provider.Component{
					{Type: "body", Text: "Hi {{first_name}}, your code {{order_number}} for {{first_name}}.", Example: []string{"Jessica", "SKB-1"}},
					{Type: "buttons", Example: []string{"https://shop.example.com/p/summer"}, Buttons: []provider.Button{
						{Type: "url", Text: "Shop", URL: "https://shop.example.com/p/{{1}}"},
					}},
				},
			},
			want: `{"name":"welcome","language":"en_US","category":"MARKETING","parameter_format":"named","components":[
				{"type":"BODY","text":"Hi {{first_name}}, your code {{order_number}} for {{first_name}}.",
				 "example":{"body_text_named_params":[{"param_name":"first_name","example":"Jessica"},{"param_name":"order_number","example":"SKB-1"}]}},
				{"type":"BUTTONS","buttons":[{"type":"URL","text":"Shop","url":"https://shop.example.com/p/{{1}}","example":["https://shop.example.com/p/summer"]}]}]}`,
			wantBodyParams: 2,
		},
		{
			name: "MediaHeaderNoVariables",
			spec: provider.TemplateSpec{
				Name: "catalogue_2026", Language: "pt_BR", Category: "MARKETING",
				Components: []provider.Component{
					{Type: "header", Format: "image", Example: []string{"4::aW1hZ2UvanBlZw==:ARb..."}},
					{Type: "body", Text: "Confira o novo catálogo!"},
				},
			},
			want: `{"name":"catalogue_2026","language":"pt_BR","category":"MARKETING","parameter_format":"positional","components":[
				{"type":"HEADER","format":"IMAGE","example":{"header_handle":["4::aW1hZ2UvanBlZw==:ARb..."]}},
				{"type":"BODY","text":"Confira o novo catálogo!"}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, whatsapptest.Config{})
			got, err := b.client.SubmitTemplate(context.Background(), tc.spec)
			require.NoError(t, err)
			require.Equal(t, "pending", got.Status)
			require.NotEmpty(t, got.ID)

			reqs := b.srv.Requests()
			require.Len(t, reqs, 1)
			require.Equal(t, "/"+DefaultAPIVersion+"/"+testWABA+"/message_templates", reqs[0].Path)
			require.JSONEq(t, tc.want, string(reqs[0].Body))

			tpls := b.srv.Templates()
			require.Len(t, tpls, 1)
			require.Equal(t, got.ID, tpls[0].ID)
			require.Equal(t, "PENDING", tpls[0].Status)
			require.Equal(t, tc.wantBodyParams, tpls[0].BodyParams)
		})
	}
}

func TestSubmitTemplateRefusedLocally(t *testing.T) {
	t.Parallel()
	body := func(text string, ex ...string) provider.Component {
		return provider.Component{Type: "body", Text: text, Example: ex}
	}
	tests := []struct {
		name string
		spec provider.TemplateSpec
		want string
	}{
		{"NoName", provider.TemplateSpec{Language: "en", Category: "utility"}, "name and a language"},
		{"ServiceIsNotACategory", provider.TemplateSpec{Name: "t", Language: "en", Category: "service"}, "category"},
		{"MixedVariables", provider.TemplateSpec{Name: "t", Language: "en", Category: "utility",
			Components: []provider.Component{body("{{1}} and {{name}}", "a", "b")}}, "mixes"},
		{"MissingExample", provider.TemplateSpec{Name: "t", Language: "en", Category: "utility",
			Components: []provider.Component{body("Hi {{1}} {{2}}", "a")}}, "2 variables but 1 examples"},
		{"EmptyExample", provider.TemplateSpec{Name: "t", Language: "en", Category: "utility",
			Components: []provider.Component{body("Hi {{1}}", " ")}}, "is empty"},
		{"MediaHeaderWithoutHandle", provider.TemplateSpec{Name: "t", Language: "en", Category: "utility",
			Components: []provider.Component{{Type: "header", Format: "video"}, body("x")}}, "upload handle"},
		{"URLButtonWithoutExample", provider.TemplateSpec{Name: "t", Language: "en", Category: "utility",
			Components: []provider.Component{body("x"), {Type: "buttons", Buttons: []provider.Button{{Type: "url", Text: "Go", URL: "https://x/{{1}}"}}}}}, "no example"},
		{"SurplusButtonExample", provider.TemplateSpec{Name: "t", Language: "en", Category: "utility",
			Components: []provider.Component{body("x"), {Type: "buttons", Example: []string{"a"}, Buttons: []provider.Button{{Type: "quick_reply", Text: "Ok"}}}}}, "left over"},
		{"UnknownComponent", provider.TemplateSpec{Name: "t", Language: "en", Category: "utility",
			Components: []provider.Component{{Type: "carousel"}}}, "component type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, whatsapptest.Config{})
			_, err := b.client.SubmitTemplate(context.Background(), tc.spec)
			pe := requireProviderError(t, err)
			require.Equal(t, CodeInvalidMessage, pe.Code)
			require.Contains(t, pe.Reason, tc.want)
			require.Empty(t, b.srv.Requests())
		})
	}
}

func TestSubmitTemplateMetaErrors(t *testing.T) {
	t.Parallel()
	spec := provider.TemplateSpec{Name: "order_update", Language: "pt_BR", Category: "utility",
		Components: []provider.Component{{Type: "body", Text: "Pedido {{1}}", Example: []string{"SKB-1"}}}}
	tests := []struct {
		name          string
		prepare       func(*testing.T, *testBundle)
		wantCode      string
		wantRetryable bool
		wantReason    string
	}{
		{"DuplicateNameAndLanguage", func(t *testing.T, b *testBundle) {
			_, err := b.client.SubmitTemplate(context.Background(), spec)
			require.NoError(t, err)
		}, "100", false, "2388024"},
		{"WABARateLimit", func(_ *testing.T, b *testBundle) { b.srv.FailNext(1, 80007, 0) }, "80007", true, "management"},
		{"NotConfigured", func(_ *testing.T, b *testBundle) { b.client.cfg.WABAID = "" }, CodeNotConfigured, false, "business account id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, whatsapptest.Config{})
			tc.prepare(t, b)
			_, err := b.client.SubmitTemplate(context.Background(), spec)
			pe := requireProviderError(t, err)
			require.Equal(t, tc.wantCode, pe.Code)
			require.Equal(t, tc.wantRetryable, pe.Retryable)
			require.Contains(t, pe.Reason, tc.wantReason)
		})
	}
}

// TestTemplateLifecycle submits a template, flips its status the way Meta's review and
// quality system would, and sends it at each step (reference §6, §9.1).
func TestTemplateLifecycle(t *testing.T) {
	t.Parallel()
	spec := provider.TemplateSpec{Name: "order_update", Language: "pt_BR", Category: "utility",
		Components: []provider.Component{{Type: "body", Text: "Olá {{1}}, pedido {{2}}", Example: []string{"Ana", "SKB-1"}}}}
	send := func(params ...string) provider.Message {
		tpl := &provider.Template{Name: "order_update", Language: "pt_BR"}
		for _, p := range params {
			tpl.BodyParams = append(tpl.BodyParams, provider.Param{Value: p})
		}
		return provider.Message{To: "+5511987654321", Kind: provider.KindTemplate, Template: tpl}
	}
	tests := []struct {
		name          string
		status        string // "" leaves it PENDING
		msg           provider.Message
		wantCode      string // "" for success
		wantRetryable bool
	}{
		{"PendingIsNotSendable", "", send("Ana", "1"), "132001", false},
		{"ApprovedSends", "APPROVED", send("Ana", "1"), "", false},
		{"ApprovedWrongParamCount", "APPROVED", send("Ana"), "132000", false},
		{"PausedRetryLater", "PAUSED", send("Ana", "1"), "132015", true},
		{"DisabledIsFinal", "DISABLED", send("Ana", "1"), "132016", false},
		{"RejectedIsNotSendable", "REJECTED", send("Ana", "1"), "132001", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, whatsapptest.Config{StrictTemplates: true})
			sub, err := b.client.SubmitTemplate(context.Background(), spec)
			require.NoError(t, err)
			if tc.status != "" {
				require.NoError(t, b.srv.SetTemplateStatus(sub.ID, tc.status))
			}
			_, err = b.client.Send(context.Background(), tc.msg)
			if tc.wantCode == "" {
				require.NoError(t, err)
				return
			}
			pe := requireProviderError(t, err)
			require.Equal(t, tc.wantCode, pe.Code)
			require.Equal(t, tc.wantRetryable, pe.Retryable)
			require.Equal(t, http.StatusBadRequest, pe.HTTPStatus)
		})
	}
}

func TestStrictTemplatesUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		strict   bool
		wantCode string
	}{
		{"StrictRefusesUnknown", true, "132001"},
		{"LenientAcceptsUnknown", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, whatsapptest.Config{StrictTemplates: tc.strict})
			_, err := b.client.Send(context.Background(), provider.Message{To: "+5511987654321", Kind: provider.KindTemplate,
				Template: &provider.Template{Name: "gone", Language: "pt_BR"}})
			if tc.wantCode == "" {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.wantCode, requireProviderError(t, err).Code)
		})
	}
}
