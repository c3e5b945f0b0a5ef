package document

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// referenceCNPJ appends the two check digits to base (12 characters), written straight from Receita
// Federal's description so that it does not share code with ValidCNPJ.
func referenceCNPJ(t *testing.T, base string) string {
	t.Helper()
	require.Len(t, base, 12)
	digit := func(s string, weights []int) byte {
		sum := 0
		for i, w := range weights {
			sum += (int(s[i]) - 48) * w
		}
		if r := sum % 11; r >= 2 {
			return byte('0' + 11 - r)
		}
		return '0'
	}
	first := digit(base, []int{5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2})
	withFirst := base + string(first)
	return withFirst + string(digit(withFirst, []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}))
}

// validCases are also the seed corpus of FuzzParse.
var validCases = []struct {
	name      string
	raw       string
	wantValue string
	wantKind  Kind
}{
	{"CPFFormatted", "529.982.247-25", "52998224725", CPF},
	{"CPFDigits", "11144477735", "11144477735", CPF},
	{"CPFFormattedOther", "111.444.777-35", "11144477735", CPF},
	{"CPFSpaces", " 529 982 247 25 ", "52998224725", CPF},
	{"CPFLeadingZeros", "000.000.001-91", "00000000191", CPF},
	{"CNPJFormatted", "11.222.333/0001-81", "11222333000181", CNPJ},
	{"CNPJDigits", "45723174000110", "45723174000110", CNPJ},
	{"CNPJSecondCheckDigitZero", "45.723.174/0001-10", "45723174000110", CNPJ},
	{"CNPJAlphanumericReceitaExample", "12.ABC.345/01DE-35", "12ABC34501DE35", CNPJ},
	{"CNPJAlphanumericLowercase", "12.abc.345/01de-35", "12ABC34501DE35", CNPJ},
	{"CNPJAlphanumericBare", "12ABC34501DE35", "12ABC34501DE35", CNPJ},
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	for _, tc := range validCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			value, kind, err := Parse(tc.raw)
			require.NoError(t, err)
			require.Equal(t, tc.wantValue, value)
			require.Equal(t, tc.wantKind, kind)
		})
	}
}

func TestParseAlphanumericCNPJComputed(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"12ABC34501DE", "AB1CD2EF3GH4", "ZZZZZZZZ0001", "A00000000000", "000000000001"} {
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			want := referenceCNPJ(t, base)
			require.True(t, ValidCNPJ(want))
			value, kind, err := Parse(strings.ToLower(want))
			require.NoError(t, err)
			require.Equal(t, want, value)
			require.Equal(t, CNPJ, kind)
		})
	}
}

func TestReferenceCNPJMatchesPublishedExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		base string
		want string
	}{
		{"Receita", "12ABC34501DE", "12ABC34501DE35"},
		{"Numeric", "112223330001", "11222333000181"},
		{"NumericOther", "457231740001", "45723174000110"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, referenceCNPJ(t, tc.base))
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
	}{
		{"Empty", ""},
		{"OnlyPunctuation", "..-/ "},
		{"CPFWrongFirstCheckDigit", "529.982.247-35"},
		{"CPFWrongSecondCheckDigit", "529.982.247-26"},
		{"CPFRepeatedZeros", "000.000.000-00"},
		{"CPFRepeatedOnes", "111.111.111-11"},
		{"CPFRepeatedNines", "99999999999"},
		{"CPFWithLetter", "529.982.24A-25"},
		{"CPFTooShort", "529.982.247-2"},
		{"CPFTooLong", "529.982.247-255"},
		{"CNPJWrongFirstCheckDigit", "11.222.333/0001-91"},
		{"CNPJWrongSecondCheckDigit", "11.222.333/0001-82"},
		{"CNPJRepeatedZeros", "00.000.000/0000-00"},
		{"CNPJRepeatedOnes", "11111111111111"},
		{"CNPJAlphanumericWrongCheckDigits", "12.ABC.345/01DE-36"},
		{"CNPJLetterInCheckDigits", "12.ABC.345/01DE-3A"},
		{"CNPJTooShort", "11.222.333/0001-8"},
		{"CNPJTooLong", "11.222.333/0001-811"},
		{"TwelveCharacters", "112223330001"},
		{"OtherPunctuation", "529_982_247_25"},
		{"NonASCIILetter", "12.ÁBC.345/01DE-35"},
		{"TooLong", strings.Repeat(" ", 60) + "52998224725"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			value, kind, err := Parse(tc.raw)
			require.ErrorIs(t, err, ErrInvalid)
			require.Empty(t, value)
			require.Empty(t, kind)
		})
	}
}

func TestParseErrorIsReadable(t *testing.T) {
	t.Parallel()
	_, _, err := Parse("529.982.24A-25")
	require.EqualError(t, err, "invalid CPF/CNPJ: a CPF has only digits")
}

func TestValidCPF(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		digits string
		want   bool
	}{
		{"Valid", "52998224725", true},
		{"ValidOther", "11144477735", true},
		{"Formatted", "529.982.247-25", false},
		{"WrongCheckDigits", "52998224726", false},
		{"Repeated", "22222222222", false},
		{"Letter", "5299822472A", false},
		{"Short", "5299822472", false},
		{"Empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, ValidCPF(tc.digits))
		})
	}
}

func TestValidCNPJ(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string
		want  bool
	}{
		{"Numeric", "11222333000181", true},
		{"Alphanumeric", "12ABC34501DE35", true},
		{"Lowercase", "12abc34501de35", false},
		{"Formatted", "11.222.333/0001-81", false},
		{"WrongCheckDigits", "11222333000180", false},
		{"Repeated", "77777777777777", false},
		{"Punctuation", "12ABC34501D-35", false},
		{"Short", "1122233300018", false},
		{"Empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, ValidCNPJ(tc.value))
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range validCases {
		f.Add(tc.raw)
	}
	for _, raw := range []string{"", "000.000.000-00", "12.ABC.345/01DE-36", "529.982.24A-25"} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		t.Parallel()
		value, kind, err := Parse(raw)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		again, againKind, err := Parse(value)
		require.NoError(t, err)
		require.Equal(t, value, again)
		require.Equal(t, kind, againKind)
		switch kind {
		case CPF:
			require.True(t, ValidCPF(value))
		case CNPJ:
			require.True(t, ValidCNPJ(value))
		}
	})
}
