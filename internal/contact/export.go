package contact

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ExportColumns are the columns of a contacts export, in order.
var ExportColumns = []string{"id", "name", "document", "document_kind", "customer_code", "phones", "email", "birth_date", "rg",
	"tags", "priority", "priority_score", "blocked", "broadcast", "custom_fields", "created_at", "updated_at"}

// exportPage is how many contacts an export reads at a time: memory stays flat whatever the
// account's size.
const exportPage = 5000

// Export writes the contacts that match f (f.After and f.Limit are ignored) to w as CSV, oldest
// first, reading them a page at a time. Lists inside a cell (phones, tags) are separated by
// ";"; custom fields are a JSON object. It returns how many contacts it wrote.
func (s *Service) Export(ctx context.Context, accountID uuid.UUID, f ListFilter, w io.Writer) (int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(ExportColumns); err != nil {
		return 0, fmt.Errorf("write export header: %w", err)
	}
	f.Limit, f.After = exportPage, nil
	n := 0
	for {
		page, err := s.List(ctx, accountID, f)
		if err != nil {
			return n, err
		}
		for _, c := range page {
			if err := cw.Write(exportRow(c)); err != nil {
				return n, fmt.Errorf("write export row %d: %w", n+1, err)
			}
			n++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, fmt.Errorf("flush export: %w", err)
		}
		if fl, ok := w.(interface{ Flush() }); ok {
			fl.Flush()
		}
		if len(page) < exportPage {
			return n, nil
		}
		last := page[len(page)-1].ID
		f.After = &last
	}
}

func exportRow(c Contact) []string {
	phones := make([]string, len(c.Phones))
	for i, p := range c.Phones {
		phones[i] = p.Number
	}
	tags := make([]string, len(c.Tags))
	for i, t := range c.Tags {
		tags[i] = Inert(t)
	}
	row := []string{c.ID.String(), Inert(c.Name), val(c.Document), val(c.DocumentKind), Inert(val(c.CustomerCode)), strings.Join(phones, ";"),
		Inert(val(c.Email)), "", Inert(val(c.RG)), strings.Join(tags, ";"), c.Priority, "", strconv.FormatBool(c.Blocked),
		strconv.FormatBool(c.Broadcast), "", c.CreatedAt.Format(time.RFC3339), c.UpdatedAt.Format(time.RFC3339)}
	if c.BirthDate != nil {
		row[7] = c.BirthDate.Format(time.DateOnly)
	}
	if c.PriorityScore != nil {
		row[11] = strconv.Itoa(*c.PriorityScore)
	}
	if len(c.Custom) > 0 {
		b, _ := json.Marshal(c.Custom)
		row[14] = Inert(string(b))
	}
	return row
}

// Inert keeps a spreadsheet from reading free text as a formula (CSV injection): text that
// starts with = + - @ or a tab or carriage return gets a leading apostrophe. Phones, which
// start with +, are not free text and are left alone. It is exported so every CSV the service
// writes (the campaign report too) neutralises text the same way.
func Inert(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func val(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
