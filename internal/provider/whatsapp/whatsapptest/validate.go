package whatsapptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The send wire format the fake accepts (reference §1.1–§1.4). Decoding is strict: an unknown
// field is refused with code 100, which catches typos in the adapter's JSON.
type (
	sendRequest struct {
		MessagingProduct      string       `json:"messaging_product"`
		RecipientType         string       `json:"recipient_type"`
		To                    string       `json:"to"`
		Recipient             string       `json:"recipient"`
		Type                  string       `json:"type"`
		Context               *sendContext `json:"context"`
		BizOpaqueCallbackData string       `json:"biz_opaque_callback_data"`
		Status                string       `json:"status"`
		MessageID             string       `json:"message_id"`
		TypingIndicator       *struct {
			Type string `json:"type"`
		} `json:"typing_indicator"`
		Text *struct {
			Body       string `json:"body"`
			PreviewURL *bool  `json:"preview_url"`
		} `json:"text"`
		Image    *mediaObject `json:"image"`
		Audio    *mediaObject `json:"audio"`
		Video    *mediaObject `json:"video"`
		Document *mediaObject `json:"document"`
		Sticker  *mediaObject `json:"sticker"`
		Reaction *struct {
			MessageID string  `json:"message_id"`
			Emoji     *string `json:"emoji"`
		} `json:"reaction"`
		Contacts []contactObject `json:"contacts"`
		Location *struct {
			Latitude  *float64 `json:"latitude"`
			Longitude *float64 `json:"longitude"`
			Name      string   `json:"name"`
			Address   string   `json:"address"`
		} `json:"location"`
		Interactive json.RawMessage `json:"interactive"`
		Template    *sendTemplate   `json:"template"`
	}
	sendContext struct {
		MessageID string `json:"message_id"`
	}
	mediaObject struct {
		ID       string `json:"id"`
		Link     string `json:"link"`
		Caption  string `json:"caption"`
		Filename string `json:"filename"`
		Voice    *bool  `json:"voice"`
	}
	contactObject struct {
		Name *struct {
			FormattedName string `json:"formatted_name"`
			FirstName     string `json:"first_name"`
			LastName      string `json:"last_name"`
			MiddleName    string `json:"middle_name"`
			Suffix        string `json:"suffix"`
			Prefix        string `json:"prefix"`
		} `json:"name"`
		Phones []struct {
			Phone string `json:"phone"`
			Type  string `json:"type"`
			WaID  string `json:"wa_id"`
		} `json:"phones"`
		Emails []struct {
			Email string `json:"email"`
			Type  string `json:"type"`
		} `json:"emails"`
		Addresses json.RawMessage `json:"addresses"`
		Org       json.RawMessage `json:"org"`
		URLs      json.RawMessage `json:"urls"`
		Birthday  string          `json:"birthday"`
	}
	sendTemplate struct {
		Name     string `json:"name"`
		Language *struct {
			Code   string `json:"code"`
			Policy string `json:"policy"`
		} `json:"language"`
		Components []sendComponent `json:"components"`
	}
	sendComponent struct {
		Type       string          `json:"type"`
		SubType    string          `json:"sub_type"`
		Index      json.RawMessage `json:"index"`
		Parameters []sendParam     `json:"parameters"`
	}
	sendParam struct {
		Type          string          `json:"type"`
		ParameterName string          `json:"parameter_name"`
		Text          *string         `json:"text"`
		Payload       string          `json:"payload"`
		CouponCode    string          `json:"coupon_code"`
		Currency      json.RawMessage `json:"currency"`
		DateTime      json.RawMessage `json:"date_time"`
		Image         *mediaObject    `json:"image"`
		Video         *mediaObject    `json:"video"`
		Document      *mediaObject    `json:"document"`
		Location      json.RawMessage `json:"location"`
	}
)

// decodeStrict decodes body into v refusing unknown fields and trailing data, as code 100.
func decodeStrict(body []byte, v any) *APIError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &APIError{Code: 100, Details: "request body is not valid: " + err.Error()}
	}
	if dec.More() {
		return &APIError{Code: 100, Details: "request body has data after the JSON object"}
	}
	return nil
}

func missing(param string) *APIError {
	return &APIError{Code: 131008, Details: fmt.Sprintf("The parameter %s is required.", param)}
}

func notValid(format string, args ...any) *APIError {
	return &APIError{Code: 131009, Details: fmt.Sprintf(format, args...)}
}

