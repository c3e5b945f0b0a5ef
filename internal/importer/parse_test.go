package importer

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"

	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/fault"
)

func TestSniffDelimiter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		head string
		want rune
	}{
		{"Semicolon", "Nome;CPF;Celular\r\nA;1;2\r\n", ';'},
		{"Comma", "name,phone\nA,1\n", ','},
		{"Tab", "name\tphone\n", '\t'},
		{"SemicolonWithCommasInQuotes", "\"Nome, completo\";\"Valor, R$\";CPF\n", ';'},
		{"BlankLinesFirst", "\r\n\r\nNome;Celular\r\n", ';'},
		{"BOM", "\xEF\xBB\xBFNome;Celular\n", ';'},
		{"OneColumn", "Celular\n11987654321\n", ','},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, string(tc.want), string(sniffDelimiter([]byte(tc.head))))
		})
	}
}

func TestNotCSV(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		head string
		bad  bool
	}{
		{"Empty", "", true},
		{"OnlyBOMAndBlank", "\xEF\xBB\xBF\r\n\r\n", true},
		{"XLSX", "PK\x03\x04rest", true},
		{"XLS", "\xD0\xCF\x11\xE0rest", true},
		{"PDF", "%PDF-1.4", true},
		{"UTF16", "N\x00o\x00m\x00e\x00", true},
		{"CSV", "Nome;Celular\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.bad, notCSV([]byte(tc.head)) != "")
		})
	}
}

func TestUTF8CheckerAcrossPieces(t *testing.T) {
	t.Parallel()
	utf := []byte("Conceição;São Paulo;ação\n")
	latin, err := charmap.Windows1252.NewEncoder().Bytes(utf)
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		data  []byte
		valid bool
	}{
		{"UTF8", utf, true},
		{"Windows1252", latin, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every split point, so a character cut between two pieces is seen whole.
			for cut := 0; cut <= len(tc.data); cut++ {
				c := newUTF8Checker()
				c.write(tc.data[:cut])
				c.write(tc.data[cut:])
				require.Equal(t, tc.valid, c.done(), "cut at %d", cut)
			}
		})
	}
}

// readAll reads every record of data as the job does.
func readAll(t *testing.T, data []byte, encoding string) ([][]string, []int) {
	t.Helper()
	cr := newCSVReader(bytes.NewReader(data), encoding, sniffDelimiter(data))
	var (
		out   [][]string
		lines []int
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, lines
		}
		require.NoError(t, err)
		if blank(rec) {
			continue
		}
		line, _ := cr.FieldPos(0)
		out = append(out, append([]string(nil), rec...))
		lines = append(lines, line)
	}
}

func TestCSVReaderSwallowsExcelExports(t *testing.T) {
	t.Parallel()
	latin, err := charmap.Windows1252.NewEncoder().String("Nome;Cidade\r\nJoão;São Paulo\r\n")
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		data     string
		encoding string
		want     [][]string
		lines    []int
	}{
		{"CRLF", "a;b\r\n1;2\r\n", UTF8, [][]string{{"a", "b"}, {"1", "2"}}, []int{1, 2}},
		{"BOM", "\xEF\xBB\xBFa;b\n1;2\n", UTF8, [][]string{{"a", "b"}, {"1", "2"}}, []int{1, 2}},
		{"QuotedNewline", "a;b\r\n\"linha 1\r\nlinha 2\";2\r\n3;4\r\n", UTF8, [][]string{{"a", "b"}, {"linha 1\nlinha 2", "2"}, {"3", "4"}}, []int{1, 2, 4}},
		{"BlankLinesAndEmptyRows", "a;b\r\n\r\n1;2\r\n;\r\n\r\n3;4", UTF8, [][]string{{"a", "b"}, {"1", "2"}, {"3", "4"}}, []int{1, 3, 6}},
		{"Windows1252", latin, Windows1252, [][]string{{"Nome", "Cidade"}, {"João", "São Paulo"}}, []int{1, 2}},
		{"StrayQuote", "a;b\n5\" tall;2\n", UTF8, [][]string{{"a", "b"}, {"5\" tall", "2"}}, []int{1, 2}},
		{"Comma", "a,b\n\"1,5\",2\n", UTF8, [][]string{{"a", "b"}, {"1,5", "2"}}, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, lines := readAll(t, []byte(tc.data), tc.encoding)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.lines, lines)
		})
	}
}

