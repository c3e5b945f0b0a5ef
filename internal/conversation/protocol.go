package conversation

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/conversa-hq/conversa/internal/fault"
)

// DefaultFormat numbers attendances by day: 20261202000001, 20261202000002, ...
const DefaultFormat = "{yyyy}{mm}{dd}{seq:6}"

// protocolZone is the time zone protocol dates are written in: Brazil's (UTC-3, without
// daylight saving since 2019), where the accounts' customers read them. A fixed zone keeps
// the numbering independent of the host's tz database.
var protocolZone = time.FixedZone("BRT", -3*60*60)

// maxFormatLength bounds a format, so a protocol stays something a person can read out.
const maxFormatLength = 40

// Format is a parsed protocol format: literal text, the date tokens {yyyy}, {yy}, {mm} and
// {dd}, and exactly one {seq:N}, the attendance's sequence number zero-padded to N digits.
// The sequence restarts with each period the format's finest date token names (daily with
// {dd}, monthly with {mm}, yearly with {yyyy} or {yy}, never without a date), so the protocol
// stays unique.
type Format struct {
	text  string
	parts []part
}

type part struct {
	literal string
	token   string // yyyy, yy, mm, dd, seq
	width   int    // seq only
}

// ParseFormat checks a protocol format and says what is wrong with it in terms an
// administrator can act on.
func ParseFormat(s string) (Format, error) {
	bad := func(msg string) (Format, error) {
		return Format{}, fault.Invalid("invalid protocol format", fault.FieldError{Field: "format", Message: msg, Value: s})
	}
	if s == "" || len(s) > maxFormatLength {
		return bad(fmt.Sprintf("give a format of 1 to %d characters, e.g. %s", maxFormatLength, DefaultFormat))
	}
	f := Format{text: s}
	seen := map[string]bool{}
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open != 0 {
			lit := rest
			if open > 0 {
				lit = rest[:open]
			}
			for _, r := range lit {
				if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./#", r)) {
					return bad(fmt.Sprintf("%q is not allowed: use letters, digits, - _ . / # and the tokens {yyyy} {yy} {mm} {dd} {seq:N}", r))
				}
			}
			f.parts = append(f.parts, part{literal: lit})
			rest = rest[len(lit):]
			continue
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return bad("a token is not closed with }")
		}
		tok := rest[1:end]
		rest = rest[end+1:]
		p := part{token: tok}
		switch {
		case tok == "yyyy" || tok == "yy" || tok == "mm" || tok == "dd":
		case strings.HasPrefix(tok, "seq:"):
			n, err := strconv.Atoi(tok[4:])
			if err != nil || n < 1 || n > 12 {
				return bad("{seq:N} needs N from 1 to 12 digits")
			}
			p.token, p.width = "seq", n
		default:
			return bad(fmt.Sprintf("unknown token {%s}: use {yyyy} {yy} {mm} {dd} {seq:N}", tok))
		}
		if seen[p.token] {
			return bad(fmt.Sprintf("{%s} appears twice", tok))
		}
		seen[p.token] = true
		f.parts = append(f.parts, p)
	}
	year := seen["yyyy"] || seen["yy"]
	switch {
	case !seen["seq"]:
		return bad("the format needs a sequence {seq:N} so that protocols are unique")
	case seen["yyyy"] && seen["yy"]:
		return bad("use {yyyy} or {yy}, not both")
	case seen["dd"] && !(seen["mm"] && year):
		return bad("{dd} needs {mm} and the year, or the daily sequence would repeat next month")
	case seen["mm"] && !year:
		return bad("{mm} needs the year, or the monthly sequence would repeat next year")
	}
	return f, nil
}

// String is the format as written.
func (f Format) String() string { return f.text }

// Period names the counter the sequence comes from at t: the format's finest date, so the
// sequence restarts with each day, month or year, or "all" when it never restarts.
func (f Format) Period(t time.Time) string {
	t = t.In(protocolZone)
	has := map[string]bool{}
	for _, p := range f.parts {
		has[p.token] = true
	}
	switch {
	case has["dd"]:
		return t.Format("d:20060102")
	case has["mm"]:
		return t.Format("m:200601")
	case has["yyyy"] || has["yy"]:
		return t.Format("y:2006")
	}
	return "all"
}

// Render is the protocol of the seq-th attendance of t's period. A sequence wider than N
// digits is written in full rather than cut, so it stays unique.
func (f Format) Render(t time.Time, seq int64) string {
	t = t.In(protocolZone)
	var b strings.Builder
	for _, p := range f.parts {
		switch p.token {
		case "":
			b.WriteString(p.literal)
		case "yyyy":
			b.WriteString(t.Format("2006"))
		case "yy":
			b.WriteString(t.Format("06"))
		case "mm":
			b.WriteString(t.Format("01"))
		case "dd":
			b.WriteString(t.Format("02"))
		case "seq":
			fmt.Fprintf(&b, "%0*d", p.width, seq)
		}
	}
	return b.String()
}

// mustFormat parses a format stored earlier (validated when it was set), falling back to the
// default should one ever fail to parse, so that numbering never stops the inbound pipeline.
func mustFormat(s string) Format {
	if s == "" {
		s = DefaultFormat
	}
	f, err := ParseFormat(s)
	if err != nil {
		f, _ = ParseFormat(DefaultFormat)
	}
	return f
}