func (r *sendRequest) validateRead() *APIError {
	if r.MessagingProduct != "whatsapp" {
		return &APIError{Code: 100, Details: "The parameter messaging_product is required."}
	}
	if r.Status != "read" {
		return notValid("status must be read, not %q", r.Status)
	}
	if r.MessageID == "" {
		return missing("message_id")
	}
	return nil
}

// mediaTypes and which optional fields each takes (reference §1.3).
var mediaTypes = map[string]struct{ caption, filename, voice bool }{
	"image": {caption: true}, "video": {caption: true}, "document": {caption: true, filename: true},
	"audio": {voice: true}, "sticker": {},
}

func (r *sendRequest) validate() *APIError {
	if r.MessagingProduct == "" {
		return &APIError{Code: 100, Details: "The parameter messaging_product is required."}
	}
	if r.MessagingProduct != "whatsapp" {
		return &APIError{Code: 100, Details: "Param messaging_product must be whatsapp"}
	}
	if r.RecipientType != "" && r.RecipientType != "individual" && r.RecipientType != "group" {
		return notValid("recipient_type must be individual or group, not %q", r.RecipientType)
	}
	switch {
	case r.To != "":
		d := digits(r.To)
		if strings.Trim(r.To, "+-() 0123456789") != "" || len(d) < 7 || len(d) > 15 {
			return notValid("to %q is not a valid phone number", r.To)
		}
	case r.Recipient != "":
		if !bsuidPattern.MatchString(r.Recipient) {
			return notValid("recipient %q is not a business-scoped user id", r.Recipient)
		}
	default:
		return missing("to")
	}
	if r.Context != nil && r.Context.MessageID == "" {
		return missing("context.message_id")
	}
	objects := map[string]bool{
		"text": r.Text != nil, "image": r.Image != nil, "audio": r.Audio != nil, "video": r.Video != nil,
		"document": r.Document != nil, "sticker": r.Sticker != nil, "reaction": r.Reaction != nil,
		"contacts": r.Contacts != nil, "location": r.Location != nil, "interactive": r.Interactive != nil,
		"template": r.Template != nil,
	}
	if r.Type == "" {
		r.Type = "text"
	}
	if _, known := objects[r.Type]; !known {
		return &APIError{Code: 131051, Details: fmt.Sprintf("message type %q is not supported", r.Type)}
	}
	for typ, present := range objects {
		if present && typ != r.Type {
			return &APIError{Code: 100, Details: fmt.Sprintf("Param %s is not valid for a message of type %s", typ, r.Type)}
		}
	}
	if !objects[r.Type] {
		return missing(r.Type)
	}
	switch r.Type {
	case "text":
		if r.Text.Body == "" {
			return missing("text.body")
		}
		if n := utf8.RuneCountInString(r.Text.Body); n > 4096 {
			return notValid("text.body is %d characters; the maximum is 4096", n)
		}
	case "image", "audio", "video", "document", "sticker":
		obj := map[string]*mediaObject{"image": r.Image, "audio": r.Audio, "video": r.Video, "document": r.Document, "sticker": r.Sticker}[r.Type]
		return validateMedia(r.Type, r.Type, obj, true)
	case "reaction":
		if r.Reaction.MessageID == "" {
			return missing("reaction.message_id")
		}
		if r.Reaction.Emoji == nil {
			return missing("reaction.emoji")
		}
	case "contacts":
		if len(r.Contacts) == 0 || len(r.Contacts) > 257 {
			return notValid("contacts must hold 1 to 257 contacts, not %d", len(r.Contacts))
		}
		for i, c := range r.Contacts {
			if c.Name == nil || c.Name.FormattedName == "" {
				return missing(fmt.Sprintf("contacts[%d].name.formatted_name", i))
			}
			if c.Name.FirstName+c.Name.LastName+c.Name.MiddleName+c.Name.Suffix+c.Name.Prefix == "" {
				return missing(fmt.Sprintf("contacts[%d].name.first_name (or last_name, middle_name, suffix, prefix)", i))
			}
			for j, p := range c.Phones {
				if p.Phone == "" {
					return missing(fmt.Sprintf("contacts[%d].phones[%d].phone", i, j))
				}
			}
			for j, e := range c.Emails {
				if e.Email == "" {
					return missing(fmt.Sprintf("contacts[%d].emails[%d].email", i, j))
				}
			}
		}
	case "location":
		if r.Location.Latitude == nil || r.Location.Longitude == nil {
			return missing("location.latitude and location.longitude")
		}
	case "template":
		return r.Template.validate()
	}
	return nil
}