func TestConvertRow(t *testing.T) {
	t.Parallel()
	header := []string{"Nome", "Código", "CPF", "Celular", "Fixo", "E-mail", "Nascimento", "Aceita", "Tags", "Limite"}
	defs := []customfield.Field{{Key: "limite", Type: customfield.Number}}
	mapping := map[string]string{"Nome": "name", "Código": "customer_code", "CPF": "cpf", "Celular": "phone", "Fixo": "phone",
		"E-mail": "email", "Nascimento": "birth_date", "Aceita": "accepts_communications", "Tags": "tags", "Limite": "custom.limite"}
	p, err := makePlan(header, mapping, defs, ModeUpsertByCode, "11")
	require.NoError(t, err)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rec := func(over map[int]string) []string {
		r := []string{"Maria", "C1", "123.456.789-09", "(11) 98765-4321", "", "Maria@Example.com", "31/12/1990", "sim", "vip, atacado", "1.234,56"}
		for i, v := range over {
			r[i] = v
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		rec     []string
		check   func(t *testing.T, r row)
		problem string // column of the expected problem
	}{
		{name: "Good", rec: rec(nil), check: func(t *testing.T, r row) {
			require.Equal(t, "Maria", r.c.Name)
			require.Equal(t, "12345678909", *r.c.Document)
			require.Equal(t, []string{"+5511987654321"}, r.c.Phones)
			require.Equal(t, "maria@example.com", *r.c.Email)
			require.Equal(t, "1990-12-31", r.c.BirthDate.Format(time.DateOnly))
			require.True(t, r.consent)
			require.Equal(t, []string{"vip", "atacado"}, r.c.Tags)
			require.Equal(t, 1234.56, r.c.Custom["limite"])
		}},
		{name: "PhonePlus55", rec: rec(map[int]string{3: "+55 11 98765-4321"}), check: func(t *testing.T, r row) {
			require.Equal(t, []string{"+5511987654321"}, r.c.Phones)
		}},
		{name: "PhoneDigits55", rec: rec(map[int]string{3: "5511987654321"}), check: func(t *testing.T, r row) {
			require.Equal(t, []string{"+5511987654321"}, r.c.Phones)
		}},
		{name: "PhoneWithoutDDDTakesDefault", rec: rec(map[int]string{3: "98765-4321"}), check: func(t *testing.T, r row) {
			require.Equal(t, []string{"+5511987654321"}, r.c.Phones)
		}},
		{name: "OldEightDigitMobileGetsNinthDigit", rec: rec(map[int]string{3: "(21) 8765-4321"}), check: func(t *testing.T, r row) {
			require.Equal(t, []string{"+5521987654321"}, r.c.Phones)
		}},
		{name: "TwoPhoneColumnsAndTwoInACell", rec: rec(map[int]string{3: "11 98765-4321 / 21 99876-5432", 4: "(11) 3456-7890"}), check: func(t *testing.T, r row) {
			require.Equal(t, []string{"+5511987654321", "+5521998765432", "+551134567890"}, r.c.Phones)
		}},
		{name: "CPFDigitsOnly", rec: rec(map[int]string{2: "12345678909"}), check: func(t *testing.T, r row) {
			require.Equal(t, "12345678909", *r.c.Document)
		}},
		{name: "CPFWithLeadingZeroLostByExcel", rec: rec(map[int]string{2: "1234567890"}), check: func(t *testing.T, r row) {
			require.Equal(t, "01234567890", *r.c.Document)
		}},
		{name: "CNPJ", rec: rec(map[int]string{2: "11.222.333/0001-81"}), check: func(t *testing.T, r row) {
			require.Equal(t, "cnpj", *r.c.DocumentKind)
		}},
		{name: "ConsentNao", rec: rec(map[int]string{7: "Não"}), check: func(t *testing.T, r row) { require.False(t, r.consent) }},
		{name: "ConsentS", rec: rec(map[int]string{7: "S"}), check: func(t *testing.T, r row) { require.True(t, r.consent) }},
		{name: "ConsentTrue", rec: rec(map[int]string{7: "TRUE"}), check: func(t *testing.T, r row) { require.True(t, r.consent) }},
		{name: "ConsentZero", rec: rec(map[int]string{7: "0"}), check: func(t *testing.T, r row) { require.False(t, r.consent) }},
		{name: "MissingNameLeftToTheMerge", rec: rec(map[int]string{0: " "}), check: func(t *testing.T, r row) {
			require.True(t, r.noName)
			require.Empty(t, r.c.Name)
		}},
		{name: "BadCPF", rec: rec(map[int]string{2: "123.456.789-00"}), problem: "CPF"},
		{name: "BadPhone", rec: rec(map[int]string{3: "12345"}), problem: "Celular"},
		{name: "BadSecondPhone", rec: rec(map[int]string{4: "abc"}), problem: "Fixo"},
		{name: "BadEmail", rec: rec(map[int]string{5: "maria@"}), problem: "E-mail"},
		{name: "BadDate", rec: rec(map[int]string{6: "ontem"}), problem: "Nascimento"},
		{name: "FutureBirthDate", rec: rec(map[int]string{6: "01/01/2030"}), problem: "Nascimento"},
		{name: "BadConsent", rec: rec(map[int]string{7: "talvez"}), problem: "Aceita"},
		{name: "BadCustomNumber", rec: rec(map[int]string{9: "muito"}), problem: "Limite"},
		{name: "WrongColumnCount", rec: []string{"Maria", "C1"}, problem: ""},
		{name: "NoIdentifier", rec: []string{"Maria", "", "", "", "", "", "", "", "", ""}, problem: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, problems := p.convert(tc.rec, now, defs)
			if tc.check != nil {
				require.Empty(t, problems)
				tc.check(t, r)
				return
			}
			require.NotEmpty(t, problems)
			require.Equal(t, tc.problem, problems[0].Column, "%+v", problems)
			require.NotEmpty(t, problems[0].Reason)
		})
	}
}

