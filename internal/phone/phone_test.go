package phone

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// validCases are also the seed corpus of FuzzNormalize.
var validCases = []struct {
	name string
	raw  string
	want Number
}{
	{"InternationalFormatted", "+55 (11) 98765-4321", Number{E164: "+5511987654321"}},
	{"E164", "+5511987654321", Number{E164: "+5511987654321"}},
	{"NationalWithSpace", "11 98765-4321", Number{E164: "+5511987654321"}},
	{"NationalParentheses", "(11)98765-4321", Number{E164: "+5511987654321"}},
	{"NationalDots", "11.98765.4321", Number{E164: "+5511987654321"}},
	{"SurroundingSpaces", "  +55 11 98765-4321 ", Number{E164: "+5511987654321"}},
	{"CountryCodeWithoutPlus13Digits", "5511987654321", Number{E164: "+5511987654321"}},
	{"CountryCodeWithoutPlus12Digits", "551187654321", Number{E164: "+5511987654321"}},
	{"TrunkPrefix", "011 98765-4321", Number{E164: "+5511987654321"}},
	{"TrunkPrefixCarrierPlaceholder", "0xx11 98765-4321", Number{E164: "+5511987654321"}},
	{"TrunkPrefixCarrierPlaceholderUpper", "(0XX11) 98765-4321", Number{E164: "+5511987654321"}},
	{"TrunkPrefixCarrierCode", "0 21 11 98765-4321", Number{E164: "+5511987654321"}},
	{"NinthDigitPresent", "+55 11 98765-4321", Number{E164: "+5511987654321"}},
	{"NinthDigitAdded", "+55 11 8765-4321", Number{E164: "+5511987654321"}},
	{"NinthDigitAddedNational", "(21) 6123-4567", Number{E164: "+5521961234567"}},
	{"NinthDigitAddedSubscriberStarting7", "+55 85 7123-4567", Number{E164: "+5585971234567"}},
	{"LandlineUnchanged", "+55 11 3456-7890", Number{E164: "+551134567890"}},
	{"LandlineNationalUnchanged", "(61) 2345-6789", Number{E164: "+556123456789"}},
	{"TrunkPrefixOldMobile", "(011) 8765-4321", Number{E164: "+5511987654321"}},
	// Ambiguous digits 0198765-4321: read as trunk 0 + DDD 19 + old mobile, not as DDD 01.
	{"TrunkPrefixReadBeforeDDD", "(01) 98765-4321", Number{E164: "+5519987654321"}},
	{"DDD55", "(55) 99123-4567", Number{E164: "+5555991234567"}},
	{"ForeignUS", "+1 415 555 2671", Number{E164: "+14155552671", Foreign: true}},
	{"ForeignUK", "+44 20 7946 0958", Number{E164: "+442079460958", Foreign: true}},
	{"ForeignPortugal", "+351 912 345 678", Number{E164: "+351912345678", Foreign: true}},
}

// invalidDDDs are two-digit prefixes that are not Brazilian area codes.
var invalidDDDs = []string{
	"00", "01", "10", "20", "23", "25", "26", "29", "30", "36", "39", "40", "50",
	"52", "56", "57", "58", "59", "60", "70", "72", "76", "78", "80", "90",
}