func validateMedia(path, kind string, m *mediaObject, optionals bool) *APIError {
	if (m.ID == "") == (m.Link == "") {
		return notValid("%s must have exactly one of id and link", path)
	}
	if m.Link != "" {
		u, err := url.Parse(m.Link)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return notValid("%s.link %q is not an http(s) URL", path, m.Link)
		}
	}
	allowed := mediaTypes[kind]
	if m.Caption != "" && (!optionals || !allowed.caption) {
		return &APIError{Code: 100, Details: fmt.Sprintf("Param %s.caption is not valid for %s", path, kind)}
	}
	if n := utf8.RuneCountInString(m.Caption); n > 1024 {
		return notValid("%s.caption is %d characters; the maximum is 1024", path, n)
	}
	if m.Filename != "" && !allowed.filename {
		return &APIError{Code: 100, Details: fmt.Sprintf("Param %s.filename is not valid for %s", path, kind)}
	}
	if m.Voice != nil && !allowed.voice {
		return &APIError{Code: 100, Details: fmt.Sprintf("Param %s.voice is not valid for %s", path, kind)}
	}
	return nil
}

var buttonSubTypes = map[string]bool{
	"quick_reply": true, "url": true, "copy_code": true, "flow": true, "catalog": true, "mpm": true,
	"voice_call": true, "order_details": true,
}

func (t *sendTemplate) validate() *APIError {
	if t.Name == "" {
		return missing("template.name")
	}
	if t.Language == nil || t.Language.Code == "" {
		return missing("template.language.code")
	}
	for i, c := range t.Components {
		path := fmt.Sprintf("template.components[%d]", i)
		switch c.Type {
		case "header", "body":
			if c.SubType != "" || c.Index != nil {
				return &APIError{Code: 100, Details: path + ": sub_type and index are only for buttons"}
			}
			if c.Type == "header" && len(c.Parameters) > 1 {
				return &APIError{Code: 132012, Details: path + ": a header takes one parameter"}
			}
			named := 0
			for j, p := range c.Parameters {
				if e := validateParam(fmt.Sprintf("%s.parameters[%d]", path, j), c.Type, p); e != nil {
					return e
				}
				if p.ParameterName != "" {
					named++
				}
			}
			if named != 0 && named != len(c.Parameters) {
				return &APIError{Code: 132012, Details: path + ": parameters must be all named or all positional"}
			}
		case "button":
			if !buttonSubTypes[c.SubType] {
				return notValid("%s.sub_type %q is not a button sub-type", path, c.SubType)
			}
			if c.Index == nil {
				return missing(path + ".index")
			}
			idx := strings.Trim(string(c.Index), `"`)
			if n, err := strconv.Atoi(idx); err != nil || n < 0 || n > 9 {
				return notValid("%s.index %s is not a number from 0 to 9", path, string(c.Index))
			}
			for j, p := range c.Parameters {
				pp := fmt.Sprintf("%s.parameters[%d]", path, j)
				switch {
				case c.SubType == "url" && p.Type == "text" && p.Text != nil && *p.Text != "":
					if strings.ContainsAny(*p.Text, " \n\t\"<>") {
						return &APIError{Code: 132018, Details: pp + ": URL button parameter must be percent-encoded"}
					}
				case c.SubType == "quick_reply" && p.Type == "payload" && p.Payload != "":
				case c.SubType == "copy_code" && p.Type == "coupon_code" && p.CouponCode != "":
				case c.SubType != "url" && c.SubType != "quick_reply" && c.SubType != "copy_code":
				default:
					return &APIError{Code: 132012, Details: fmt.Sprintf("%s: type %q does not fit a %s button", pp, p.Type, c.SubType)}
				}
			}
		default:
			return notValid("%s.type %q is not header, body or button", path, c.Type)
		}
	}
	return nil
}

