package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/segment"
)

// SegmentRules select members beyond the static ones.
type SegmentRules struct {
	TagsAny  []string           `json:"tags_any,omitempty" maxItems:"50" doc:"Contacts carrying any of these tags."`
	TagsAll  []string           `json:"tags_all,omitempty" maxItems:"50" doc:"Contacts carrying all of these tags."`
	Origins  []string           `json:"origins,omitempty" maxItems:"4" doc:"Contacts that came in by any of these origins (see the contact's origin)." enum:"manual,api,import,inbound"`
	Channels []string           `json:"channels,omitempty" maxItems:"50" doc:"Contacts whose origin channel (the one they first wrote on) is any of these channel ids."`
	Custom   []SegmentCondition `json:"custom,omitempty" maxItems:"20" doc:"Conditions on custom field values, all of which must hold."`
}

// SegmentCondition compares a custom field value with a constant.
type SegmentCondition struct {
	Key   string `json:"key" maxLength:"40"`
	Op    string `json:"op" enum:"eq,neq,gt,gte,lt,lte" doc:"gt, gte, lt and lte for number and date fields only."`
	Value any    `json:"value" doc:"Of the field's type."`
}

// SegmentBody is a segment (carteira).
type SegmentBody struct {
	ID            string       `json:"id" format:"uuid"`
	Name          string       `json:"name"`
	Priority      int          `json:"priority" minimum:"1" maximum:"100"`
	SLAMinutes    *int         `json:"sla_minutes,omitempty"`
	Distribution  string       `json:"distribution" enum:"manual,automatic"`
	AutoTags      []string     `json:"auto_tags" doc:"Tags every member gets."`
	Rules         SegmentRules `json:"rules"`
	DepartmentIDs []string     `json:"department_ids" doc:"Departments that serve the segment."`
	UserIDs       []string     `json:"user_ids" doc:"Users that serve the segment."`
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
}

// SegmentInput creates or replaces a segment.
type SegmentInput struct {
	Name          string       `json:"name" minLength:"1" maxLength:"100"`
	Priority      int          `json:"priority,omitempty" minimum:"1" maximum:"100" doc:"Default 50."`
	SLAMinutes    *int         `json:"sla_minutes,omitempty" minimum:"1" maximum:"43200"`
	Distribution  string       `json:"distribution,omitempty" enum:"manual,automatic" doc:"Default manual."`
	AutoTags      []string     `json:"auto_tags,omitempty" maxItems:"20"`
	Rules         SegmentRules `json:"rules,omitzero"`
	DepartmentIDs []string     `json:"department_ids,omitempty" maxItems:"100"`
	UserIDs       []string     `json:"user_ids,omitempty" maxItems:"1000"`
}

// SegmentMemberBody is a member as listed.
type SegmentMemberBody struct {
	ID           string `json:"id" format:"uuid"`
	Name         string `json:"name"`
	CustomerCode string `json:"customer_code,omitempty"`
}

// SegmentRefBody names a segment a contact is in.
type SegmentRefBody struct {
	ID       string `json:"id" format:"uuid"`
	Name     string `json:"name"`
	Priority int    `json:"priority"`
}

// CountBody is a count.
type CountBody struct {
	Count int64 `json:"count"`
}

// SegmentIDParam is the {id} of a segment's path.
type SegmentIDParam struct {
	ID string `path:"id" format:"uuid"`
}

const segmentsTag = "Segments"

