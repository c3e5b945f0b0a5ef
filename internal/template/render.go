package template

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/provider"
)

// System sources: the contact fields a binding may name besides custom fields (DESIGN §4
// Contacts: "{nome}, {{contactcustomcode}}, @ChaveCliente and custom field names resolve from
// the contact").
var systemSources = map[string]func(c contact.Contact) string{
	"{nome}": func(c contact.Contact) string { return c.Name },
	"{primeiro_nome}": func(c contact.Contact) string {
		first, _, _ := strings.Cut(strings.TrimSpace(c.Name), " ")
		return first
	},
	"{{contactcustomcode}}": func(c contact.Contact) string {
		return deref(c.CustomerCode)
	},
	"@ChaveCliente":    func(c contact.Contact) string { return deref(c.CustomerCode) },
	"{codigo_cliente}": func(c contact.Contact) string { return deref(c.CustomerCode) },
	"{cpf}":            func(c contact.Contact) string { return formatDocument(c) },
	"{cnpj}":           func(c contact.Contact) string { return formatDocument(c) },
	"{email}":          func(c contact.Contact) string { return deref(c.Email) },
	"{rg}":             func(c contact.Contact) string { return deref(c.RG) },
	"{telefone}": func(c contact.Contact) string {
		if len(c.Phones) == 0 {
			return ""
		}
		return c.Phones[0].Number
	},
	"{data_nascimento}": func(c contact.Contact) string {
		if c.BirthDate == nil {
			return ""
		}
		return c.BirthDate.Format("02/01/2006")
	},
}

