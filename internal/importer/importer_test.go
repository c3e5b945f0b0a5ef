package importer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/importer"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/segment"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type env struct {
	t       *testing.T
	ctx     context.Context
	pool    *pgxpool.Pool
	svc     *importer.Service
	account uuid.UUID
	by      consent.Recorder
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	svc := importer.NewService(pool, clk)
	client, err := jobs.NewClient(pool, jobs.Config{Imports: svc, Clock: clk})
	require.NoError(t, err)
	svc.Enqueuer = client
	acct, err := account.Create(ctx, pool, "Loja")
	require.NoError(t, err)
	return &env{t: t, ctx: ctx, pool: pool, svc: svc, account: acct.ID, by: consent.Recorder{Kind: "user", ID: uuid.NewString()}}
}

// importCSV uploads data and runs the import to its end, as the job would.
func (e *env) importCSV(opts importer.Options, data string) importer.Import {
	e.t.Helper()
	imp, err := e.svc.Upload(e.ctx, e.account, e.by, opts, strings.NewReader(data))
	require.NoError(e.t, err)
	require.NoError(e.t, e.svc.Run(e.ctx, e.account, imp.ID, 0))
	imp, err = e.svc.Get(e.ctx, e.account, imp.ID)
	require.NoError(e.t, err)
	return imp
}

// errorsOf returns the errors CSV as line → reasons.
func (e *env) errorsOf(id uuid.UUID) map[int][]string {
	e.t.Helper()
	var buf bytes.Buffer
	require.NoError(e.t, e.svc.WriteErrors(e.ctx, e.account, id, &buf))
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(e.t, err)
	require.Equal(e.t, []string{"line", "column", "reason", "skipped"}, recs[0])
	out := map[int][]string{}
	for _, r := range recs[1:] {
		var line int
		_, _ = fmt.Sscan(r[0], &line)
		out[line] = append(out[line], r[1]+": "+r[2])
	}
	return out
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(e.ctx, sql, args...).Scan(&n))
	return n
}

func (e *env) contactByCode(code string) contact.Contact {
	e.t.Helper()
	var id uuid.UUID
	require.NoError(e.t, e.pool.QueryRow(e.ctx, "SELECT id FROM contacts WHERE account_id = $1 AND customer_code = $2", e.account, code).Scan(&id))
	c, err := contact.NewService(e.pool, clock.System{}).Get(e.ctx, e.account, id)
	require.NoError(e.t, err)
	return c
}

var messyMapping = map[string]string{
	"Nome": "name", "Código": "customer_code", "CPF": "document", "Celular": "phone", "E-mail": "email",
	"Nascimento": "birth_date", "Aceita comunicações": "accepts_communications", "Tags": "tags", "Obs": "custom.obs",
}

// messyCSV is what a Brazilian Excel export looks like, with one problem per bad row.
const messyCSV = "\xEF\xBB\xBFNome;Código;CPF;Celular;E-mail;Nascimento;Aceita comunicações;Tags;Obs\r\n" +
	"Maria da Silva;C1;123.456.789-09;(11) 98765-4321;maria@example.com;31/12/1990;sim;vip;\r\n" + // 2
	"João \"Jota\";C2;52998224725;+55 21 99876-5432;;;não;vip, Atacado;\"Rua A, 1\r\nfundos\"\r\n" + // 3-4
	"\r\n" + // 5 blank
	"Sem Telefone;C3;;;;;;;\r\n" + // 6 good: the customer code identifies it
	";C4;;11 3456-7890;;;;;\r\n" + // 7 no name
	"CPF Ruim;C5;111.111.111-12;11987650000;;;;;\r\n" + // 8 bad CPF
	"Fone Ruim;C6;;12345;;;;;\r\n" + // 9 bad phone
	"Curta;C7\r\n" + // 10 wrong column count
	"Zero;C8;1234567890;;;;s;;\r\n" + // 11 CPF whose leading zero Excel dropped
	";;;;;;;;\r\n" + // 12 empty row Excel writes
	"Consentimento Ruim;C9;;;;;talvez;;\r\n" + // 13 bad consent value
	"Maria Duplicada;C1;;;;;;;\r\n" + // 14 same code as line 2: the last one wins
	"Fone Repetido;C10;;(21) 99876-5432;;;;;\r\n" // 15 the phone of C2

