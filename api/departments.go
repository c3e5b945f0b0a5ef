package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/department"
)

// DepartmentBody is a team of users.
type DepartmentBody struct {
	ID        string    `json:"id" format:"uuid"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MemberBody is a user of a department.
type MemberBody struct {
	UserID  string    `json:"user_id" format:"uuid"`
	Email   string    `json:"email"`
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	AddedAt time.Time `json:"added_at"`
}

// DepartmentIDParam is the {id} of a department's path.
type DepartmentIDParam struct {
	ID string `path:"id" format:"uuid"`
}

type departmentName struct {
	Name string `json:"name" minLength:"1" maxLength:"100"`
}

const teamsTag = "Departments"

func (s *server) registerDepartments(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-department", Method: http.MethodPost, Path: "/v1/departments", Tags: []string{teamsTag},
		Summary: "Create a department", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct{ Body departmentName }) (*struct{ Body DepartmentBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		d, err := s.Departments.Create(ctx, p.AccountID, in.Body.Name)
		if err != nil {
			return nil, err
		}
		return &struct{ Body DepartmentBody }{Body: toDepartmentBody(d)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-departments", Method: http.MethodGet, Path: "/v1/departments", Tags: []string{teamsTag},
		Summary: "List departments",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct{ PageParams }) (*struct{ Body listBody[DepartmentBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		ds, err := s.Departments.List(ctx, p.AccountID, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(ds, in.Limit, func(d department.Department) uuid.UUID { return d.ID }, toDepartmentBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-department", Method: http.MethodGet, Path: "/v1/departments/{id}", Tags: []string{teamsTag},
		Summary: "Get a department", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *DepartmentIDParam) (*struct{ Body DepartmentBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		d, err := s.Departments.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body DepartmentBody }{Body: toDepartmentBody(d)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "rename-department", Method: http.MethodPatch, Path: "/v1/departments/{id}", Tags: []string{teamsTag},
		Summary: "Rename a department", Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		DepartmentIDParam
		Body departmentName
	}) (*struct{ Body DepartmentBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		d, err := s.Departments.Rename(ctx, p.AccountID, id, in.Body.Name)
		if err != nil {
			return nil, err
		}
		return &struct{ Body DepartmentBody }{Body: toDepartmentBody(d)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-department", Method: http.MethodDelete, Path: "/v1/departments/{id}", Tags: []string{teamsTag},
		Summary: "Delete a department", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *DepartmentIDParam) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return nil, s.Departments.Delete(ctx, p.AccountID, id)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-department-members", Method: http.MethodGet, Path: "/v1/departments/{id}/members", Tags: []string{teamsTag},
		Summary: "A department's users", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *DepartmentIDParam) (*struct{ Body listBody[MemberBody] }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		ms, err := s.Departments.Members(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		items := make([]MemberBody, len(ms))
		for i, m := range ms {
			items[i] = MemberBody{UserID: m.UserID.String(), Email: m.Email, Name: m.Name, Role: m.Role, AddedAt: m.AddedAt}
		}
		return &struct{ Body listBody[MemberBody] }{Body: listBody[MemberBody]{Items: items}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "add-department-members", Method: http.MethodPost, Path: "/v1/departments/{id}/members", Tags: []string{teamsTag},
		Summary: "Add users to a department", Errors: []int{http.StatusNotFound},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		DepartmentIDParam
		Body struct {
			UserIDs []string `json:"user_ids" minItems:"1" maxItems:"1000"`
		}
	}) (*struct{ Body TagContactsResult }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		ids := make([]uuid.UUID, len(in.Body.UserIDs))
		for i, raw := range in.Body.UserIDs {
			if ids[i], err = parseUUID("body.user_ids", raw); err != nil {
				return nil, err
			}
		}
		n, err := s.Departments.AddMembers(ctx, p.AccountID, id, ids)
		if err != nil {
			return nil, err
		}
		return &struct{ Body TagContactsResult }{Body: TagContactsResult{Changed: n}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "remove-department-member", Method: http.MethodDelete, Path: "/v1/departments/{id}/members/{user_id}", Tags: []string{teamsTag},
		Summary: "Take a user out of a department", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		DepartmentIDParam
		UserID string `path:"user_id" format:"uuid"`
	}) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		userID, err := parseUUID("path.user_id", in.UserID)
		if err != nil {
			return nil, err
		}
		return nil, s.Departments.RemoveMember(ctx, p.AccountID, id, userID)
	}))
}

func toDepartmentBody(d department.Department) DepartmentBody {
	return DepartmentBody{ID: d.ID.String(), Name: d.Name, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}