// SystemSources lists the contact fields a binding may name, besides "{key}" of a custom field.
func SystemSources() []string {
	out := make([]string, 0, len(systemSources))
	for k := range systemSources {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ValidSource reports whether a binding's source names a system field or one of defs.
func ValidSource(source string, defs []customfield.Field) bool {
	if _, ok := systemSources[source]; ok {
		return true
	}
	key, ok := customKey(source)
	return ok && slices.ContainsFunc(defs, func(d customfield.Field) bool { return d.Key == key })
}

func customKey(source string) (string, bool) {
	if !strings.HasPrefix(source, "{") || !strings.HasSuffix(source, "}") || strings.HasPrefix(source, "{{") {
		return "", false
	}
	return source[1 : len(source)-1], len(source) > 2
}

// Rendered is a template filled for one contact: what the contact will read, the values by
// variable location, what the provider needs to send it, and which variables had no value.
type Rendered struct {
	Header  *RenderedHeader
	Body    string
	Footer  string
	Buttons []RenderedButton
	// Values are the resolved values by variable location.
	Values map[string]string
	// Unresolved lists, in template order, the variable locations without a value; their
	// placeholders stay in the texts. A template with unresolved variables must not be sent.
	Unresolved []string
	// Send is the provider-neutral template message (name, language, parameters).
	Send provider.Template
}

// RenderedHeader is a header as shown.
type RenderedHeader struct {
	Format   string
	Text     string
	MediaURL string
}

// RenderedButton is a button as shown; URL has its variable filled, Code is a copy-code value.
type RenderedButton struct {
	Type        string
	Text        string
	URL         string
	PhoneNumber string
	Code        string
}

// Render fills t for contact c: each variable takes its bound value (the contact's field,
// formatted for people: dates as dd/mm/yyyy, numbers and booleans in the template's language;
// or the fixed text), else the binding's fallback, else, for a media header, its example link.
// defs are the account's custom field definitions (their types decide the formatting). It is
// pure: the same inputs give the same output, and it is the one rendering previews and sends
// share.
func Render(t Template, c contact.Contact, defs []customfield.Field) Rendered {
	r := Rendered{Values: map[string]string{}, Send: provider.Template{Name: t.Name, Language: t.Language}}
	value := func(loc string) (string, bool) {
		b, ok := t.Bindings[loc]
		if !ok {
			return "", false
		}
		v := b.Text
		if b.Source != "" {
			v = resolve(b.Source, c, defs, t.Language)
		}
		if strings.TrimSpace(v) == "" {
			v = b.Fallback
		}
		if strings.TrimSpace(v) == "" {
			return "", false
		}
		r.Values[loc] = v
		return v, true
	}
	named := t.ParameterFormat == "named"
	fill := func(part, text string) (string, []provider.Param) {
		vars, _ := variables("", text)
		var params []provider.Param
		vals := map[string]string{}
		for _, name := range vars {
			loc := part + ":" + name
			v, ok := value(loc)
			if !ok {
				r.Unresolved = append(r.Unresolved, loc)
				continue
			}
			vals[name] = v
			if named {
				params = append(params, provider.Param{Name: name, Value: v})
			}
		}
		if !named {
			// Positional values go in placeholder order ({{1}}, {{2}}...), whatever the text's.
			for i := 1; i <= len(vars); i++ {
				if v, ok := vals[strconv.Itoa(i)]; ok {
					params = append(params, provider.Param{Value: v})
				}
			}
		}
		out := placeholder.ReplaceAllStringFunc(text, func(m string) string {
			if v, ok := vals[m[2:len(m)-2]]; ok {
				return v
			}
			return m
		})
		return out, params
	}
	if h := t.Components.Header; h != nil {
		rh := &RenderedHeader{Format: h.Format}
		if h.Format == HeaderText {
			rh.Text, r.Send.HeaderParams = fill("header", h.Text)
		} else {
			rh.MediaURL = h.ExampleURL
			if v, ok := value(MediaLocation); ok {
				rh.MediaURL = v
			}
			r.Send.HeaderMedia = &provider.Media{Kind: provider.MediaKind(h.Format), URL: rh.MediaURL}
		}
		r.Header = rh
	}
	r.Body, r.Send.BodyParams = fill("body", t.Components.Body.Text)
	if f := t.Components.Footer; f != nil {
		r.Footer = f.Text
	}
	for i, b := range t.Components.Buttons {
		rb := RenderedButton{Type: b.Type, Text: b.Text, URL: b.URL, PhoneNumber: b.PhoneNumber}
		loc := fmt.Sprintf("button:%d", i)
		switch {
		case b.Type == URLButton && strings.HasSuffix(b.URL, "{{1}}"):
			if v, ok := value(loc); ok {
				rb.URL = strings.TrimSuffix(b.URL, "{{1}}") + v
				if r.Send.ButtonParams == nil {
					r.Send.ButtonParams = map[int]string{}
				}
				r.Send.ButtonParams[i] = v
			} else {
				r.Unresolved = append(r.Unresolved, loc)
			}
		case b.Type == CopyCode:
			if v, ok := value(loc); ok {
				rb.Code = v
			} else {
				r.Unresolved = append(r.Unresolved, loc)
			}
		}
		r.Buttons = append(r.Buttons, rb)
	}
	return r
}

// resolve reads source from c, formatted for lang; "" when the contact has no value.
func resolve(source string, c contact.Contact, defs []customfield.Field, lang string) string {
	if f, ok := systemSources[source]; ok {
		return f(c)
	}
	key, ok := customKey(source)
	if !ok {
		return ""
	}
	v, ok := c.Custom[key]
	if !ok || v == nil {
		return ""
	}
	typ := customfield.Text
	if i := slices.IndexFunc(defs, func(d customfield.Field) bool { return d.Key == key }); i >= 0 {
		typ = defs[i].Type
	}
	switch x := v.(type) {
	case float64:
		return formatNumber(x, lang)
	case bool:
		return formatBool(x, lang)
	case string:
		if typ == customfield.Date {
			if d, err := time.Parse(time.DateOnly, x); err == nil {
				return d.Format("02/01/2006")
			}
		}
		return x
	default:
		return fmt.Sprint(x)
	}
}

// formatNumber writes n with the language's decimal and thousands separators (Portuguese and
// Spanish: 1.234,5; others 1,234.5), without trailing zeros.
func formatNumber(n float64, lang string) string {
	s := strconv.FormatFloat(math.Abs(n), 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	dec, sep := ".", ","
	if commaDecimal(lang) {
		dec, sep = ",", "."
	}
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(d)
	}
	if frac != "" {
		b.WriteString(dec + frac)
	}
	return b.String()
}

func commaDecimal(lang string) bool {
	return strings.HasPrefix(lang, "pt") || strings.HasPrefix(lang, "es")
}

func formatBool(v bool, lang string) string {
	switch {
	case strings.HasPrefix(lang, "pt"):
		return map[bool]string{true: "Sim", false: "Não"}[v]
	case strings.HasPrefix(lang, "es"):
		return map[bool]string{true: "Sí", false: "No"}[v]
	}
	return map[bool]string{true: "Yes", false: "No"}[v]
}

// formatDocument writes a CPF as 000.000.000-00 and a CNPJ as 00.000.000/0000-00.
func formatDocument(c contact.Contact) string {
	d := deref(c.Document)
	switch {
	case len(d) == 11:
		return d[:3] + "." + d[3:6] + "." + d[6:9] + "-" + d[9:]
	case len(d) == 14:
		return d[:2] + "." + d[2:5] + "." + d[5:8] + "/" + d[8:12] + "-" + d[12:]
	}
	return d
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// textVariable finds the variables of a free text: {{name}}, {name} and @ChaveCliente.
var textVariable = regexp.MustCompile(`\{\{[a-zA-Z0-9_]+\}\}|\{[a-zA-Z0-9_]+\}|@ChaveCliente`)

// FillText fills the variables of a free text (a quick reply, a closing message) for contact
// c: extra first (say {{protocolo}} or {agente}, which the contact does not hold), then the
// contact's fields and custom fields as template bindings name them, formatted for Brazilian
// Portuguese. A variable nobody knows stays as written, so a typo shows instead of vanishing.
func FillText(text string, c contact.Contact, defs []customfield.Field, extra map[string]string) string {
	return textVariable.ReplaceAllStringFunc(text, func(v string) string {
		if x, ok := extra[v]; ok {
			return x
		}
		if ValidSource(v, defs) {
			return resolve(v, c, defs, "pt_BR")
		}
		return v
	})
}
