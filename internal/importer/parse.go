package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/fault"
)

// The encodings an upload is read in. Excel on Windows saves "CSV" in Windows-1252 and "CSV
// UTF-8" with a byte order mark; a file that is not valid UTF-8 is read as Windows-1252.
const (
	UTF8        = "utf-8"
	Windows1252 = "windows-1252"
)

var bom = []byte{0xEF, 0xBB, 0xBF}

// sniffDelimiter picks the delimiter of the header line (the first line that is not blank):
// the most frequent of ';', ',' and tab outside quotes. Brazilian Excel writes ';' because
// ',' is the decimal separator. A header with none of them is one column (',').
func sniffDelimiter(head []byte) rune {
	head = bytes.TrimPrefix(head, bom)
	counts := map[byte]int{}
	inQuotes, seen := false, false
	for _, b := range head {
		switch {
		case b == '"':
			inQuotes = !inQuotes
		case inQuotes:
		case b == '\n' || b == '\r':
			if seen {
				goto done
			}
		case b == ';' || b == ',' || b == '\t':
			counts[b]++
			seen = true
		case b != ' ':
			seen = true
		}
	}
done:
	best, n := byte(','), 0
	for _, d := range []byte{';', ',', '\t'} {
		if counts[d] > n {
			best, n = d, counts[d]
		}
	}
	return rune(best)
}

// notCSV says why head (the start of an upload) is not a CSV file, or "" when it may be one.
func notCSV(head []byte) string {
	switch {
	case len(bytes.TrimSpace(bytes.TrimPrefix(head, bom))) == 0:
		return "the file is empty"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "this is a ZIP or an Excel workbook (.xlsx), not CSV: in Excel use Save As > CSV"
	case bytes.HasPrefix(head, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		return "this is an old Excel workbook (.xls), not CSV: in Excel use Save As > CSV"
	case bytes.HasPrefix(head, []byte("%PDF")):
		return "this is a PDF, not CSV"
	case bytes.IndexByte(head, 0) >= 0:
		return "the file has NUL bytes: it is binary (or UTF-16), not CSV"
	}
	return ""
}

// utf8Checker follows whether a stream fed in pieces is valid UTF-8, carrying a character
// split between two pieces over to the next.
type utf8Checker struct {
	tail  []byte
	valid bool
}

func newUTF8Checker() *utf8Checker { return &utf8Checker{valid: true} }

func (c *utf8Checker) write(p []byte) {
	if !c.valid {
		return
	}
	buf := p
	if len(c.tail) > 0 {
		buf = append(c.tail, p...)
		c.tail = nil
	}
	// Keep an incomplete last character (at most 3 bytes) for the next piece.
	cut := len(buf)
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-3; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(buf[:cut]) {
		c.valid = false
		return
	}
	c.tail = append([]byte(nil), buf[cut:]...)
}

func (c *utf8Checker) done() bool { return c.valid && len(c.tail) == 0 }

// newCSVReader reads records from r in the given encoding and delimiter: the byte order mark
// is dropped, CRLF and LF both end a record, quoted fields may span lines, blank lines are
// skipped, and a stray quote is taken literally.
func newCSVReader(r io.Reader, encoding string, delim rune) *csv.Reader {
	br := bufio.NewReaderSize(r, 256<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, bom) {
		_, _ = br.Discard(3)
	}
	var in io.Reader = br
	if encoding == Windows1252 {
		in = charmap.Windows1252.NewDecoder().Reader(br)
	}
	cr := csv.NewReader(in)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	return cr
}

// readHeader reads the header record from the start of an upload.
func readHeader(head []byte, encoding string, delim rune) ([]string, error) {
	cr := newCSVReader(bytes.NewReader(head), encoding, delim)
	rec, err := cr.Read()
	if err != nil && !errors.Is(err, io.EOF) {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return nil, err
		}
	}
	out := make([]string, len(rec))
	for i, h := range rec {
		out[i] = strings.TrimSpace(h)
	}
	return out, nil
}

