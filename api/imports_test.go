package api_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/jobs"
)

// startImportWorkers runs real River workers for imports and returns a function that waits
// for the next import job to finish.
func (e *testEnv) startImportWorkers() func() {
	e.t.Helper()
	client, err := jobs.NewClient(e.pool, jobs.Config{Work: true, TestOnly: true, Clock: e.clock, Imports: e.imports})
	require.NoError(e.t, err)
	events, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	require.NoError(e.t, client.Start(context.Background()))
	e.t.Cleanup(func() {
		cancel()
		_ = client.Stop(context.Background())
	})
	return func() {
		e.t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case ev := <-events:
				if ev.Job.Kind == "import_contacts" {
					require.Equal(e.t, river.EventKindJobCompleted, ev.Kind, "%+v", ev.Job.Errors)
					return
				}
			case <-deadline:
				e.t.Fatal("the import job did not finish")
			}
		}
	}
}

const apiMessyCSV = "\xEF\xBB\xBFNome;Código;CPF;Celular;Aceita\r\n" +
	"Maria da Silva;C1;123.456.789-09;(11) 98765-4321;sim\r\n" + // 2
	"\"José\";C2;529.982.247-25;\"21 99876-5432\";não\r\n" + // 3
	"\r\n" + // 4
	"Sem Nome Ruim;C3;111.111.111-11;;\r\n" + // 5 bad CPF
	"Fone Ruim;C4;;12-34;\r\n" + // 6 bad phone
	";C5;;11 3456-7890;\r\n" + // 7 no name
	"Colunas;C6;;\r\n" + // 8 wrong column count
	"Ana;C7;;+5511912345678;s\r\n" // 9

func TestImportEndToEnd(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Importadora")
	wait := e.startImportWorkers()
	var seg api.SegmentBody
	e.do(http.MethodPost, "/v1/segments", a.token, map[string]any{"name": "Importados"}).ok(&seg)

	q := url.Values{
		"mode":       {"upsert_by_customer_code"},
		"mapping":    {`{"Nome":"name","Código":"customer_code","CPF":"cpf","Celular":"phone","Aceita":"accepts_communications"}`},
		"tags":       {"lista-2026, feira"},
		"segment_id": {seg.ID},
		"file_name":  {"clientes.csv"},
	}
	r := e.do(http.MethodPost, "/v1/imports?"+q.Encode(), a.apiKey, apiMessyCSV, "Content-Type: text/csv")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var imp api.ImportBody
	r.ok(&imp)
	require.Equal(t, "/v1/imports/"+imp.ID, r.Header.Get("Location"))
	require.Equal(t, "queued", imp.Status)
	require.Equal(t, ";", imp.Delimiter)
	wait()

	e.do(http.MethodGet, "/v1/imports/"+imp.ID, a.token, nil).ok(&imp)
	require.Equal(t, "done", imp.Status)
	require.EqualValues(t, 7, imp.RowsRead)
	require.EqualValues(t, 3, imp.Created)
	require.EqualValues(t, 4, imp.Failed)
	require.EqualValues(t, 100, imp.Percent)

	// Each bad row, with its line and column.
	r = e.do(http.MethodGet, "/v1/imports/"+imp.ID+"/errors", a.token, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "text/csv; charset=utf-8", r.Header.Get("Content-Type"))
	recs, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	require.NoError(t, err)
	got := map[string]string{}
	for _, rec := range recs[1:] {
		got[rec[0]] = rec[1]
	}
	require.Equal(t, map[string]string{"5": "CPF", "6": "Celular", "7": "Nome", "8": ""}, got)

	// Every good row, normalised as the contacts API normalises, tagged and in the segment.
	var contacts struct{ Items []api.ContactBody }
	e.do(http.MethodGet, "/v1/contacts", a.token, nil).ok(&contacts)
	byCode := map[string]api.ContactBody{}
	for _, c := range contacts.Items {
		byCode[c.CustomerCode] = c
	}
	require.Len(t, byCode, 3, "C1, C2 and C7 only")
	require.Equal(t, "Maria da Silva", byCode["C1"].Name)
	require.Equal(t, "+5511987654321", byCode["C1"].Phones[0].Number)
	require.Equal(t, "12345678909", byCode["C1"].Document)
	require.ElementsMatch(t, []string{"lista-2026", "feira"}, byCode["C1"].Tags)
	require.Equal(t, "José", byCode["C2"].Name)
	require.Equal(t, "+5511912345678", byCode["C7"].Phones[0].Number)
	var count api.CountBody
	e.do(http.MethodGet, "/v1/segments/"+seg.ID+"/count", a.token, nil).ok(&count)
	require.EqualValues(t, 3, count.Count)
	var tags struct{ Items []api.TagBody }
	e.do(http.MethodGet, "/v1/tags", a.token, nil).ok(&tags)
	require.Len(t, tags.Items, 2, "the import's tags entered the catalogue")

	// "sim" and "s" recorded consent; the chains verify.
	v, err := consent.NewService(e.pool, clock.System{}).Verify(context.Background(), a.account.ID)
	require.NoError(t, err)
	require.Nil(t, v.Problem)
	require.EqualValues(t, 2, v.Records)

	var list struct{ Items []api.ImportBody }
	e.do(http.MethodGet, "/v1/imports", a.token, nil).ok(&list)
	require.Len(t, list.Items, 1)
	require.Equal(t, imp.ID, list.Items[0].ID)
	e.do(http.MethodPost, "/v1/imports/"+imp.ID+"/cancel", a.token, nil).problem(http.StatusConflict)
}

