package contact

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/fault"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	day := func(s string) *time.Time { d, _ := time.Parse(time.DateOnly, s); return &d }

	tests := []struct {
		name string
		in   Fields
		// fields that must be reported; empty means valid
		bad   []string
		check func(t *testing.T, v valid)
	}{
		{name: "MinimalWithPhone", in: Fields{Name: "A", Phones: []string{"11987654321"}}, check: func(t *testing.T, v valid) {
			require.Equal(t, []string{"+5511987654321"}, v.phones)
			require.Equal(t, "medium", v.priority)
			require.True(t, v.broadcast)
			require.Equal(t, []string{}, v.tags)
		}},
		{name: "MinimalWithEmail", in: Fields{Name: "A", Email: str(" A@Example.COM ")}, check: func(t *testing.T, v valid) {
			require.Equal(t, "a@example.com", *v.email)
		}},
		{name: "MinimalWithCode", in: Fields{Name: "A", CustomerCode: str(" C1 ")}, check: func(t *testing.T, v valid) {
			require.Equal(t, "C1", *v.customerCode)
		}},
		{name: "NinthDigitAndDuplicatePhonesCollapse", in: Fields{Name: "A", Phones: []string{"11 8765-4321", "+55 11 98765-4321"}}, check: func(t *testing.T, v valid) {
			require.Equal(t, []string{"+5511987654321"}, v.phones)
		}},
		{name: "CPFWithPunctuation", in: Fields{Name: "A", CustomerCode: str("1"), Document: str("529.982.247-25")}, check: func(t *testing.T, v valid) {
			require.Equal(t, "52998224725", *v.document)
			require.Equal(t, "cpf", *v.documentKind)
		}},
		{name: "CNPJ", in: Fields{Name: "A", CustomerCode: str("1"), Document: str("11.222.333/0001-81")}, check: func(t *testing.T, v valid) {
			require.Equal(t, "cnpj", *v.documentKind)
		}},
		{name: "BlankOptionalsAreAbsent", in: Fields{Name: "A", CustomerCode: str("1"), Document: str("  "), Email: str(""), RG: str(" ")}, check: func(t *testing.T, v valid) {
			require.Nil(t, v.document)
			require.Nil(t, v.email)
			require.Nil(t, v.rg)
		}},
		{name: "TagsTrimmedAndDeduplicated", in: Fields{Name: "A", CustomerCode: str("1"), Tags: []string{" vip", "vip ", "sp"}}, check: func(t *testing.T, v valid) {
			require.Equal(t, []string{"vip", "sp"}, v.tags)
		}},
		{name: "BroadcastOff", in: Fields{Name: "A", CustomerCode: str("1"), Broadcast: new(bool)}, check: func(t *testing.T, v valid) {
			require.False(t, v.broadcast)
		}},
		{name: "NoIdentifier", in: Fields{Name: "A"}, bad: []string{"phones"}},
		{name: "NoName", in: Fields{Name: "  ", CustomerCode: str("1")}, bad: []string{"name"}},
		{name: "NameTooLong", in: Fields{Name: strings.Repeat("é", 201), CustomerCode: str("1")}, bad: []string{"name"}},
		{name: "ControlCharactersInName", in: Fields{Name: "A\x00B", CustomerCode: str("1")}, bad: []string{"name"}},
		{name: "BadCPF", in: Fields{Name: "A", CustomerCode: str("1"), Document: str("529.982.247-24")}, bad: []string{"document"}},
		{name: "RepeatedDigitsCPF", in: Fields{Name: "A", CustomerCode: str("1"), Document: str("111.111.111-11")}, bad: []string{"document"}},
		{name: "PhoneWithoutDDD", in: Fields{Name: "A", Phones: []string{"98765-4321"}}, bad: []string{"phones[0]"}},
		{name: "SecondPhoneBad", in: Fields{Name: "A", Phones: []string{"11987654321", "abc"}}, bad: []string{"phones[1]"}},
		{name: "TooManyPhones", in: Fields{Name: "A", Phones: make([]string, 11)}, bad: []string{"phones"}},
		{name: "BadEmail", in: Fields{Name: "A", Email: str("Maria <m@example.com>")}, bad: []string{"email"}},
		{name: "BirthInFuture", in: Fields{Name: "A", CustomerCode: str("1"), BirthDate: day("2027-01-01")}, bad: []string{"birth_date"}},
		{name: "BirthTooOld", in: Fields{Name: "A", CustomerCode: str("1"), BirthDate: day("1850-01-01")}, bad: []string{"birth_date"}},
		{name: "BadPriority", in: Fields{Name: "A", CustomerCode: str("1"), Priority: "urgent"}, bad: []string{"priority"}},
		{name: "ScoreZero", in: Fields{Name: "A", CustomerCode: str("1"), PriorityScore: num(0)}, bad: []string{"priority_score"}},
		{name: "EmptyTag", in: Fields{Name: "A", CustomerCode: str("1"), Tags: []string{"ok", " "}}, bad: []string{"tags[1]"}},
		{name: "CodeTooLong", in: Fields{Name: "A", CustomerCode: str(strings.Repeat("x", 101))}, bad: []string{"customer_code"}},
		{name: "RGWithSymbols", in: Fields{Name: "A", CustomerCode: str("1"), RG: str("12;DROP")}, bad: []string{"rg"}},
		{name: "EverythingWrongAtOnce", in: Fields{Name: "", Document: str("1"), Phones: []string{"x"}, Email: str("y"), Priority: "z"},
			bad: []string{"name", "document", "phones[0]", "email", "priority"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := validate(tc.in, now, nil)
			if len(tc.bad) == 0 {
				require.NoError(t, err)
				if tc.check != nil {
					tc.check(t, v)
				}
				return
			}
			f, ok := fault.As(err)
			require.True(t, ok, "want a fault, got %v", err)
			require.Equal(t, fault.KindInvalid, f.Kind)
			var got []string
			for _, fe := range f.Fields {
				got = append(got, fe.Field)
			}
			require.ElementsMatch(t, tc.bad, got)
		})
	}
}