func TestMakePlanRefusesBadMappings(t *testing.T) {
	t.Parallel()
	header := []string{"Nome", "Código", "Celular"}
	defs := []customfield.Field{{Key: "limite", Type: customfield.Number}}
	for _, tc := range []struct {
		name    string
		mapping map[string]string
		mode    Mode
		want    string
	}{
		{"UnknownColumn", map[string]string{"Nome": "name", "Cidade": "name"}, ModeCreateOnly, "no column"},
		{"UnknownField", map[string]string{"Nome": "nome_completo"}, ModeCreateOnly, "unknown field"},
		{"UnknownCustomField", map[string]string{"Nome": "name", "Código": "custom.cidade"}, ModeCreateOnly, "no custom field"},
		{"FieldTwice", map[string]string{"Nome": "name", "Código": "name"}, ModeCreateOnly, "already mapped"},
		{"UpsertByCodeWithoutCode", map[string]string{"Nome": "name"}, ModeUpsertByCode, "needs a column mapped to customer_code"},
		{"UpsertByPhoneWithoutPhone", map[string]string{"Nome": "name"}, ModeUpsertByPhone, "needs a column mapped to phone"},
		{"NothingMapped", map[string]string{"Nome": "ignore"}, ModeCreateOnly, "no column is mapped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := makePlan(header, tc.mapping, defs, tc.mode, "")
			require.Error(t, err)
			require.Contains(t, strings.ToLower(errString(err)), tc.want)
		})
	}
	t.Run("HeadersNamedLikeFields", func(t *testing.T) {
		p, err := makePlan([]string{"name", "phone", "other"}, nil, nil, ModeUpsertByPhone, "")
		require.NoError(t, err)
		require.Equal(t, "name", p.headerOf(FieldName))
		require.Equal(t, "phone", p.headerOf(FieldPhone))
	})
}

func errString(err error) string {
	var sb strings.Builder
	sb.WriteString(err.Error())
	if fe, ok := asFault(err); ok {
		for _, f := range fe {
			sb.WriteString(" " + f)
		}
	}
	return sb.String()
}

func asFault(err error) ([]string, bool) {
	fe, ok := fault.As(err)
	if !ok {
		return nil, false
	}
	out := make([]string, len(fe.Fields))
	for i, f := range fe.Fields {
		out[i] = f.Message
	}
	return out, true
}

// BenchmarkConvert is the per-row cost of judging a typical row (parse is separate).
func BenchmarkConvert(b *testing.B) {
	header := []string{"Nome", "Código", "CPF", "Celular", "E-mail", "Nascimento", "Aceita"}
	mapping := map[string]string{"Nome": "name", "Código": "customer_code", "CPF": "cpf", "Celular": "phone", "E-mail": "email", "Nascimento": "birth_date", "Aceita": "accepts_communications"}
	p, err := makePlan(header, mapping, nil, ModeUpsertByCode, "")
	require.NoError(b, err)
	rec := []string{"Maria da Silva Santos", "IMP-000000123", "123.456.789-09", "(11) 98765-4321", "cliente123@example.com", "31/12/1990", "não"}
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, errs := p.convert(rec, now, nil); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