func (s *server) registerSegments(api huma.API) {
	write := func(ctx context.Context, id *uuid.UUID, in SegmentInput) (*struct{ Body SegmentBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		sin, err := toSegmentInput(in)
		if err != nil {
			return nil, err
		}
		var seg segment.Segment
		if id == nil {
			seg, err = s.Segments.Create(ctx, p.AccountID, sin)
		} else {
			seg, err = s.Segments.Update(ctx, p.AccountID, *id, sin)
		}
		if err != nil {
			return nil, err
		}
		return &struct{ Body SegmentBody }{Body: toSegmentBody(seg)}, nil
	}
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-segment", Method: http.MethodPost, Path: "/v1/segments", Tags: []string{segmentsTag},
		Summary: "Create a segment (carteira)", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
		Description: "Members are the static ones plus, when rules are given, every contact that satisfies them, evaluated in SQL.",
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct{ Body SegmentInput }) (*struct{ Body SegmentBody }, error) {
		return write(ctx, nil, in.Body)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "replace-segment", Method: http.MethodPut, Path: "/v1/segments/{id}", Tags: []string{segmentsTag},
		Summary: "Replace a segment's settings and rules (static members stay)", Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		SegmentIDParam
		Body SegmentInput
	}) (*struct{ Body SegmentBody }, error) {
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		return write(ctx, &id, in.Body)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-segments", Method: http.MethodGet, Path: "/v1/segments", Tags: []string{segmentsTag},
		Summary: "List segments",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct{ PageParams }) (*struct{ Body listBody[SegmentBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		segs, err := s.Segments.List(ctx, p.AccountID, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(segs, in.Limit, func(sg segment.Segment) uuid.UUID { return sg.ID }, toSegmentBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-segment", Method: http.MethodGet, Path: "/v1/segments/{id}", Tags: []string{segmentsTag},
		Summary: "Get a segment", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *SegmentIDParam) (*struct{ Body SegmentBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		seg, err := s.Segments.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body SegmentBody }{Body: toSegmentBody(seg)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-segment", Method: http.MethodDelete, Path: "/v1/segments/{id}", Tags: []string{segmentsTag},
		Summary: "Delete a segment (its contacts stay)", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *SegmentIDParam) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return nil, s.Segments.Delete(ctx, p.AccountID, id)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "count-segment", Method: http.MethodGet, Path: "/v1/segments/{id}/count", Tags: []string{segmentsTag},
		Summary: "Count a segment's members", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *SegmentIDParam) (*struct{ Body CountBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		n, err := s.Segments.Count(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body CountBody }{Body: CountBody{Count: n}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-segment-members", Method: http.MethodGet, Path: "/v1/segments/{id}/members", Tags: []string{segmentsTag},
		Summary: "List a segment's members", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		SegmentIDParam
		PageParams
	}) (*struct{ Body listBody[SegmentMemberBody] }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		ms, err := s.Segments.Members(ctx, p.AccountID, id, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(ms, in.Limit, func(m segment.Member) uuid.UUID { return m.ID }, func(m segment.Member) SegmentMemberBody {
			return SegmentMemberBody{ID: m.ID.String(), Name: m.Name, CustomerCode: deref(m.CustomerCode)}
		}), nil
	}))
	for _, b := range []struct {
		op, path, summary string
		add               bool
	}{
		{"add-segment-members", "/v1/segments/{id}/members", "Add static members (up to 10 000); they get the segment's automatic tags", true},
		{"remove-segment-members", "/v1/segments/{id}/members/remove", "Remove static members (contacts matching the rules stay members)", false},
	} {
		huma.Register(api, secure(huma.Operation{
			OperationID: b.op, Method: http.MethodPost, Path: b.path, Tags: []string{segmentsTag},
			Summary: b.summary, Errors: []int{http.StatusNotFound},
		}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
			SegmentIDParam
			Body TagContactsBody
		}) (*struct{ Body TagContactsResult }, error) {
			p, id, err := pathCaller(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			ids, err := parseUUIDs("body.contact_ids", in.Body.ContactIDs)
			if err != nil {
				return nil, err
			}
			var n int64
			if b.add {
				n, err = s.Segments.AddMembers(ctx, p.AccountID, id, ids)
			} else {
				n, err = s.Segments.RemoveMembers(ctx, p.AccountID, id, ids)
			}
			if err != nil {
				return nil, err
			}
			return &struct{ Body TagContactsResult }{Body: TagContactsResult{Changed: n}}, nil
		}))
	}
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-contact-segments", Method: http.MethodGet, Path: "/v1/contacts/{id}/segments", Tags: []string{contactsTag},
		Summary: "The segments a contact is in, highest priority first", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *ContactIDParam) (*struct{ Body listBody[SegmentRefBody] }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if _, err := s.Contacts.Get(ctx, p.AccountID, id); err != nil {
			return nil, err
		}
		refs, err := s.Segments.ContactSegments(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		items := make([]SegmentRefBody, len(refs))
		for i, r := range refs {
			items[i] = SegmentRefBody{ID: r.ID.String(), Name: r.Name, Priority: r.Priority}
		}
		return &struct{ Body listBody[SegmentRefBody] }{Body: listBody[SegmentRefBody]{Items: items}}, nil
	}))
}

func parseUUIDs(field string, raw []string) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, len(raw))
	for i, r := range raw {
		var err error
		if ids[i], err = uuid.Parse(r); err != nil {
			return nil, huma.NewError(http.StatusUnprocessableEntity, "invalid id", &huma.ErrorDetail{Location: field, Message: "must be UUIDs", Value: r})
		}
	}
	return ids, nil
}

func toSegmentInput(in SegmentInput) (segment.Input, error) {
	out := segment.Input{Name: in.Name, Priority: in.Priority, SLAMinutes: in.SLAMinutes, Distribution: in.Distribution, AutoTags: in.AutoTags}
	var err error
	if out.Rules, err = toRules(in.Rules, "body.rules"); err != nil {
		return out, err
	}
	if out.DepartmentIDs, err = parseUUIDs("body.department_ids", in.DepartmentIDs); err != nil {
		return out, err
	}
	out.UserIDs, err = parseUUIDs("body.user_ids", in.UserIDs)
	return out, err
}

func toSegmentBody(sg segment.Segment) SegmentBody {
	b := SegmentBody{ID: sg.ID.String(), Name: sg.Name, Priority: sg.Priority, SLAMinutes: sg.SLAMinutes, Distribution: sg.Distribution,
		AutoTags: sg.AutoTags, Rules: fromRules(sg.Rules),
		DepartmentIDs: make([]string, len(sg.DepartmentIDs)), UserIDs: make([]string, len(sg.UserIDs)), CreatedAt: sg.CreatedAt, UpdatedAt: sg.UpdatedAt}
	for i, d := range sg.DepartmentIDs {
		b.DepartmentIDs[i] = d.String()
	}
	for i, u := range sg.UserIDs {
		b.UserIDs[i] = u.String()
	}
	return b
}

// toRules reads rules from a body (a segment's rules, a campaign's filters); field names the
// body field for errors.
func toRules(in SegmentRules, field string) (segment.Rules, error) {
	out := segment.Rules{TagsAny: in.TagsAny, TagsAll: in.TagsAll, Origins: in.Origins}
	for _, c := range in.Custom {
		out.Custom = append(out.Custom, segment.Condition{Key: c.Key, Op: c.Op, Value: c.Value})
	}
	var err error
	out.Channels, err = parseUUIDs(field+".channels", in.Channels)
	return out, err
}

// fromRules writes rules as a body shows them.
func fromRules(r segment.Rules) SegmentRules {
	out := SegmentRules{TagsAny: r.TagsAny, TagsAll: r.TagsAll, Origins: r.Origins}
	for _, c := range r.Custom {
		out.Custom = append(out.Custom, SegmentCondition{Key: c.Key, Op: c.Op, Value: c.Value})
	}
	for _, ch := range r.Channels {
		out.Channels = append(out.Channels, ch.String())
	}
	return out
}