func TestNormalizeValid(t *testing.T) {
	t.Parallel()
	for _, tc := range validCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Normalize(tc.raw)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNormalizeNinthDigitSameNumber(t *testing.T) {
	t.Parallel()
	old, err := Normalize("+55 11 8765-4321")
	require.NoError(t, err)
	current, err := Normalize("+55 11 98765-4321")
	require.NoError(t, err)
	require.Equal(t, current.E164, old.E164)
}

func TestNormalizeInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
	}{
		{"Empty", ""},
		{"OnlySpaces", "   "},
		{"OnlyPunctuation", "(-.)"},
		{"OnlyPlus", "+"},
		{"Letters", "abc"},
		{"LetterInside", "11 9876A-4321"},
		{"Extension", "+55 11 98765-4321 ext 2"},
		{"PlusNotLeading", "55 11 98765-4321+"},
		{"DoublePlus", "++55 11 98765-4321"},
		{"Slash", "11/98765-4321"},
		{"VanityLetters", "+1 800 FLOWERS"},
		{"MobileWithoutDDD", "98765-4321"},
		{"LandlineWithoutDDD", "3456-7890"},
		{"OldMobileWithoutDDD", "8765-4321"},
		{"BrazilTooShort", "+55 11 9876-543"},
		{"TrunkPrefixAfterCountryCode", "+55 011 98765-4321"},
		{"BrazilTooLong", "+55 11 98765-43210"},
		{"NationalTooLong", "11 98765-43210"},
		{"LandlineStartingWith1", "+55 11 1234-5678"},
		{"NineDigitsNotMobile", "+55 11 3876-54321"},
		{"TollFree", "0800 123 4567"},
		{"NationwideWithoutDDD", "4004-1234"},
		{"ForeignInvalid", "+1 415 555 267"},
		{"ForeignTooShort", "+44 20 7946"},
		{"UnknownCountryCode", "+999 1234 5678"},
		{"TooShort", "1"},
		{"InputTooLong", strings.Repeat("1", 41)},
		{"InputTooLongWithSpaces", "+55 11 98765-4321" + strings.Repeat(" ", 30)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Normalize(tc.raw)
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

func TestNormalizeInvalidDDD(t *testing.T) {
	t.Parallel()
	for _, ddd := range invalidDDDs {
		inputs := []string{
			"+55 " + ddd + " 98765-4321",
			"+55 " + ddd + " 3456-7890",
			"(" + ddd + ") 3456-7890",
			"55" + ddd + "987654321",
		}
		if ddd[0] != '0' {
			// With a leading 0 the national form is read as trunk prefix + DDD (see TrunkPrefixReadBeforeDDD).
			inputs = append(inputs, "("+ddd+") 98765-4321")
		}
		for _, raw := range inputs {
			t.Run(raw, func(t *testing.T) {
				t.Parallel()
				_, err := Normalize(raw)
				require.ErrorIs(t, err, ErrInvalid)
			})
		}
	}
}

func TestNormalizeErrorIsReadable(t *testing.T) {
	t.Parallel()
	_, err := Normalize("+55 20 98765-4321")
	require.ErrorIs(t, err, ErrInvalid)
	require.EqualError(t, err, "invalid phone number: DDD 20 is not in use")
}

func FuzzNormalize(f *testing.F) {
	for _, tc := range validCases {
		f.Add(tc.raw)
	}
	for _, raw := range []string{"", "+", "0xx", "(0xx", "98765-4321", "+55 00 98765-4321", "0800 123 4567"} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		t.Parallel()
		got, err := Normalize(raw)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		again, err := Normalize(got.E164)
		require.NoError(t, err, "normalising %q", got.E164)
		require.Equal(t, got, again)
	})
}

func BenchmarkNormalize(b *testing.B) {
	for b.Loop() {
		if _, err := Normalize("+55 (11) 8765-4321"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFastPathMatchesParser checks the fast path against the full phonenumbers path over every
// DDD from 00 to 99 and subscriber numbers of each kind, written in the forms imports meet.
func TestFastPathMatchesParser(t *testing.T) {
	t.Parallel()
	subscribers := []string{"987654321", "87654321", "34567890", "23456789", "12345678", "912345678", "812345678",
		"998765432", "65432109", "55555555", "40041234", "08001234", "999999999", "900000000", "70123456", "123456789"}
	checked := 0
	for ddd := 0; ddd < 100; ddd++ {
		for _, sub := range subscribers {
			nsn := fmt.Sprintf("%02d%s", ddd, sub)
			for _, raw := range []string{nsn, "55" + nsn, "+55" + nsn, "+55 (" + nsn[:2] + ") " + nsn[2:], "(" + nsn[:2] + ") " + nsn[2:]} {
				digits, intl, err := clean(raw)
				require.NoError(t, err)
				fast, ok := fastBrazilian(digits, intl)
				if !ok {
					continue
				}
				checked++
				slow, err := slowNormalize(digits, intl)
				require.NoError(t, err, "%s: the fast path accepted what the parser refuses", raw)
				require.Equal(t, slow, fast, raw)
			}
		}
	}
	require.Greater(t, checked, 1000)
}