// validateParam checks one header or body parameter (reference §1.4; the whitespace rule is
// marked uncertain there).
func validateParam(path, component string, p sendParam) *APIError {
	switch p.Type {
	case "text":
		if p.Text == nil || *p.Text == "" {
			return &APIError{Code: 132018, Details: path + ": text parameter is empty"}
		}
		if strings.ContainsAny(*p.Text, "\n\t") || strings.Contains(*p.Text, "    ") {
			return &APIError{Code: 132018, Details: path + ": Param text cannot have new-line/tab characters or more than 4 consecutive spaces"}
		}
		if p.ParameterName != "" && !paramNamePattern.MatchString(p.ParameterName) {
			return notValid("%s.parameter_name %q must be lower-case letters, digits and _", path, p.ParameterName)
		}
	case "currency", "date_time":
		if component != "body" {
			return &APIError{Code: 132012, Details: fmt.Sprintf("%s: %s parameters go in the body", path, p.Type)}
		}
		if (p.Type == "currency" && p.Currency == nil) || (p.Type == "date_time" && p.DateTime == nil) {
			return missing(path + "." + p.Type)
		}
	case "image", "video", "document":
		if component != "header" {
			return &APIError{Code: 132012, Details: fmt.Sprintf("%s: %s parameters go in the header", path, p.Type)}
		}
		obj := map[string]*mediaObject{"image": p.Image, "video": p.Video, "document": p.Document}[p.Type]
		if obj == nil {
			return missing(path + "." + p.Type)
		}
		return validateMedia(path+"."+p.Type, p.Type, obj, false)
	case "location":
		if component != "header" || p.Location == nil {
			return &APIError{Code: 132012, Details: path + ": location parameters go in the header with a location object"}
		}
	default:
		return notValid("%s.type %q is not a template parameter type", path, p.Type)
	}
	return nil
}

// The template management wire format the fake accepts (reference §6), decoded strictly.
type (
	templateSubmission struct {
		Name                  string          `json:"name"`
		Language              string          `json:"language"`
		Category              string          `json:"category"`
		ParameterFormat       string          `json:"parameter_format"`
		AllowCategoryChange   *bool           `json:"allow_category_change"`
		MessageSendTTLSeconds *int            `json:"message_send_ttl_seconds"`
		SubCategory           string          `json:"sub_category"`
		Components            []specComponent `json:"components"`
	}
	specComponent struct {
		Type                      string       `json:"type"`
		Format                    string       `json:"format"`
		Text                      string       `json:"text"`
		Example                   *specExample `json:"example"`
		Buttons                   []specButton `json:"buttons"`
		AddSecurityRecommendation *bool        `json:"add_security_recommendation"`
		CodeExpirationMinutes     *int         `json:"code_expiration_minutes"`
	}
	specExample struct {
		HeaderText            []string     `json:"header_text"`
		HeaderTextNamedParams []namedParam `json:"header_text_named_params"`
		HeaderHandle          []string     `json:"header_handle"`
		BodyText              [][]string   `json:"body_text"`
		BodyTextNamedParams   []namedParam `json:"body_text_named_params"`
	}
	namedParam struct {
		ParamName string `json:"param_name"`
		Example   string `json:"example"`
	}
	specButton struct {
		Type        string   `json:"type"`
		Text        string   `json:"text"`
		URL         string   `json:"url"`
		PhoneNumber string   `json:"phone_number"`
		Example     []string `json:"example"`
		OTPType     string   `json:"otp_type"`
	}
)

var (
	bsuidPattern        = regexp.MustCompile(`^[A-Z]{2}\.(ENT\.)?[0-9A-Za-z]+$`)
	paramNamePattern    = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	templateNamePattern = regexp.MustCompile(`^[a-z0-9_]+$`)
	variablePattern     = regexp.MustCompile(`\{\{\s*([a-z0-9_]+)\s*\}\}`)
)

func invalidTemplate(format string, args ...any) *APIError {
	return &APIError{Code: 100, Title: "Invalid parameter", Details: fmt.Sprintf(format, args...)}
}

