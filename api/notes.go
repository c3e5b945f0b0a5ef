package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/note"
)

// NoteBody is an observation on a contact.
type NoteBody struct {
	ID            string     `json:"id" format:"uuid"`
	ContactID     string     `json:"contact_id" format:"uuid"`
	AuthorID      string     `json:"author_id" format:"uuid"`
	Body          string     `json:"body"`
	DueAt         *time.Time `json:"due_at,omitempty" doc:"When to follow up."`
	ForwardedToID string     `json:"forwarded_to_id,omitempty" format:"uuid" doc:"The user the note is forwarded to."`
	CreatedAt     time.Time  `json:"created_at"`
}

func (s *server) registerNotes(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-note", Method: http.MethodPost, Path: "/v1/contacts/{id}/notes", Tags: []string{contactsTag},
		Summary: "Write a note on a contact", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusNotFound},
	}, auth.ContactNotes), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		Body struct {
			Body          string     `json:"body" minLength:"1" maxLength:"5000"`
			DueAt         *time.Time `json:"due_at,omitempty"`
			ForwardedToID string     `json:"forwarded_to_id,omitempty" format:"uuid"`
		}
	}) (*struct{ Body NoteBody }, error) {
		p, contactID, author, err := noteCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		fwd, err := parseOptUUID("forwarded_to_id", &in.Body.ForwardedToID)
		if err != nil {
			return nil, err
		}
		n, err := s.Notes.Create(ctx, p.AccountID, contactID, author, note.Input{Body: in.Body.Body, DueAt: in.Body.DueAt, ForwardedToID: fwd})
		if err != nil {
			return nil, err
		}
		return &struct{ Body NoteBody }{Body: toNoteBody(n)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-notes", Method: http.MethodGet, Path: "/v1/contacts/{id}/notes", Tags: []string{contactsTag},
		Summary: "A contact's notes, newest first", Errors: []int{http.StatusNotFound},
	}, auth.ContactNotes), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		PageParams
	}) (*struct{ Body listBody[NoteBody] }, error) {
		p, contactID, _, err := noteCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		before, err := in.after()
		if err != nil {
			return nil, err
		}
		notes, err := s.Notes.List(ctx, p.AccountID, contactID, before, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(notes, in.Limit, func(n note.Note) uuid.UUID { return n.ID }, toNoteBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-note", Method: http.MethodDelete, Path: "/v1/contacts/{id}/notes/{note_id}", Tags: []string{contactsTag},
		Summary: "Delete a note (its author, or an admin)", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.ContactNotes), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		NoteID string `path:"note_id" format:"uuid"`
	}) (*struct{}, error) {
		p, contactID, author, err := noteCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		noteID, err := parseUUID("path.note_id", in.NoteID)
		if err != nil {
			return nil, err
		}
		return nil, s.Notes.Delete(ctx, p.AccountID, contactID, noteID, author, p.Role == auth.RoleAdmin)
	}))
}

// noteCaller returns the principal, the contact and the author: notes are written by users.
func noteCaller(ctx context.Context, id string) (auth.Principal, uuid.UUID, uuid.UUID, error) {
	p, err := principal(ctx)
	if err != nil {
		return p, uuid.Nil, uuid.Nil, err
	}
	if p.UserID == nil {
		return p, uuid.Nil, uuid.Nil, fault.Forbidden("notes are written and read by users")
	}
	contactID, err := parseUUID("path.id", id)
	return p, contactID, *p.UserID, err
}

func toNoteBody(n note.Note) NoteBody {
	b := NoteBody{ID: n.ID.String(), ContactID: n.ContactID.String(), AuthorID: n.AuthorID.String(), Body: n.Body, DueAt: n.DueAt, CreatedAt: n.CreatedAt}
	if n.ForwardedToID != nil {
		b.ForwardedToID = n.ForwardedToID.String()
	}
	return b
}
