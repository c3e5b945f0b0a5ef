package template

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/provider"
)

func ptr[T any](v T) *T { return &v }

func TestRender(t *testing.T) {
	t.Parallel()
	birth := time.Date(1990, 3, 7, 0, 0, 0, 0, time.UTC)
	joana := contact.Contact{
		Name: "Joana D'Ávila Conceição", CustomerCode: ptr("CLI-042"), Email: ptr("joana@example.com"), BirthDate: &birth,
		Document: ptr("52998224725"), Phones: []contact.Phone{{Number: "+5511987654321"}},
		Custom: map[string]any{"plano": "Ouro ✨", "saldo": 1234.5, "vencimento": "2026-12-05", "vip": true, "parcelas": 3.0,
			"cor": "azul", "foto": "https://cdn.example.com/joana.jpg", "negativo": -1234567.25},
	}
	defs := []customfield.Field{
		{Key: "plano", Type: customfield.Text}, {Key: "saldo", Type: customfield.Number}, {Key: "vencimento", Type: customfield.Date},
		{Key: "vip", Type: customfield.Boolean}, {Key: "parcelas", Type: customfield.Number}, {Key: "cor", Type: customfield.Choice},
		{Key: "foto", Type: customfield.ImageURL}, {Key: "negativo", Type: customfield.Number}, {Key: "vazio", Type: customfield.Text},
	}
	positional := func(body string, b map[string]Binding) Template {
		return Template{Name: "t", Language: "pt_BR", ParameterFormat: "positional", Components: Components{Body: Text{Text: body}}, Bindings: b}
	}
	src := func(s string) Binding { return Binding{Source: s} }

	tests := []struct {
		name           string
		tpl            Template
		c              contact.Contact
		wantBody       string
		wantUnresolved []string
		wantParams     []provider.Param
	}{
		{
			name:       "PositionalSystemFieldsWithAccents",
			tpl:        positional("Olá {{1}}, seu código é {{2}} ({{3}}).", map[string]Binding{"body:1": src("{nome}"), "body:2": src("{{contactcustomcode}}"), "body:3": src("@ChaveCliente")}),
			c:          joana,
			wantBody:   "Olá Joana D'Ávila Conceição, seu código é CLI-042 (CLI-042).",
			wantParams: []provider.Param{{Value: "Joana D'Ávila Conceição"}, {Value: "CLI-042"}, {Value: "CLI-042"}},
		},
		{
			name: "PositionalValuesInNumberOrderWhateverTheTextOrder",
			tpl:  positional("Vence {{2}}, {{1}}!", map[string]Binding{"body:1": src("{primeiro_nome}"), "body:2": src("{vencimento}")}),
			c:    joana, wantBody: "Vence 05/12/2026, Joana!",
			wantParams: []provider.Param{{Value: "Joana"}, {Value: "05/12/2026"}},
		},
		{
			name: "NamedVariables",
			tpl: Template{Language: "pt_BR", ParameterFormat: "named", Components: Components{Body: Text{Text: "Oi {{first_name}}, plano {{plan}}; de novo {{first_name}}."}},
				Bindings: map[string]Binding{"body:first_name": src("{primeiro_nome}"), "body:plan": src("{plano}")}},
			c: joana, wantBody: "Oi Joana, plano Ouro ✨; de novo Joana.",
			wantParams: []provider.Param{{Name: "first_name", Value: "Joana"}, {Name: "plan", Value: "Ouro ✨"}},
		},
		{
			name: "CustomFieldOfEachType",
			tpl: positional("{{1}}|{{2}}|{{3}}|{{4}}|{{5}}|{{6}}|{{7}}|{{8}}", map[string]Binding{
				"body:1": src("{plano}"), "body:2": src("{saldo}"), "body:3": src("{vencimento}"), "body:4": src("{vip}"),
				"body:5": src("{parcelas}"), "body:6": src("{cor}"), "body:7": src("{foto}"), "body:8": src("{negativo}")}),
			c:        joana,
			wantBody: "Ouro ✨|1.234,5|05/12/2026|Sim|3|azul|https://cdn.example.com/joana.jpg|-1.234.567,25",
			wantParams: []provider.Param{{Value: "Ouro ✨"}, {Value: "1.234,5"}, {Value: "05/12/2026"}, {Value: "Sim"}, {Value: "3"},
				{Value: "azul"}, {Value: "https://cdn.example.com/joana.jpg"}, {Value: "-1.234.567,25"}},
		},
		{
			name: "OtherSystemFieldsAndDateFormat",
			tpl: positional("{{1}} {{2}} {{3}} {{4}}", map[string]Binding{"body:1": src("{data_nascimento}"), "body:2": src("{cpf}"),
				"body:3": src("{email}"), "body:4": src("{telefone}")}),
			c: joana, wantBody: "07/03/1990 529.982.247-25 joana@example.com +5511987654321",
			wantParams: []provider.Param{{Value: "07/03/1990"}, {Value: "529.982.247-25"}, {Value: "joana@example.com"}, {Value: "+5511987654321"}},
		},
		{
			name: "MissingValuesStayAndAreReported",
			tpl: positional("{{1}}, código {{2}}, campo {{3}}, sem vínculo {{4}}", map[string]Binding{
				"body:1": src("{nome}"), "body:2": src("@ChaveCliente"), "body:3": src("{vazio}")}),
			c:              contact.Contact{Name: "Zé"},
			wantBody:       "Zé, código {{2}}, campo {{3}}, sem vínculo {{4}}",
			wantUnresolved: []string{"body:2", "body:3", "body:4"},
			wantParams:     []provider.Param{{Value: "Zé"}},
		},
		{
			name: "FallbackAndFixedText",
			tpl: positional("{{1}} na loja {{2}}", map[string]Binding{
				"body:1": {Source: "{email}", Fallback: "cliente"}, "body:2": {Text: "Centro"}}),
			c: contact.Contact{Name: "Zé"}, wantBody: "cliente na loja Centro",
			wantParams: []provider.Param{{Value: "cliente"}, {Value: "Centro"}},
		},
		{
			name: "EnglishNumbersAndBooleans",
			tpl: Template{Language: "en_US", ParameterFormat: "positional", Components: Components{Body: Text{Text: "{{1}} {{2}}"}},
				Bindings: map[string]Binding{"body:1": src("{saldo}"), "body:2": src("{vip}")}},
			c: joana, wantBody: "1,234.5 Yes", wantParams: []provider.Param{{Value: "1,234.5"}, {Value: "Yes"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Render(tc.tpl, tc.c, defs)
			require.Equal(t, tc.wantBody, r.Body)
			require.Equal(t, tc.wantUnresolved, r.Unresolved)
			require.Equal(t, tc.wantParams, r.Send.BodyParams)
		})
	}
}

func TestRenderHeaderFooterButtons(t *testing.T) {
	t.Parallel()
	tpl := Template{Name: "promo", Language: "pt_BR", ParameterFormat: "positional",
		Components: Components{
			Header: &Header{Format: HeaderText, Text: "Oferta para {{1}}"},
			Body:   Text{Text: "Use o cupom abaixo."},
			Footer: &Text{Text: "Responda SAIR para não receber"},
			Buttons: []Button{{Type: QuickReply, Text: "Quero"}, {Type: URLButton, Text: "Ver pedido", URL: "https://loja.example.com/pedido/{{1}}"},
				{Type: PhoneButton, Text: "Ligar", PhoneNumber: "+551140001234"}, {Type: CopyCode}},
		},
		Bindings: map[string]Binding{"header:1": {Source: "{primeiro_nome}"}, "button:1": {Source: "{{contactcustomcode}}"}, "button:3": {Text: "NATAL25"}},
	}
	r := Render(tpl, contact.Contact{Name: "Ana Souza", CustomerCode: ptr("A-1")}, nil)
	require.Empty(t, r.Unresolved)
	require.Equal(t, &RenderedHeader{Format: HeaderText, Text: "Oferta para Ana"}, r.Header)
	require.Equal(t, "Responda SAIR para não receber", r.Footer)
	require.Equal(t, []RenderedButton{{Type: QuickReply, Text: "Quero"}, {Type: URLButton, Text: "Ver pedido", URL: "https://loja.example.com/pedido/A-1"},
		{Type: PhoneButton, Text: "Ligar", PhoneNumber: "+551140001234"}, {Type: CopyCode, Code: "NATAL25"}}, r.Buttons)
	require.Equal(t, provider.Template{Name: "promo", Language: "pt_BR", HeaderParams: []provider.Param{{Value: "Ana"}},
		ButtonParams: map[int]string{1: "A-1"}}, r.Send)

	// A contact without a customer code leaves the URL's variable unresolved.
	r = Render(tpl, contact.Contact{Name: "Ana"}, nil)
	require.Equal(t, []string{"button:1"}, r.Unresolved)
	require.Equal(t, "https://loja.example.com/pedido/{{1}}", r.Buttons[1].URL)

	// A media header shows its example link unless a binding gives the contact's own.
	media := Template{Language: "pt_BR", Components: Components{Header: &Header{Format: HeaderImage, ExampleURL: "https://cdn.example.com/a.jpg"}, Body: Text{Text: "Oi"}}}
	r = Render(media, contact.Contact{}, nil)
	require.Equal(t, "https://cdn.example.com/a.jpg", r.Header.MediaURL)
	require.Equal(t, &provider.Media{Kind: provider.Image, URL: "https://cdn.example.com/a.jpg"}, r.Send.HeaderMedia)
	media.Bindings = map[string]Binding{MediaLocation: {Source: "{foto}"}}
	r = Render(media, contact.Contact{Custom: map[string]any{"foto": "https://cdn.example.com/b.jpg"}}, []customfield.Field{{Key: "foto", Type: customfield.ImageURL}})
	require.Equal(t, "https://cdn.example.com/b.jpg", r.Header.MediaURL)
}

func TestFillText(t *testing.T) {
	t.Parallel()
	c := contact.Contact{Name: "Joana D'Ávila", CustomerCode: ptr("CLI-042"), Custom: map[string]any{"saldo": 1234.5, "vencimento": "2026-12-05"}}
	defs := []customfield.Field{{Key: "saldo", Type: customfield.Number}, {Key: "vencimento", Type: customfield.Date}}
	extra := map[string]string{"{{protocolo}}": "20261203000007", "{agente}": "Carlos"}
	for _, tc := range []struct{ in, want string }{
		{"Olá {primeiro_nome}!", "Olá Joana!"},
		{"{nome}, seu código é @ChaveCliente ({{contactcustomcode}})", "Joana D'Ávila, seu código é CLI-042 (CLI-042)"},
		{"Saldo de R$ {saldo} vence em {vencimento}.", "Saldo de R$ 1.234,5 vence em 05/12/2026."},
		{"Protocolo {{protocolo}}, atendente {agente}", "Protocolo 20261203000007, atendente Carlos"},
		{"{desconhecido} e {{outro}} ficam", "{desconhecido} e {{outro}} ficam"},
		{"sem variáveis", "sem variáveis"},
		{"{email} vazio", " vazio"},
	} {
		require.Equal(t, tc.want, FillText(tc.in, c, defs, extra), tc.in)
	}
}