// templateVars lists the distinct variables of text in order of first appearance.
func templateVars(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range variablePattern.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// checkVars checks a text's variables against the format and its examples.
func checkVars(where, format, text string, positional []string, named []namedParam) *APIError {
	vars := templateVars(text)
	if len(vars) == 0 {
		if len(positional) > 0 || len(named) > 0 {
			return invalidTemplate("%s has examples but no variables", where)
		}
		return nil
	}
	if format == "named" {
		if len(positional) > 0 {
			return invalidTemplate("%s: a named template takes *_named_params examples", where)
		}
		want := append([]string(nil), vars...)
		got := make([]string, 0, len(named))
		for _, n := range named {
			if n.Example == "" {
				return invalidTemplate("%s: example for %q is empty", where, n.ParamName)
			}
			got = append(got, n.ParamName)
		}
		sort.Strings(want)
		sort.Strings(got)
		if strings.Join(want, ",") != strings.Join(got, ",") {
			return invalidTemplate("%s: named examples %v do not match the variables %v", where, got, want)
		}
		for _, v := range vars {
			if !paramNamePattern.MatchString(v) {
				return invalidTemplate("%s: {{%s}} is not a valid named variable", where, v)
			}
		}
		return nil
	}
	if len(named) > 0 {
		return invalidTemplate("%s: a positional template takes header_text/body_text examples", where)
	}
	nums := make([]int, 0, len(vars))
	for _, v := range vars {
		n, err := strconv.Atoi(v)
		if err != nil {
			return invalidTemplate("%s: {{%s}} is named but parameter_format is positional", where, v)
		}
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for i, n := range nums {
		if n != i+1 {
			return invalidTemplate("%s: variables must be {{1}} to {{%d}} in sequence", where, len(nums))
		}
	}
	if len(positional) != len(vars) {
		return invalidTemplate("%s has %d variables but %d examples", where, len(vars), len(positional))
	}
	return nil
}

// validate checks a submission and returns its number of body variables.
func (t *templateSubmission) validate() (int, *APIError) {
	if !templateNamePattern.MatchString(t.Name) || len(t.Name) > 512 {
		return 0, invalidTemplate("name %q must be lower-case letters, digits and _ (at most 512)", t.Name)
	}
	if t.Language == "" {
		return 0, invalidTemplate("language is required")
	}
	switch t.Category {
	case "MARKETING", "UTILITY", "AUTHENTICATION":
	default:
		return 0, invalidTemplate("category %q must be MARKETING, UTILITY or AUTHENTICATION", t.Category)
	}
	format := t.ParameterFormat
	switch format {
	case "":
		format = "positional"
	case "positional", "named":
	default:
		return 0, invalidTemplate("parameter_format %q must be positional or named", t.ParameterFormat)
	}
	bodies, bodyParams := 0, 0
	for i, c := range t.Components {
		where := fmt.Sprintf("components[%d] (%s)", i, c.Type)
		ex := c.Example
		if ex == nil {
			ex = &specExample{}
		}
		switch c.Type {
		case "HEADER":
			switch c.Format {
			case "TEXT":
				if len(templateVars(c.Text)) > 1 {
					return 0, invalidTemplate("%s: a text header takes at most one variable", where)
				}
				if e := checkVars(where, format, c.Text, ex.HeaderText, ex.HeaderTextNamedParams); e != nil {
					return 0, e
				}
			case "IMAGE", "VIDEO", "DOCUMENT", "GIF":
				if len(ex.HeaderHandle) != 1 {
					return 0, invalidTemplate("%s: a %s header needs example.header_handle", where, c.Format)
				}
			case "LOCATION":
			default:
				return 0, invalidTemplate("%s: format %q is not TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION", where, c.Format)
			}
		case "BODY":
			bodies++
			if c.Text == "" || utf8.RuneCountInString(c.Text) > 1024 {
				return 0, invalidTemplate("%s: text is required, at most 1024 characters", where)
			}
			var positional []string
			if len(ex.BodyText) > 0 {
				positional = ex.BodyText[0]
			}
			if e := checkVars(where, format, c.Text, positional, ex.BodyTextNamedParams); e != nil {
				return 0, e
			}
			bodyParams = len(templateVars(c.Text))
		case "FOOTER":
			if c.Text == "" || utf8.RuneCountInString(c.Text) > 60 {
				return 0, invalidTemplate("%s: text is required, at most 60 characters", where)
			}
		case "BUTTONS":
			if len(c.Buttons) == 0 || len(c.Buttons) > 10 {
				return 0, invalidTemplate("%s: 1 to 10 buttons", where)
			}
			for j, b := range c.Buttons {
				bw := fmt.Sprintf("%s button %d", where, j)
				if b.Text == "" || utf8.RuneCountInString(b.Text) > 25 {
					return 0, invalidTemplate("%s: text is required, at most 25 characters", bw)
				}
				switch b.Type {
				case "QUICK_REPLY", "COPY_CODE", "OTP", "FLOW", "VOICE_CALL", "REQUEST_CONTACT_INFO":
				case "URL":
					if b.URL == "" {
						return 0, invalidTemplate("%s: url is required", bw)
					}
					if variablePattern.MatchString(b.URL) && len(b.Example) != 1 {
						return 0, invalidTemplate("%s: a URL with a variable needs one example", bw)
					}
				case "PHONE_NUMBER":
					if b.PhoneNumber == "" {
						return 0, invalidTemplate("%s: phone_number is required", bw)
					}
				default:
					return 0, invalidTemplate("%s: type %q is not a button type", bw, b.Type)
				}
			}
		default:
			return 0, invalidTemplate("%s: type must be HEADER, BODY, FOOTER or BUTTONS", where)
		}
	}
	if bodies != 1 {
		return 0, invalidTemplate("components must hold exactly one BODY, not %d", bodies)
	}
	return bodyParams, nil
}
