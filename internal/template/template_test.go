package template

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
)

func fields(errs []fault.FieldError) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Field
	}
	return out
}

func TestCheck(t *testing.T) {
	t.Parallel()
	body := func(s string) Components { return Components{Body: Text{Text: s}} }
	quick := func(n int) []Button {
		out := make([]Button, n)
		for i := range out {
			out[i] = Button{Type: QuickReply, Text: "Opção"}
		}
		return out
	}
	tests := []struct {
		name       string
		tplName    string
		lang       string
		category   string
		c          Components
		wantFormat string
		wantVars   []string
		wantErrs   []string
	}{
		{name: "Positional", c: body("Oi {{1}}, pedido {{2}} de {{1}}"), wantFormat: "positional", wantVars: []string{"body:1", "body:2"}},
		{name: "Named", c: Components{Header: &Header{Format: HeaderText, Text: "Olá {{first_name}}"}, Body: Text{Text: "Pedido {{order_id}}"}},
			wantFormat: "named", wantVars: []string{"header:first_name", "body:order_id"}},
		{name: "Mixed", c: body("Oi {{1}} e {{first_name}}"), wantErrs: []string{"components"}},
		{name: "MixedAcrossHeaderAndBody", c: Components{Header: &Header{Format: HeaderText, Text: "{{name}}"}, Body: Text{Text: "{{1}}"}}, wantErrs: []string{"components"}},
		{name: "Gap", c: body("Oi {{1}} {{3}}"), wantErrs: []string{"components.body.text"}},
		{name: "BadVariable", c: body("Oi {{First}} {{ 1 }} {{01}}"), wantErrs: []string{"components.body.text", "components.body.text", "components.body.text"}},
		{name: "BodyTooLong", c: body(strings.Repeat("a", 1025)), wantErrs: []string{"components.body.text"}},
		{name: "BodyAt1024WithAccents", c: body(strings.Repeat("ã", 1024)), wantFormat: "positional"},
		{name: "EmptyBody", c: body("  "), wantErrs: []string{"components.body.text"}},
		{name: "BadNameLanguageCategory", tplName: "Promo Natal", lang: "portuguese", category: "service", c: body("x"),
			wantErrs: []string{"name", "language", "category"}},
		{name: "NameTooLong", tplName: strings.Repeat("a", 513), c: body("x"), wantErrs: []string{"name"}},
		{name: "HeaderTwoVariables", c: Components{Header: &Header{Format: HeaderText, Text: "{{1}} {{2}}"}, Body: Text{Text: "x"}},
			wantErrs: []string{"components.header.text"}},
		{name: "MediaHeaderNeedsLink", c: Components{Header: &Header{Format: HeaderImage}, Body: Text{Text: "x"}}, wantErrs: []string{"components.header.example_url"}},
		{name: "MediaHeader", c: Components{Header: &Header{Format: HeaderDocument, ExampleURL: "https://cdn.example.com/boleto.pdf"}, Body: Text{Text: "x"}},
			wantFormat: "positional", wantVars: []string{MediaLocation}},
		{name: "UnknownHeaderFormat", c: Components{Header: &Header{Format: "gif"}, Body: Text{Text: "x"}}, wantErrs: []string{"components.header.format"}},
		{name: "FooterLimitsAndNoVariables", c: Components{Body: Text{Text: "x"}, Footer: &Text{Text: strings.Repeat("f", 61) + "{{1}}"}},
			wantErrs: []string{"components.footer.text", "components.footer.text"}},
		{name: "TenQuickReplies", c: Components{Body: Text{Text: "x"}, Buttons: quick(10)}, wantFormat: "positional"},
		{name: "ElevenButtons", c: Components{Body: Text{Text: "x"}, Buttons: quick(11)}, wantErrs: []string{"components.buttons"}},
		{name: "QuickRepliesNotGrouped", c: Components{Body: Text{Text: "x"}, Buttons: []Button{
			{Type: QuickReply, Text: "a"}, {Type: URLButton, Text: "b", URL: "https://x.example.com"}, {Type: QuickReply, Text: "c"}}},
			wantErrs: []string{"components.buttons[2].type"}},
		{name: "ThreeURLButtons", c: Components{Body: Text{Text: "x"}, Buttons: []Button{
			{Type: URLButton, Text: "a", URL: "https://a.example.com"}, {Type: URLButton, Text: "b", URL: "https://b.example.com"},
			{Type: URLButton, Text: "c", URL: "https://c.example.com"}}}, wantErrs: []string{"components.buttons"}},
		{name: "URLVariableOnlyAtEnd", c: Components{Body: Text{Text: "x"}, Buttons: []Button{
			{Type: URLButton, Text: "a", URL: "https://a.example.com/{{1}}/x"}}}, wantErrs: []string{"components.buttons[0].url"}},
		{name: "URLWithVariable", c: Components{Body: Text{Text: "x"}, Buttons: []Button{
			{Type: QuickReply, Text: "q"}, {Type: URLButton, Text: "a", URL: "https://a.example.com/p/{{1}}"}, {Type: CopyCode}}},
			wantFormat: "positional", wantVars: []string{"button:1", "button:2"}},
		{name: "ButtonLabelTooLong", c: Components{Body: Text{Text: "x"}, Buttons: []Button{{Type: QuickReply, Text: strings.Repeat("b", 26)}}},
			wantErrs: []string{"components.buttons[0].text"}},
		{name: "BadPhoneAndUnknownType", c: Components{Body: Text{Text: "x"}, Buttons: []Button{
			{Type: PhoneButton, Text: "Ligar", PhoneNumber: "abc"}, {Type: "flow", Text: "f"}}},
			wantErrs: []string{"components.buttons[0].phone_number", "components.buttons[1].type"}},
		{name: "AuthenticationNoMediaNoQuickReply", category: "authentication", c: Components{Header: &Header{Format: HeaderImage, ExampleURL: "https://x.example.com/a.png"},
			Body: Text{Text: "{{1}} é seu código"}, Buttons: []Button{{Type: QuickReply, Text: "ok"}}},
			wantErrs: []string{"components.header.format", "components.buttons[0].type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name, lang, cat := "pedido_1", "pt_BR", "utility"
			if tc.tplName != "" {
				name = tc.tplName
			}
			if tc.lang != "" {
				lang = tc.lang
			}
			if tc.category != "" {
				cat = tc.category
			}
			got, errs := Check(name, lang, cat, tc.c)
			require.Equal(t, tc.wantErrs, nilIfEmpty(fields(errs)), "%+v", errs)
			if tc.wantErrs != nil {
				return
			}
			require.Equal(t, tc.wantFormat, got.ParameterFormat)
			var locs []string
			for _, v := range got.Variables {
				locs = append(locs, v.Location)
			}
			require.Equal(t, tc.wantVars, locs)
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestCheckExamples(t *testing.T) {
	t.Parallel()
	vars := []Variable{{Location: "body:1", Name: "1"}, {Location: "button:0"}, {Location: MediaLocation}}
	buttons := []Button{{Type: CopyCode}}
	require.Empty(t, CheckExamples(vars, buttons, map[string]string{"body:1": "Maria", "button:0": "NATAL25"}))
	errs := CheckExamples(vars, buttons, map[string]string{"body:1": " ", "button:0": "A-CODE-LONGER-THAN-15", "body:9": "x"})
	require.ElementsMatch(t, []string{"examples.body:1", "examples.button:0", "examples.body:9"}, fields(errs))
}

func TestEventReason(t *testing.T) {
	t.Parallel()
	require.Equal(t, "INVALID_FORMAT", eventReason(StatusRejected, map[string]string{"reason": "INVALID_FORMAT"}))
	require.Equal(t, "FIRST_PAUSE: Your template has been paused for 3 hours.",
		eventReason(StatusPaused, map[string]string{"reason": "NONE", "other_info.title": "FIRST_PAUSE", "other_info.description": "Your template has been paused for 3 hours."}))
	require.Empty(t, eventReason(StatusApproved, map[string]string{"reason": "NONE"}))
}

func TestSendable(t *testing.T) {
	t.Parallel()
	approved, paused, other := uuid.New(), uuid.New(), uuid.New()
	tpl := Template{Channels: []ChannelState{
		{ChannelID: approved, Status: StatusApproved, ProviderTemplateID: "118"},
		{ChannelID: paused, Status: StatusPaused, ProviderTemplateID: "118"},
	}}
	c, ok := tpl.Sendable(approved)
	require.True(t, ok)
	require.Equal(t, "118", c.ProviderTemplateID)
	_, ok = tpl.Sendable(paused)
	require.False(t, ok, "a paused template is not sent")
	_, ok = tpl.Sendable(other)
	require.False(t, ok, "nor through a channel whose library lacks it")
}

func TestSpec(t *testing.T) {
	t.Parallel()
	named := Template{Name: "boas_vindas", Language: "pt_BR", Category: "marketing", ParameterFormat: "named",
		Components: Components{
			Header: &Header{Format: HeaderText, Text: "Oi {{first_name}}"},
			Body:   Text{Text: "{{first_name}}, seu plano {{plan}} chegou."},
			Footer: &Text{Text: "Loja"},
			Buttons: []Button{{Type: URLButton, Text: "Ver", URL: "https://x.example.com/{{1}}"}, {Type: CopyCode},
				{Type: PhoneButton, Text: "Ligar", PhoneNumber: "+551140001234"}},
		},
		Examples: map[string]string{"header:first_name": "Ana", "body:first_name": "Ana", "body:plan": "Ouro", "button:0": "abc", "button:1": "NATAL25"},
	}
	require.Equal(t, provider.TemplateSpec{Name: "boas_vindas", Language: "pt_BR", Category: "marketing", Components: []provider.Component{
		{Type: "header", Format: HeaderText, Text: "Oi {{first_name}}", Example: []string{"Ana"}},
		{Type: "body", Text: "{{first_name}}, seu plano {{plan}} chegou.", Example: []string{"Ana", "Ouro"}},
		{Type: "footer", Text: "Loja"},
		{Type: "buttons", Example: []string{"abc"}, Buttons: []provider.Button{{Type: URLButton, Text: "Ver", URL: "https://x.example.com/{{1}}"},
			{Type: CopyCode, Text: "Copy code"}, {Type: PhoneButton, Text: "Ligar", Phone: "+551140001234"}}},
	}}, Spec(named))

	// Positional examples go in number order, whatever the text's; a media header's example
	// is its link.
	positional := Template{Name: "p", Language: "en", Category: "utility", ParameterFormat: "positional",
		Components: Components{Header: &Header{Format: HeaderImage, ExampleURL: "https://cdn.example.com/a.png"}, Body: Text{Text: "{{2}} then {{1}}"}},
		Examples:   map[string]string{"body:1": "one", "body:2": "two"}}
	spec := Spec(positional)
	require.Equal(t, []string{"https://cdn.example.com/a.png"}, spec.Components[0].Example)
	require.Equal(t, []string{"one", "two"}, spec.Components[1].Example)
}

// TestSpecOnTheWire submits Spec's output through the WhatsApp adapter to the Cloud API test
// server, which checks the management wire format (examples per variable, button rules).
func TestSpecOnTheWire(t *testing.T) {
	t.Parallel()
	srv := whatsapptest.New(t, whatsapptest.Config{WABAID: "55555"})
	c := whatsapp.New(whatsapp.Config{BaseURL: srv.URL, WABAID: "55555", AccessToken: whatsapptest.DefaultAccessToken})
	for _, tpl := range []Template{
		{Name: "named", Language: "pt_BR", Category: "marketing", ParameterFormat: "named",
			Components: Components{Header: &Header{Format: HeaderText, Text: "Oi {{first_name}}"}, Body: Text{Text: "{{first_name}}: {{plan}}"},
				Buttons: []Button{{Type: QuickReply, Text: "Sim"}, {Type: URLButton, Text: "Ver", URL: "https://x.example.com/{{1}}"}}},
			Examples: map[string]string{"header:first_name": "Ana", "body:first_name": "Ana", "body:plan": "Ouro", "button:1": "abc"}},
		{Name: "positional", Language: "pt_BR", Category: "utility", ParameterFormat: "positional",
			Components: Components{Header: &Header{Format: HeaderDocument, ExampleURL: "https://cdn.example.com/boleto.pdf"},
				Body: Text{Text: "Boleto {{2}} de {{1}}"}, Footer: &Text{Text: "Loja"}, Buttons: []Button{{Type: CopyCode}}},
			Examples: map[string]string{"body:1": "Ana", "body:2": "123", "button:0": "CODE1"}},
	} {
		_, errs := Check(tpl.Name, tpl.Language, tpl.Category, tpl.Components)
		require.Empty(t, errs)
		res, err := c.SubmitTemplate(context.Background(), Spec(tpl))
		require.NoError(t, err, tpl.Name)
		require.Equal(t, StatusPending, res.Status)
	}
	got := srv.Templates()
	require.Len(t, got, 2)
	require.Equal(t, "named", got[0].ParameterFormat)
	require.Equal(t, 2, got[0].BodyParams)
	require.Equal(t, "positional", got[1].ParameterFormat)
}
