package segment

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/tag"
)

// Rules select a segment's members beyond its static ones: a contact matches when it carries
// any of TagsAny (if given), all of TagsAll (if given), came in by one of Origins (if given)
// and first wrote on one of Channels (if given), and satisfies every Custom condition.
type Rules struct {
	TagsAny []string `json:"tags_any,omitempty"`
	TagsAll []string `json:"tags_all,omitempty"`
	// Origins are contact origins (see contact.Origins).
	Origins []string `json:"origins,omitempty"`
	// Channels are channel ids: the contact's origin channel, the one it first wrote on.
	Channels []uuid.UUID `json:"channels,omitempty"`
	Custom   []Condition `json:"custom,omitempty"`
}

// Condition compares a contact's custom field value with a constant.
type Condition struct {
	Key   string `json:"key"`
	Op    string `json:"op"`
	Value any    `json:"value"`
}

// Empty reports whether the rules select nobody by themselves.
func (r Rules) Empty() bool {
	return len(r.TagsAny) == 0 && len(r.TagsAll) == 0 && len(r.Origins) == 0 && len(r.Channels) == 0 && len(r.Custom) == 0
}

var jsonpathOps = map[string]string{"eq": "==", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

// orderedTypes may be compared with gt, gte, lt and lte; the others only with eq and neq.
var orderedTypes = []customfield.Type{customfield.Number, customfield.Date}

// MaxConditions bounds the custom conditions of a segment.
const MaxConditions = 20

// compile checks the rules against the account's custom fields and turns the custom
// conditions into one SQL/JSON path predicate over contacts.custom (for the @@ operator, which
// the GIN index on custom serves for equalities). Keys are checked against the definitions
// and values are written as JSON literals, so nothing a caller writes becomes path syntax.
func compile(r Rules, defs []customfield.Field) (Rules, string, []fault.FieldError) {
	var errs []fault.FieldError
	clean := func(field string, names []string) []string {
		out := []string{}
		for i, n := range names {
			c, ok := tag.CleanName(n)
			if !ok {
				errs = append(errs, fault.FieldError{Field: fmt.Sprintf("rules.%s[%d]", field, i), Message: "not a tag name", Value: n})
				continue
			}
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		return out
	}
	r.TagsAny, r.TagsAll = clean("tags_any", r.TagsAny), clean("tags_all", r.TagsAll)
	origins := []string{}
	for i, o := range r.Origins {
		switch {
		case !slices.Contains(contact.Origins, contact.Origin(o)):
			errs = append(errs, fault.FieldError{Field: fmt.Sprintf("rules.origins[%d]", i), Message: "must be manual, api, import or inbound", Value: o})
		case !slices.Contains(origins, o):
			origins = append(origins, o)
		}
	}
	r.Origins = origins
	channels := []uuid.UUID{}
	for _, id := range r.Channels {
		if !slices.Contains(channels, id) {
			channels = append(channels, id)
		}
	}
	r.Channels = channels
	if len(r.Custom) > MaxConditions {
		errs = append(errs, fault.FieldError{Field: "rules.custom", Message: fmt.Sprintf("at most %d conditions", MaxConditions)})
		return r, "", errs
	}
	var parts []string
	for i, c := range r.Custom {
		field := fmt.Sprintf("rules.custom[%d]", i)
		d := slices.IndexFunc(defs, func(f customfield.Field) bool { return f.Key == c.Key })
		op, okOp := jsonpathOps[c.Op]
		switch {
		case d < 0:
			errs = append(errs, fault.FieldError{Field: field + ".key", Message: "no custom field has this key", Value: c.Key})
			continue
		case !okOp:
			errs = append(errs, fault.FieldError{Field: field + ".op", Message: "must be eq, neq, gt, gte, lt or lte", Value: c.Op})
			continue
		case c.Op != "eq" && c.Op != "neq" && !slices.Contains(orderedTypes, defs[d].Type):
			errs = append(errs, fault.FieldError{Field: field + ".op", Message: fmt.Sprintf("a %s field is compared with eq or neq", defs[d].Type), Value: c.Op})
			continue
		}
		values, bad := customfield.CheckValues(defs, map[string]any{c.Key: c.Value}, field)
		if len(bad) > 0 {
			for _, b := range bad {
				errs = append(errs, fault.FieldError{Field: field + ".value", Message: b.Message, Value: c.Value})
			}
			continue
		}
		r.Custom[i].Value = values[c.Key]
		lit, err := literal(values[c.Key])
		if err != nil {
			errs = append(errs, fault.FieldError{Field: field + ".value", Message: err.Error(), Value: c.Value})
			continue
		}
		parts = append(parts, fmt.Sprintf(`$."%s" %s %s`, c.Key, op, lit))
	}
	return r, strings.Join(parts, " && "), errs
}

// literal writes a checked value as a JSON (and SQL/JSON path) literal.
func literal(v any) (string, error) {
	switch x := v.(type) {
	case string:
		b, err := json.Marshal(x)
		return string(b), err
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("unsupported value %v", v)
}

// Compiled is a set of rules checked and compiled for SQL: the cleaned rules (to store and
// read back), the tag sets, and the custom conditions as one SQL/JSON path ("" when none).
type Compiled struct {
	Rules     Rules
	MatchPath string
}

// CompileFilter checks rules used as a filter elsewhere (a campaign's audience inside its
// segment) exactly as a segment's rules are checked, so that one rule language selects
// contacts everywhere. Field errors are named under prefix (e.g. "body.filters"). Tags need
// not exist: a filter on a tag nobody carries selects nobody.
func CompileFilter(ctx context.Context, db store.DBTX, accountID uuid.UUID, r Rules, prefix string) (Compiled, []fault.FieldError, error) {
	var defs []customfield.Field
	if len(r.Custom) > 0 {
		var err error
		if defs, err = customfield.Load(ctx, db, accountID); err != nil {
			return Compiled{}, nil, err
		}
	}
	rules, path, errs := compile(r, defs)
	for i := range errs {
		errs[i].Field = prefix + strings.TrimPrefix(errs[i].Field, "rules")
	}
	if len(rules.Channels) > 0 {
		found, err := store.New().ExistingChannelIDs(ctx, db, store.ExistingChannelIDsParams{AccountID: accountID, Ids: rules.Channels})
		if err != nil {
			return Compiled{}, nil, fmt.Errorf("check channels of filters: %w", err)
		}
		for i, id := range rules.Channels {
			if !slices.Contains(found, id) {
				errs = append(errs, fault.FieldError{Field: fmt.Sprintf("%s.channels[%d]", prefix, i), Message: "no channel of the account has this id", Value: id.String()})
			}
		}
	}
	return Compiled{Rules: rules, MatchPath: path}, errs, nil
}