// Field kinds a column can be mapped to.
const (
	FieldName         = "name"
	FieldCustomerCode = "customer_code"
	FieldDocument     = "document"
	FieldPhone        = "phone"
	FieldEmail        = "email"
	FieldBirthDate    = "birth_date"
	FieldRG           = "rg"
	FieldTags         = "tags"
	FieldConsent      = "accepts_communications"
	customPrefix      = "custom."
)

// fieldAliases are other names a mapping may use for a field.
var fieldAliases = map[string]string{
	"cpf": FieldDocument, "cnpj": FieldDocument, "cpf_cnpj": FieldDocument, "phones": FieldPhone,
	"accepts_messages": FieldConsent, "consent": FieldConsent,
}

// repeatable fields may be mapped from several columns (phone, phone 2...; tag columns).
var repeatable = map[string]bool{FieldPhone: true, FieldTags: true}

var knownFields = []string{FieldName, FieldCustomerCode, FieldDocument, FieldPhone, FieldEmail, FieldBirthDate, FieldRG, FieldTags, FieldConsent}

// column is what one CSV column feeds.
type column struct {
	header string
	field  string // one of the Field constants, or "custom"
	key    string // the custom field key
	def    customfield.Field
}

// plan is how a file's records become contacts: which column feeds which field.
type plan struct {
	cols       []column // by column index; field "" is ignored
	width      int
	defaultDDD string
	consentCol string
}

// makePlan checks a mapping (header → field) against the file's header and the account's
// custom fields. With no mapping, headers that are field names are taken as they are.
func makePlan(header []string, mapping map[string]string, defs []customfield.Field, mode Mode, defaultDDD string) (*plan, error) {
	var errs []fault.FieldError
	bad := func(field, msg string, v any) {
		errs = append(errs, fault.FieldError{Field: field, Message: msg, Value: v})
	}
	p := &plan{cols: make([]column, len(header)), width: len(header), defaultDDD: defaultDDD}
	index := map[string]int{}
	for i, h := range header {
		if _, dup := index[strings.ToLower(h)]; !dup {
			index[strings.ToLower(h)] = i
		}
	}
	if len(mapping) == 0 {
		mapping = map[string]string{}
		for _, h := range header {
			f := strings.ToLower(h)
			if a, ok := fieldAliases[f]; ok {
				f = a
			}
			if contains(knownFields, f) {
				mapping[h] = f
			}
		}
	}
	used := map[string]string{}
	for h, f := range mapping {
		loc := "query.mapping." + h
		i, ok := index[strings.ToLower(strings.TrimSpace(h))]
		if !ok {
			bad(loc, fmt.Sprintf("the file has no column %q; its columns are %s", h, strings.Join(header, ", ")), h)
			continue
		}
		f = strings.TrimSpace(f)
		if a, ok := fieldAliases[strings.ToLower(f)]; ok {
			f = a
		}
		col := column{header: header[i], field: f}
		switch {
		case strings.HasPrefix(f, customPrefix):
			key := strings.TrimPrefix(f, customPrefix)
			j := indexFunc(defs, func(d customfield.Field) bool { return d.Key == key })
			if j < 0 {
				bad(loc, fmt.Sprintf("no custom field has key %q", key), f)
				continue
			}
			col.field, col.key, col.def = "custom", key, defs[j]
		case f == "" || f == "ignore":
			continue
		case !contains(knownFields, f):
			bad(loc, fmt.Sprintf("unknown field; use one of %s or custom.<key>", strings.Join(knownFields, ", ")), f)
			continue
		}
		id := col.field + col.key
		if prev, dup := used[id]; dup && !repeatable[col.field] {
			bad(loc, fmt.Sprintf("field %s is already mapped from column %q", f, prev), f)
			continue
		}
		used[id] = h
		if p.cols[i].field != "" {
			bad(loc, "this column is mapped twice", f)
			continue
		}
		p.cols[i] = col
		if col.field == FieldConsent {
			p.consentCol = col.header
		}
	}
	if len(used) == 0 && len(errs) == 0 {
		bad("query.mapping", "no column is mapped to a contact field; give a mapping such as {\"Nome\":\"name\",\"Celular\":\"phone\"}", nil)
	}
	need := map[Mode]string{ModeUpsertByCode: FieldCustomerCode, ModeUpsertByPhone: FieldPhone, ModeCreateOnly: FieldName}
	if f, ok := need[mode]; ok && used[f] == "" && len(errs) == 0 {
		bad("query.mapping", fmt.Sprintf("mode %s needs a column mapped to %s", mode, f), nil)
	}
	if mode == ModeUpdateOnly && used[FieldCustomerCode] == "" && used[FieldPhone] == "" && len(errs) == 0 {
		bad("query.mapping", "mode update_only needs a column mapped to customer_code or phone to find contacts by", nil)
	}
	if len(errs) > 0 {
		return nil, fault.Invalid("invalid import mapping", errs...)
	}
	return p, nil
}