// withObsField defines the custom field the messy file fills.
func (e *env) withObsField() {
	e.t.Helper()
	label := "Observações"
	_, err := customfield.NewService(e.pool, clock.System{}).Create(e.ctx, e.account, customfield.Input{Key: "obs", Label: &label, Type: customfield.Text})
	require.NoError(e.t, err)
}

func TestImportMessyCSV(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.withObsField()
	imp := e.importCSV(importer.Options{Mapping: messyMapping, Mode: importer.ModeUpsertByCode, FileName: "clientes.csv"}, messyCSV)

	require.Equal(t, importer.StatusDone, imp.Status)
	require.Equal(t, ";", imp.Delimiter)
	require.Equal(t, importer.UTF8, imp.Encoding)
	require.EqualValues(t, 11, imp.RowsRead, "blank lines and empty rows are not rows")
	require.EqualValues(t, 4, imp.Created, "C1 (line 14), C2, C3, C8")
	require.EqualValues(t, 1, imp.Skipped, "line 2 is superseded by line 14")
	require.EqualValues(t, 6, imp.Failed)
	require.EqualValues(t, 100, imp.Percent)

	errs := e.errorsOf(imp.ID)
	for line, col := range map[int]string{7: "Nome", 8: "CPF", 9: "Celular", 10: "", 13: "Aceita comunicações", 15: "Celular", 2: "Código"} {
		require.Len(t, errs[line], 1, "line %d: %v", line, errs)
		require.True(t, strings.HasPrefix(errs[line][0], col+": "), "line %d: %v", line, errs[line])
	}
	require.Len(t, errs, 7, "one entry per bad line: %v", errs)

	// The good rows, normalised as the API normalises.
	c1 := e.contactByCode("C1")
	require.Equal(t, "Maria Duplicada", c1.Name, "the last row with a code wins")
	require.Empty(t, c1.Phones)
	c2 := e.contactByCode("C2")
	require.Equal(t, `João "Jota"`, c2.Name, "a stray quote is taken literally")
	require.Equal(t, "Rua A, 1\nfundos", c2.Custom["obs"], "a quoted newline stays in its cell")
	require.Equal(t, "+5521998765432", c2.Phones[0].Number)
	require.Equal(t, []string{"vip", "Atacado"}, c2.Tags)
	require.Equal(t, "01234567890", *e.contactByCode("C8").Document)
	require.Zero(t, e.count("SELECT count(*) FROM contacts WHERE customer_code IN ('C4','C5','C6','C7','C9','C10')"))
	// Tags entered the catalogue.
	require.Equal(t, 2, e.count("SELECT count(*) FROM tags WHERE account_id = $1", e.account))
	// The upload is gone, the errors stay.
	require.Zero(t, e.count("SELECT count(*) FROM import_chunks"))
	require.Equal(t, contact.OriginImport, c2.Origin, "segments can select imported contacts")

	// The import told the event log as it went, every event about it.
	_, err := event.NewLog(e.pool).Publish(e.ctx)
	require.NoError(t, err)
	evs, err := event.NewLog(e.pool).List(e.ctx, e.account, 0, nil, 100)
	require.NoError(t, err)
	var types []string
	for _, ev := range evs {
		require.Equal(t, imp.ID, *ev.SubjectID)
		types = append(types, ev.Type)
	}
	require.Equal(t, []string{importer.EventQueued, importer.EventStarted, importer.EventProgressed, importer.EventFinished}, types)
	require.JSONEq(t, `{"status":"done"}`, string(evs[3].Data))
}

func TestImportWindows1252AndComma(t *testing.T) {
	t.Parallel()
	e := setup(t)
	data := "name,customer_code,phone\n" + "Jo\xe3o da Concei\xe7\xe3o,W1,\"(11) 98765-4321\"\n"
	imp := e.importCSV(importer.Options{Mode: importer.ModeUpsertByCode}, data)
	require.Equal(t, importer.Windows1252, imp.Encoding)
	require.Equal(t, ",", imp.Delimiter)
	require.EqualValues(t, 1, imp.Created)
	require.Equal(t, "João da Conceição", e.contactByCode("W1").Name)
}

