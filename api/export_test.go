package api_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExportContacts(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	b := e.newTenant("Other")
	for i := range 12 {
		body := map[string]any{"name": fmt.Sprintf("Pessoa %02d", i), "customer_code": fmt.Sprint(i), "phones": []string{fmt.Sprintf("+55 11 98888-77%02d", i)}}
		if i%4 == 0 {
			body["tags"] = []string{"vip", "sp"}
		}
		e.do(http.MethodPost, "/v1/contacts", a.apiKey, body).ok(nil)
	}
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "=HYPERLINK(\"http://evil\")", "customer_code": "@x", "email": "=1+2@x.com"}).ok(nil)
	e.do(http.MethodPost, "/v1/contacts", b.apiKey, map[string]any{"name": "Não exportar", "customer_code": "B"}).ok(nil)

	r := e.do(http.MethodGet, "/v1/contacts/export", a.apiKey, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "text/csv; charset=utf-8", r.Header.Get("Content-Type"))
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 14, "header and the 13 contacts of the account, no other account's")
	require.Equal(t, []string{"id", "name", "document", "document_kind", "customer_code", "phones", "email", "birth_date", "rg",
		"tags", "priority", "priority_score", "blocked", "broadcast", "custom_fields", "created_at", "updated_at"}, rows[0])
	require.Equal(t, "Pessoa 00", rows[1][1])
	require.Equal(t, "+5511988887700", rows[1][5], "phones are not neutralised")
	require.Equal(t, "vip;sp", rows[1][9])
	require.Equal(t, `'=HYPERLINK("http://evil")`, rows[13][1], "free text that a spreadsheet would run is neutralised")
	require.Equal(t, "'@x", rows[13][4])
	require.Equal(t, "'=1+2@x.com", rows[13][6])
	require.NotContains(t, string(r.Body), "Não exportar")

	r = e.do(http.MethodGet, "/v1/contacts/export?tag=vip", a.apiKey, nil)
	rows, err = csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4)
	require.Equal(t, "vip;sp", rows[1][9])

	// The search filters as the list does; a quote in it is text, not SQL.
	for q, want := range map[string][]string{"pessoa 07": {"Pessoa 07"}, "11": {"Pessoa 11"}, "x' OR '1'='1": nil, `100%`: nil} {
		r = e.do(http.MethodGet, "/v1/contacts/export?q="+url.QueryEscape(q), a.apiKey, nil)
		require.Equal(t, http.StatusOK, r.Status, q)
		rows, err = csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
		require.NoError(t, err, q)
		var names []string
		for _, row := range rows[1:] {
			names = append(names, row[1])
		}
		require.Equal(t, want, names, q)
	}

	// Every column as the contact reads back: times in RFC 3339, custom fields as JSON.
	var c struct {
		ID string `json:"id"`
	}
	e.do(http.MethodPost, "/v1/contacts", b.apiKey, map[string]any{"name": "Completa", "customer_code": "K1", "document": "529.982.247-25",
		"email": "k@x.com", "birth_date": "1990-12-31", "rg": "12.345.678-9", "priority": "high", "broadcast": false,
		"tags": []string{"O'Brien", "-menos"}}).ok(&c)
	r = e.do(http.MethodGet, "/v1/contacts/export?blocked=false&priority=high&tag="+url.QueryEscape("O'Brien"), b.apiKey, nil)
	rows, err = csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2)
	got := rows[1]
	require.Equal(t, []string{c.ID, "Completa", "52998224725", "cpf", "K1", "", "k@x.com", "1990-12-31", "12.345.678-9", "O'Brien;'-menos",
		"high", "", "false", "false", ""}, got[:15])
	_, err = time.Parse(time.RFC3339, got[15])
	require.NoError(t, err, got[15])
	_, err = time.Parse(time.RFC3339, got[16])
	require.NoError(t, err, got[16])

	e.do(http.MethodGet, "/v1/contacts/export?blocked=maybe", a.apiKey, nil).problem(422)
}