// rowError is one problem of a record, for the errors CSV.
type rowError struct {
	Column string
	Reason string
}

// row is one record turned into a contact's normalised fields.
type row struct {
	line    int
	c       contact.Normalized
	noName  bool
	consent bool
}

// convert turns one record into a contact, judged by contact.Normalize exactly as the API
// judges a contact, or the problems of the record, each with its column.
func (p *plan) convert(rec []string, now time.Time, defs []customfield.Field) (row, []rowError) {
	if len(rec) != p.width {
		return row{}, []rowError{{Reason: fmt.Sprintf("has %d columns, the header has %d", len(rec), p.width)}}
	}
	var (
		f        contact.Fields
		r        row
		errs     []rowError
		phoneCol []string
		tagCol   []string
		custom   map[string]any
		colOf    = map[string]string{}
	)
	for i, col := range p.cols {
		if col.field == "" {
			continue
		}
		v := strings.TrimSpace(rec[i])
		if v == "" {
			continue
		}
		switch col.field {
		case FieldName:
			f.Name, colOf["name"] = v, col.header
		case FieldCustomerCode:
			f.CustomerCode, colOf["customer_code"] = &v, col.header
		case FieldDocument:
			d := padCPF(v)
			f.Document, colOf["document"] = &d, col.header
		case FieldEmail:
			f.Email, colOf["email"] = &v, col.header
		case FieldRG:
			f.RG, colOf["rg"] = &v, col.header
		case FieldBirthDate:
			t, ok := parseDate(v)
			if !ok {
				errs = append(errs, rowError{col.header, fmt.Sprintf("birth date %q: write it as 31/12/1990 or 1990-12-31", v)})
				continue
			}
			f.BirthDate, colOf["birth_date"] = &t, col.header
		case FieldPhone:
			for _, n := range splitList(v) {
				f.Phones = append(f.Phones, withDDD(n, p.defaultDDD))
				phoneCol = append(phoneCol, col.header)
			}
		case FieldTags:
			for _, t := range splitList(v) {
				f.Tags = append(f.Tags, t)
				tagCol = append(tagCol, col.header)
			}
		case FieldConsent:
			yes, ok := parseYesNo(v)
			if !ok {
				errs = append(errs, rowError{col.header, fmt.Sprintf("%q: write sim/não, s/n, yes/no, true/false or 1/0", v)})
				continue
			}
			r.consent = yes
		case "custom":
			val, ok := customValue(col.def, v)
			if !ok {
				errs = append(errs, rowError{col.header, fmt.Sprintf("%q is not a %s value", v, col.def.Type)})
				continue
			}
			if custom == nil {
				custom = map[string]any{}
			}
			custom[col.key] = val
			colOf["custom_fields."+col.key] = col.header
		}
	}
	if f.Name == "" {
		// Whether a name is required depends on whether the row creates a contact, which the
		// merge decides; a placeholder lets the other fields be judged.
		r.noName, f.Name = true, "-"
	}
	f.Custom = custom
	n, err := contact.Normalize(f, now, defs)
	if err != nil {
		fe, _ := fault.As(err)
		if fe == nil {
			return row{}, append(errs, rowError{Reason: err.Error()})
		}
		for _, e := range fe.Fields {
			errs = append(errs, rowError{Column: columnOf(e.Field, colOf, phoneCol, tagCol), Reason: reason(e)})
		}
	}
	if len(errs) > 0 {
		return row{}, errs
	}
	if r.noName {
		n.Name = ""
	}
	r.c = n
	return r, nil
}