func TestImportModes(t *testing.T) {
	t.Parallel()
	const existing = "name;customer_code;phone;tags\n" + "Ana;A1;11 91111-1111;antiga\n" + "Bia;B1;11 92222-2222;\n"
	for _, tc := range []struct {
		name                      string
		mode                      importer.Mode
		data                      string
		created, updated, skipped int64
		failed                    int64
		check                     func(t *testing.T, e *env)
	}{
		{
			name: "CreateOnlySkipsExisting", mode: importer.ModeCreateOnly,
			data:    "name;customer_code;phone;tags\n" + "Ana Nova;A1;;\n" + "Carla;C1;11 93333-3333;\n" + "Outra;X1;11 92222-2222;\n",
			created: 1, skipped: 2,
			check: func(t *testing.T, e *env) { require.Equal(t, "Ana", e.contactByCode("A1").Name) },
		},
		{
			name: "UpdateOnlySkipsNew", mode: importer.ModeUpdateOnly,
			data:    "name;customer_code;phone;tags\n" + "Ana Nova;A1;11 94444-4444;nova\n" + "Carla;C1;;\n",
			updated: 1, skipped: 1,
			check: func(t *testing.T, e *env) {
				a := e.contactByCode("A1")
				require.Equal(t, "Ana Nova", a.Name)
				require.Equal(t, []string{"antiga", "nova"}, a.Tags, "tags are added")
				require.Len(t, a.Phones, 2, "phones are added")
				require.Equal(t, 2, a.Version)
				require.Zero(t, e.count("SELECT count(*) FROM contacts WHERE customer_code = 'C1'"))
			},
		},
		{
			name: "UpsertByCode", mode: importer.ModeUpsertByCode,
			data:    "name;customer_code;phone;tags\n" + ";A1;;\n" + "Carla;C1;11 93333-3333;\n",
			created: 1, updated: 1,
			check: func(t *testing.T, e *env) {
				require.Equal(t, "Ana", e.contactByCode("A1").Name, "an empty cell keeps the field")
				require.Equal(t, 1, e.contactByCode("A1").Version, "nothing changed, no new version")
			},
		},
		{
			name: "UpsertByPhone", mode: importer.ModeUpsertByPhone,
			data: "name;customer_code;phone;tags\n" + "Bia Souza;;(11) 92222-2222;\n" + "Dora;D1;+55 11 95555-5555;\n" +
				"Roubo;A1;11 96666-6666;\n",
			created: 1, updated: 1, failed: 1,
			check: func(t *testing.T, e *env) {
				require.Equal(t, "Bia Souza", e.contactByCode("B1").Name)
				require.Equal(t, "Dora", e.contactByCode("D1").Name)
			},
		},
		{
			name: "NewPhoneAloneIsAChange", mode: importer.ModeUpdateOnly,
			data:    "name;customer_code;phone;tags\n" + ";B1;11 97777-7777;\n" + ";A1;;antiga\n",
			updated: 2,
			check: func(t *testing.T, e *env) {
				b := e.contactByCode("B1")
				require.Equal(t, []string{"+5511922222222", "+5511977777777"}, []string{b.Phones[0].Number, b.Phones[1].Number})
				require.Equal(t, 2, b.Version, "a new phone is a new version")
				require.Equal(t, 1, e.contactByCode("A1").Version, "a tag it has already changes nothing")
			},
		},
		{
			// The contact's own number stays first; the new ones follow in the row's order, with
			// no gap in positions.
			name: "NewPhonesFollowTheContactsOwn", mode: importer.ModeUpsertByCode,
			data:    "name;customer_code;phone;tags\n" + ";A1;11 98888-8888 / 11 91111-1111 / 11 97777-7777;\n",
			updated: 1,
			check: func(t *testing.T, e *env) {
				a := e.contactByCode("A1")
				require.Len(t, a.Phones, 3)
				require.Equal(t, []string{"+5511911111111", "+5511988888888", "+5511977777777"},
					[]string{a.Phones[0].Number, a.Phones[1].Number, a.Phones[2].Number})
				require.Equal(t, 3, e.count("SELECT max(position) FROM contact_phones WHERE contact_id = $1", a.ID))
				require.Equal(t, 2, a.Version)
			},
		},
		{
			// A row naming another contact's number fails whole: its new number is not added.
			name: "AnotherContactsPhoneAddsNothing", mode: importer.ModeUpsertByCode,
			data:   "name;customer_code;phone;tags\n" + "Bia Nova;B1;11 96666-6666 / 11 91111-1111;\n",
			failed: 1,
			check: func(t *testing.T, e *env) {
				b := e.contactByCode("B1")
				require.Equal(t, "Bia", b.Name)
				require.Len(t, b.Phones, 1)
				require.Equal(t, 1, b.Version)
				require.Zero(t, e.count("SELECT count(*) FROM contact_phones WHERE phone = '+5511966666666'"))
				require.Equal(t, 1, e.count("SELECT count(*) FROM import_errors WHERE line = 2 AND reason = 'phone +5511911111111 belongs to another contact'"))
			},
		},
		{
			name: "UpsertByPhoneRefusesAnotherContactsPhone", mode: importer.ModeUpsertByCode,
			data:   "name;customer_code;phone;tags\n" + "Eva;E1;11 91111-1111;\n",
			failed: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			first := e.importCSV(importer.Options{Mode: importer.ModeUpsertByCode}, existing)
			require.EqualValues(t, 2, first.Created)
			imp := e.importCSV(importer.Options{Mode: tc.mode}, tc.data)
			require.Equal(t, importer.StatusDone, imp.Status)
			require.Equal(t, []int64{tc.created, tc.updated, tc.skipped, tc.failed}, []int64{imp.Created, imp.Updated, imp.Skipped, imp.Failed}, "%v", e.errorsOf(imp.ID))
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

func TestImportDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.withObsField()
	imp := e.importCSV(importer.Options{Mapping: messyMapping, Mode: importer.ModeUpsertByCode, DryRun: true, Tags: []string{"importados"}}, messyCSV)
	require.Equal(t, importer.StatusDone, imp.Status)
	require.EqualValues(t, 4, imp.Created, "counted as it would be")
	require.EqualValues(t, 6, imp.Failed)
	for _, table := range []string{"contacts", "contact_phones", "tags", "consent_records", "consent_state"} {
		require.Zero(t, e.count("SELECT count(*) FROM "+table), table)
	}
}

func TestImportTagsSegmentAndConsent(t *testing.T) {
	t.Parallel()
	e := setup(t)
	seg, err := segment.NewService(e.pool, clock.System{}).Create(e.ctx, e.account, segment.Input{Name: "Carteira SP", Priority: 50, Distribution: "manual"})
	require.NoError(t, err)
	cs := consent.NewService(e.pool, clock.System{})
	// Contacts with history. A1 opted out of marketing after its first import, so the next
	// import's grant changes its state and goes after the revocation in its chain; D1's first
	// import is still in force on every purpose and channel, so importing it again records
	// nothing (the first record stays the evidence).
	first := e.importCSV(importer.Options{Mode: importer.ModeUpsertByCode, Mapping: map[string]string{"n": "name", "c": "customer_code", "p": "phone", "a": "accepts_communications"}},
		"n;c;p;a\nAna;A1;11 91111-1111;sim\nDora;D1;11 94444-4444;sim\n")
	require.EqualValues(t, 2, first.Created)
	_, err = cs.Record(e.ctx, e.account, e.contactByCode("A1").ID, consent.Entry{Action: consent.Revoke, Purposes: []consent.Purpose{consent.PurposeMarketing}}, e.by)
	require.NoError(t, err)
	imp := e.importCSV(importer.Options{
		Mode: importer.ModeUpsertByCode, Tags: []string{"Importado", "importado"}, SegmentID: &seg.ID,
		Mapping: map[string]string{"n": "name", "c": "customer_code", "p": "phone", "a": "accepts_communications"},
	}, "n;c;p;a\nAna;A1;11 91111-1111;sim\nBia;B1;11 92222-2222;yes\nCida;C1;;não\nDora;D1;11 94444-4444;sim\n")
	require.EqualValues(t, 2, imp.Created)
	require.EqualValues(t, 2, imp.Updated)

	require.Equal(t, []string{"Importado"}, e.contactByCode("B1").Tags)
	require.Equal(t, 4, e.count("SELECT count(*) FROM segment_members WHERE account_id = $1 AND segment_id = $2", e.account, seg.ID))
	require.Equal(t, 3, e.count("SELECT count(*) FROM consent_records WHERE contact_id = $1", e.contactByCode("A1").ID), "import, revocation, import")
	require.Equal(t, 1, e.count("SELECT count(*) FROM consent_records WHERE contact_id = $1", e.contactByCode("B1").ID))
	require.Zero(t, e.count("SELECT count(*) FROM consent_records WHERE contact_id = $1", e.contactByCode("C1").ID), "não records nothing")
	require.Equal(t, 1, e.count("SELECT count(*) FROM consent_records WHERE contact_id = $1", e.contactByCode("D1").ID), "a grant in force is not recorded again")
	ok, err := cs.Allowed(e.ctx, e.pool, e.account, e.contactByCode("A1").ID, consent.PurposeMarketing, "whatsapp", false)
	require.NoError(t, err)
	require.True(t, ok, "the re-import granted again what A1 had revoked")

	v, err := cs.Verify(e.ctx, e.account)
	require.NoError(t, err)
	require.Nil(t, v.Problem)
	require.EqualValues(t, 5, v.Records)
	ok, err = cs.Allowed(e.ctx, e.pool, e.account, e.contactByCode("B1").ID, consent.PurposeMarketing, "whatsapp", false)
	require.NoError(t, err)
	require.True(t, ok, "the import's grant is in force")
	ok, err = cs.Allowed(e.ctx, e.pool, e.account, e.contactByCode("B1").ID, consent.PurposeMarketing, "whatsapp", true)
	require.NoError(t, err)
	require.False(t, ok, "an import's consent is implicit")
	hist, err := cs.History(e.ctx, e.account, e.contactByCode("B1").ID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, consent.Import, hist[0].Method)
	require.Equal(t, "+5511922222222", hist[0].Identifier)
	require.Contains(t, hist[0].Source, "row 3")
	// Replaying the chain gives the projection stored.
	var states int
	require.NoError(t, e.pool.QueryRow(e.ctx, "SELECT count(*) FROM consent_state WHERE contact_id = $1 AND status = 'granted'", e.contactByCode("B1").ID).Scan(&states))
	require.Equal(t, len(consent.Purposes)*len(channel.Types), states)
}

func TestImportResumesAfterWorkerDies(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.svc.BatchSize = 10
	var sb strings.Builder
	sb.WriteString("name;customer_code;phone;ok\n")
	for i := 0; i < 95; i++ {
		if i%10 == 3 {
			sb.WriteString(fmt.Sprintf("Ruim %d;R%d;123;sim\n", i, i)) // bad phone
			continue
		}
		sb.WriteString(fmt.Sprintf("Pessoa %d;P%d;11 9%04d-%04d;sim\n", i, i, 1000+i, i))
	}
	mapping := map[string]string{"name": "name", "customer_code": "customer_code", "phone": "phone", "ok": "accepts_communications"}
	imp, err := e.svc.Upload(e.ctx, e.account, e.by, importer.Options{Mode: importer.ModeUpsertByCode, Mapping: mapping}, strings.NewReader(sb.String()))
	require.NoError(t, err)

	// A worker applies 3 batches and dies.
	require.NoError(t, e.svc.Run(e.ctx, e.account, imp.ID, 3))
	mid, err := e.svc.Get(e.ctx, e.account, imp.ID)
	require.NoError(t, err)
	require.Equal(t, importer.StatusRunning, mid.Status)
	require.EqualValues(t, 30, mid.RowsRead)
	require.EqualValues(t, 27, mid.Created)
	require.Equal(t, 27, e.count("SELECT count(*) FROM contacts"))

	// Another picks the job up and finishes it.
	require.NoError(t, e.svc.Run(e.ctx, e.account, imp.ID, 0))
	done, err := e.svc.Get(e.ctx, e.account, imp.ID)
	require.NoError(t, err)
	require.Equal(t, importer.StatusDone, done.Status)
	require.EqualValues(t, 95, done.RowsRead)
	require.EqualValues(t, 85, done.Created)
	require.EqualValues(t, 10, done.Failed)
	require.Equal(t, 85, e.count("SELECT count(*) FROM contacts"))
	require.Equal(t, 85, e.count("SELECT count(*) FROM consent_records"), "one consent record per contact, none twice")
	require.Len(t, e.errorsOf(imp.ID), 10, "each bad row reported once")
	v, err := consent.NewService(e.pool, clock.System{}).Verify(e.ctx, e.account)
	require.NoError(t, err)
	require.Nil(t, v.Problem)

	// Running a finished import again does nothing.
	require.NoError(t, e.svc.Run(e.ctx, e.account, imp.ID, 0))
	require.Equal(t, 85, e.count("SELECT count(*) FROM contacts"))
}

func TestImportCancel(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.svc.BatchSize = 1
	imp, err := e.svc.Upload(e.ctx, e.account, e.by, importer.Options{Mode: importer.ModeUpsertByCode}, strings.NewReader("name;customer_code\nA;1\nB;2\nC;3\n"))
	require.NoError(t, err)
	require.NoError(t, e.svc.Run(e.ctx, e.account, imp.ID, 1))
	_, err = e.svc.Cancel(e.ctx, e.account, imp.ID)
	require.NoError(t, err)
	require.NoError(t, e.svc.Run(e.ctx, e.account, imp.ID, 0))
	got, err := e.svc.Get(e.ctx, e.account, imp.ID)
	require.NoError(t, err)
	require.Equal(t, importer.StatusCancelled, got.Status)
	require.Equal(t, 1, e.count("SELECT count(*) FROM contacts"), "what was applied stays, nothing more")
	_, err = e.svc.Cancel(e.ctx, e.account, imp.ID)
	require.True(t, fault.Is(err, fault.KindConflict))
}

func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t)
	other, err := account.Create(e.ctx, e.pool, "Outra")
	require.NoError(t, err)
	foreign, err := segment.NewService(e.pool, clock.System{}).Create(e.ctx, other.ID, segment.Input{Name: "Deles", Priority: 50, Distribution: "manual"})
	require.NoError(t, err)
	missing := uuid.New()
	for _, tc := range []struct {
		name  string
		opts  importer.Options
		data  string
		field string
	}{
		{"Empty", importer.Options{}, "", "body"},
		{"OnlyBlankLines", importer.Options{}, "\r\n\r\n", "body"},
		{"Excel", importer.Options{}, "PK\x03\x04\x14\x00", "body"},
		{"UnknownColumn", importer.Options{Mapping: map[string]string{"Nome": "name", "Telefone": "phone"}, Mode: importer.ModeCreateOnly}, "Nome;Celular\nA;1\n", "query.mapping.Telefone"},
		{"UnknownField", importer.Options{Mapping: map[string]string{"Nome": "apelido"}, Mode: importer.ModeCreateOnly}, "Nome;Celular\nA;1\n", "query.mapping.Nome"},
		{"UnknownSegment", importer.Options{SegmentID: &missing}, "name;customer_code\nA;1\n", "query.segment_id"},
		{"AnotherAccountsSegment", importer.Options{SegmentID: &foreign.ID}, "name;customer_code\nA;1\n", "query.segment_id"},
		{"BadMode", importer.Options{Mode: "merge"}, "name;customer_code\nA;1\n", "query.mode"},
		{"BadDDD", importer.Options{DefaultDDD: "1"}, "name;customer_code\nA;1\n", "query.default_ddd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Upload(e.ctx, e.account, e.by, tc.opts, strings.NewReader(tc.data))
			f, ok := fault.As(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, fault.KindInvalid, f.Kind)
			require.Equal(t, tc.field, f.Fields[0].Field, "%+v", f)
		})
	}
	require.Zero(t, e.count("SELECT count(*) FROM imports"), "a refused upload stores nothing")
}