func TestImportUploadProblems(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Importadora")
	b := e.newTenant("Outra")
	var foreign api.SegmentBody
	e.do(http.MethodPost, "/v1/segments", b.token, map[string]any{"name": "Deles"}).ok(&foreign)
	good := "name;customer_code\nAna;A1\n"
	big := "name;customer_code\n" + strings.Repeat("Fulano de Tal;0123456789\n", 300<<10/25)
	for _, tc := range []struct {
		name   string
		query  string
		body   string
		status int
		loc    string
	}{
		{"Empty", "", "", http.StatusUnprocessableEntity, "body"},
		{"Workbook", "", "PK\x03\x04\x14\x00\x06\x00", http.StatusUnprocessableEntity, "body"},
		{"MappingNotJSON", "mapping=nome", good, http.StatusUnprocessableEntity, "query.mapping"},
		{"MappingUnknownColumn", `mapping={"Nome":"name","customer_code":"customer_code"}`, good, http.StatusUnprocessableEntity, "query.mapping.Nome"},
		{"MappingUnknownField", `mapping={"name":"nome","customer_code":"customer_code"}`, good, http.StatusUnprocessableEntity, "query.mapping.name"},
		{"UnknownSegment", "segment_id=0190f3c0-0000-7000-8000-000000000000", good, http.StatusUnprocessableEntity, "query.segment_id"},
		{"AnotherAccountsSegment", "segment_id=" + foreign.ID, good, http.StatusUnprocessableEntity, "query.segment_id"},
		{"BadMode", "mode=merge", good, http.StatusUnprocessableEntity, "query.mode"},
		{"TooLarge", "", big, http.StatusRequestEntityTooLarge, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.query
			if strings.Contains(q, "{") {
				k, v, _ := strings.Cut(q, "=")
				q = url.Values{k: {v}}.Encode()
			}
			p := e.as(t).do(http.MethodPost, "/v1/imports?"+q, a.token, tc.body, "Content-Type: text/csv").problem(tc.status)
			if tc.loc != "" {
				require.Contains(t, p.locations(), tc.loc, "%+v", p)
			}
		})
	}
	var list struct{ Items []api.ImportBody }
	e.do(http.MethodGet, "/v1/imports", a.token, nil).ok(&list)
	require.Empty(t, list.Items, "nothing refused was stored")

	// The import limit, not the API's 64 KiB one, bounds a file.
	medium := "name;customer_code\n" + strings.Repeat("Fulano de Tal;0123456789\n", 100<<10/25)
	e.do(http.MethodPost, "/v1/imports?mode=upsert_by_customer_code", a.token, medium, "Content-Type: text/csv").ok(nil)
}
