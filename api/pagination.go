package api

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
)

// PageParams are the query parameters every list takes (exported so huma reads the
// embedded fields).
type PageParams struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Page size."`
	Cursor string `query:"cursor" maxLength:"64" doc:"The next_cursor of the previous page; empty for the first page."`
}

// Resolve refuses limit=0, which huma would otherwise replace with the default.
func (p *PageParams) Resolve(ctx huma.Context) []error {
	if ctx.Query("limit") == "0" {
		return []error{&huma.ErrorDetail{Location: "query.limit", Message: "expected number >= 1", Value: 0}}
	}
	return nil
}

// after decodes the cursor: the id of the previous page's last item, opaque to clients.
func (p PageParams) after() (*uuid.UUID, error) {
	if p.Cursor == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil || len(b) != 16 {
		return nil, huma.NewError(422, "invalid cursor", &huma.ErrorDetail{
			Location: "query.cursor", Message: "not a cursor this API returned", Value: p.Cursor,
		})
	}
	id, _ := uuid.FromBytes(b)
	return &id, nil
}

func encodeCursor(id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// page trims a result fetched with limit+1 rows and returns the next cursor, empty on the
// last page.
func page[T any](items []T, limit int, id func(T) uuid.UUID) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, encodeCursor(id(items[len(items)-1]))
}

// listPage turns a result fetched with limit+1 rows into the page a list operation
// answers, so every list pages and encodes its cursor the same way.
func listPage[T, B any](items []T, limit int, id func(T) uuid.UUID, to func(T) B) *struct{ Body listBody[B] } {
	items, next := page(items, limit, id)
	out := make([]B, len(items))
	for i, it := range items {
		out[i] = to(it)
	}
	return &struct{ Body listBody[B] }{Body: listBody[B]{Items: out, NextCursor: next}}
}

func parseUUID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, huma.NewError(422, "invalid id", &huma.ErrorDetail{Location: field, Message: fmt.Sprintf("must be a UUID: %v", err), Value: s})
	}
	return id, nil
}

// SeqPage pages lists ordered by a sequence number (a contact's consent chain); exported
// so huma reads it when embedded.
type SeqPage struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Page size."`
	Cursor string `query:"cursor" maxLength:"64" doc:"The next_cursor of the previous page; empty for the first page."`
}

func (p SeqPage) afterSeq() (int, error) {
	if p.Cursor == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil || len(b) != 5 || b[0] != 's' {
		return 0, huma.NewError(422, "invalid cursor", &huma.ErrorDetail{Location: "query.cursor", Message: "not a cursor this API returned", Value: p.Cursor})
	}
	return int(binary.BigEndian.Uint32(b[1:])), nil
}

func encodeSeqCursor(seq int) string {
	b := []byte{'s', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(seq))
	return base64.RawURLEncoding.EncodeToString(b)
}
