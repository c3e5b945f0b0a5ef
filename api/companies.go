package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/company"
)

// CompanyBody is a company, by CNPJ.
type CompanyBody struct {
	ID        string    `json:"id" format:"uuid"`
	CNPJ      string    `json:"cnpj" doc:"Without punctuation."`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CompanyIDParam is the {id} of a company's path.
type CompanyIDParam struct {
	ID string `path:"id" format:"uuid"`
}

func (s *server) registerCompanies(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-company", Method: http.MethodPost, Path: "/v1/companies", Tags: []string{contactsTag},
		Summary: "Register a company by CNPJ", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
		Description: "Contacts are linked to it by company_id.",
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		Body struct {
			CNPJ string `json:"cnpj" minLength:"14" maxLength:"32" example:"11.222.333/0001-81"`
			Name string `json:"name" minLength:"1" maxLength:"200"`
		}
	}) (*struct{ Body CompanyBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		c, err := s.Companies.Create(ctx, p.AccountID, in.Body.CNPJ, in.Body.Name)
		if err != nil {
			return nil, err
		}
		return &struct{ Body CompanyBody }{Body: toCompanyBody(c)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-companies", Method: http.MethodGet, Path: "/v1/companies", Tags: []string{contactsTag},
		Summary: "List companies",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct{ PageParams }) (*struct{ Body listBody[CompanyBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		cs, err := s.Companies.List(ctx, p.AccountID, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(cs, in.Limit, func(c company.Company) uuid.UUID { return c.ID }, toCompanyBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-company", Method: http.MethodGet, Path: "/v1/companies/{id}", Tags: []string{contactsTag},
		Summary: "Get a company", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *CompanyIDParam) (*struct{ Body CompanyBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		c, err := s.Companies.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body CompanyBody }{Body: toCompanyBody(c)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-company-by-cnpj", Method: http.MethodGet, Path: "/v1/companies/by-cnpj/{cnpj}", Tags: []string{contactsTag},
		Summary: "Find a company by CNPJ (with or without punctuation)", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		CNPJ string `path:"cnpj" maxLength:"32"`
	}) (*struct{ Body CompanyBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		c, err := s.Companies.GetByCNPJ(ctx, p.AccountID, in.CNPJ)
		if err != nil {
			return nil, err
		}
		return &struct{ Body CompanyBody }{Body: toCompanyBody(c)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "rename-company", Method: http.MethodPatch, Path: "/v1/companies/{id}", Tags: []string{contactsTag},
		Summary: "Rename a company (its CNPJ never changes)", Errors: []int{http.StatusNotFound},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		CompanyIDParam
		Body struct {
			Name string `json:"name" minLength:"1" maxLength:"200"`
		}
	}) (*struct{ Body CompanyBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		c, err := s.Companies.Rename(ctx, p.AccountID, id, in.Body.Name)
		if err != nil {
			return nil, err
		}
		return &struct{ Body CompanyBody }{Body: toCompanyBody(c)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-company", Method: http.MethodDelete, Path: "/v1/companies/{id}", Tags: []string{contactsTag},
		Summary: "Delete a company (its contacts stay, without it)", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *CompanyIDParam) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return nil, s.Companies.Delete(ctx, p.AccountID, id)
	}))
}

func toCompanyBody(c company.Company) CompanyBody {
	return CompanyBody{ID: c.ID.String(), CNPJ: c.CNPJ, Name: c.Name, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}