// columnOf names the CSV column a contact field error comes from.
func columnOf(field string, colOf map[string]string, phoneCol, tagCol []string) string {
	var i int
	switch {
	case colOf[field] != "":
		return colOf[field]
	case sscan(field, "phones[%d]", &i) && i < len(phoneCol):
		return phoneCol[i]
	case sscan(field, "tags[%d]", &i) && i < len(tagCol):
		return tagCol[i]
	}
	return ""
}

func sscan(s, format string, i *int) bool {
	_, err := fmt.Sscanf(s, format, i)
	return err == nil
}

func reason(e fault.FieldError) string {
	if e.Value != nil && e.Value != "" {
		if s, ok := e.Value.(string); ok {
			return fmt.Sprintf("%q %s", s, e.Message)
		}
	}
	if e.Field == "phones" {
		return e.Message
	}
	return e.Field + " " + e.Message
}

// padCPF restores the leading zeros Excel drops when a CPF column is read as a number
// ("1234567890" for 012.345.678-90): 9 or 10 bare digits become 11.
func padCPF(v string) string {
	if (len(v) == 9 || len(v) == 10) && allDigits(v) {
		return strings.Repeat("0", 11-len(v)) + v
	}
	return v
}

// withDDD prefixes the import's default DDD to a Brazilian number written without one (8 or
// 9 digits, no + and no leading 0).
func withDDD(n, ddd string) string {
	if ddd == "" || strings.HasPrefix(n, "+") || strings.HasPrefix(n, "0") {
		return n
	}
	digits := 0
	for _, r := range n {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if digits == 8 || digits == 9 {
		return ddd + n
	}
	return n
}

// splitList splits a cell that holds several values ("11 98765-4321 / 11 3456-7890",
// "vip, atacado").
func splitList(v string) []string {
	parts := strings.FieldsFunc(v, func(r rune) bool { return r == '/' || r == ',' || r == ';' || r == '|' })
	out := parts[:0]
	for _, s := range parts {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseDate reads 31/12/1990 (Brazilian order), 31-12-1990 and 1990-12-31.
func parseDate(v string) (time.Time, bool) {
	for _, layout := range []string{"02/01/2006", "2/1/2006", "2006-01-02", "02-01-2006", "02.01.2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseYesNo reads an "accepts communications" cell.
func parseYesNo(v string) (yes, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "sim", "s", "yes", "y", "1", "true", "verdadeiro", "v", "x":
		return true, true
	case "não", "nao", "n", "no", "0", "false", "falso", "f":
		return false, true
	}
	return false, false
}

// customValue turns a cell into the JSON value a custom field of that type takes; the value
// is then checked by customfield.CheckValues like any other.
func customValue(d customfield.Field, v string) (any, bool) {
	switch d.Type {
	case customfield.Number:
		s := v
		if strings.Contains(s, ",") {
			// Brazilian: 1.234,56
			s = strings.ReplaceAll(strings.ReplaceAll(s, ".", ""), ",", ".")
		}
		n, err := strconv.ParseFloat(s, 64)
		return n, err == nil
	case customfield.Boolean:
		return parseYesNo(v)
	case customfield.Date:
		t, ok := parseDate(v)
		return t.Format(time.DateOnly), ok
	}
	return v, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func indexFunc[T any](xs []T, f func(T) bool) int {
	for i, x := range xs {
		if f(x) {
			return i
		}
	}
	return -1
}

// consentEvidence is the import evidence for a row's "accepts communications = yes".
func consentEvidence(fileName string, line int, column string, at time.Time, by consent.Recorder) consent.ImportEvidence {
	return consent.ImportEvidence{File: fileName, Row: line, Column: column, At: at, By: by}
}
