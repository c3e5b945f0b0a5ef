package api_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"

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
	require.Equal(t, "id", rows[0][0])
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
	e.do(http.MethodGet, "/v1/contacts/export?blocked=maybe", a.apiKey, nil).problem(422)
}
