package contact

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/document"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/phone"
	"github.com/conversa-hq/conversa/internal/tag"
)

// Limits on a contact's fields.
const (
	MaxNameLength = 200
	MaxPhones     = 10
	MaxTags       = 50
	MaxCodeLength = 100
)

// valid is a contact's fields after validation and normalisation, ready to store.
type valid struct {
	name              string
	document          *string
	documentKind      *string
	customerCode      *string
	phones            []string
	email             *string
	birthDate         *time.Time
	rg                *string
	responsibleUserID *uuid.UUID
	defaultAgentID    *uuid.UUID
	companyID         *uuid.UUID
	tags              []string
	priority          string
	priorityScore     *int16
	broadcast         bool
	origin            Origin
	originChannelID   *uuid.UUID
	custom            map[string]any
}

// validate checks every field and reports all problems at once. defs are the account's
// custom field definitions (needed only when f has custom values).
func validate(f Fields, now time.Time, defs []customfield.Field) (valid, error) {
	var (
		v    valid
		errs []fault.FieldError
	)
	bad := func(field, msg string, value any) {
		errs = append(errs, fault.FieldError{Field: field, Message: msg, Value: value})
	}

	v.name = strings.TrimSpace(f.Name)
	switch {
	case v.name == "":
		bad("name", "is required", f.Name)
	case utf8.RuneCountInString(v.name) > MaxNameLength:
		bad("name", fmt.Sprintf("must have at most %d characters", MaxNameLength), f.Name)
	case hasControl(v.name):
		bad("name", "must not contain control characters", f.Name)
	}

	if s := trimmed(f.Document); s != nil {
		val, kind, err := document.Parse(*s)
		if err != nil {
			bad("document", err.Error(), *f.Document)
		} else {
			k := string(kind)
			v.document, v.documentKind = &val, &k
		}
	}

	if s := trimmed(f.CustomerCode); s != nil {
		switch {
		case len(*s) > MaxCodeLength:
			bad("customer_code", fmt.Sprintf("must have at most %d characters", MaxCodeLength), *f.CustomerCode)
		case hasControl(*s) || !utf8.ValidString(*s):
			bad("customer_code", "must not contain control characters", *f.CustomerCode)
		default:
			v.customerCode = s
		}
	}

	if len(f.Phones) > MaxPhones {
		bad("phones", fmt.Sprintf("at most %d phones", MaxPhones), len(f.Phones))
	} else {
		v.phones = make([]string, 0, len(f.Phones))
		for i, raw := range f.Phones {
			n, err := phone.Normalize(raw)
			if err != nil {
				bad(fmt.Sprintf("phones[%d]", i), err.Error(), raw)
				continue
			}
			if !slices.Contains(v.phones, n.E164) {
				v.phones = append(v.phones, n.E164)
			}
		}
	}

	if s := trimmed(f.Email); s != nil {
		e := strings.ToLower(*s)
		if addr, err := mail.ParseAddress(e); err != nil || addr.Address != e || len(e) > 254 {
			bad("email", "must be a plain e-mail address like name@example.com", *f.Email)
		} else {
			v.email = &e
		}
	}

	if f.BirthDate != nil {
		d := f.BirthDate.UTC().Truncate(24 * time.Hour)
		if d.After(now) || d.Year() < 1900 {
			bad("birth_date", "must be between 1900-01-01 and today", f.BirthDate.Format(time.DateOnly))
		} else {
			v.birthDate = &d
		}
	}

	if s := trimmed(f.RG); s != nil {
		if len(*s) > 20 || strings.IndexFunc(*s, func(r rune) bool {
			return !unicode.IsDigit(r) && !unicode.IsLetter(r) && !strings.ContainsRune(".-/ ", r)
		}) >= 0 {
			bad("rg", "must have at most 20 letters, digits and . - /", *f.RG)
		} else {
			v.rg = s
		}
	}
	v.responsibleUserID, v.defaultAgentID, v.companyID = f.ResponsibleUserID, f.DefaultAgentID, f.CompanyID

	v.tags = []string{}
	if len(f.Tags) > MaxTags {
		bad("tags", fmt.Sprintf("at most %d tags", MaxTags), len(f.Tags))
	} else {
		for i, raw := range f.Tags {
			t, ok := tag.CleanName(raw)
			if !ok {
				bad(fmt.Sprintf("tags[%d]", i), fmt.Sprintf("must have 1 to %d printable characters", tag.MaxNameLength), raw)
				continue
			}
			if !slices.ContainsFunc(v.tags, func(x string) bool { return strings.EqualFold(x, t) }) {
				v.tags = append(v.tags, t)
			}
		}
	}

	v.priority = f.Priority
	if v.priority == "" {
		v.priority = "medium"
	}
	if !slices.Contains([]string{"high", "medium", "low"}, v.priority) {
		bad("priority", "must be high, medium or low", f.Priority)
	}
	if f.PriorityScore != nil {
		if *f.PriorityScore < 1 || *f.PriorityScore > 100 {
			bad("priority_score", "must be between 1 and 100", *f.PriorityScore)
		} else {
			s := int16(*f.PriorityScore)
			v.priorityScore = &s
		}
	}
	v.broadcast = f.Broadcast == nil || *f.Broadcast
	v.origin, v.originChannelID = f.Origin, f.OriginChannelID
	if v.origin == "" {
		v.origin = OriginAPI
	}
	if !slices.Contains(Origins, v.origin) {
		bad("origin", "must be manual, api, import or inbound", string(f.Origin))
	}
	var customErrs []fault.FieldError
	v.custom, customErrs = customfield.CheckValues(defs, f.Custom, "custom_fields")
	errs = append(errs, customErrs...)

	if len(f.Phones) == 0 && trimmed(f.Email) == nil && trimmed(f.CustomerCode) == nil {
		bad("phones", "a contact needs at least one identifier: a phone, an e-mail or a customer code", nil)
	}
	if len(errs) > 0 {
		return valid{}, fault.Invalid("invalid contact", errs...)
	}
	return v, nil
}

func trimmed(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	if t == "" {
		return nil
	}
	return &t
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}
