// Package phone normalises the phone numbers of contacts to E.164, so that the same person is never
// stored twice under two spellings of one number.
//
// Brazil is the home region: a number written without a country calling code is read as Brazilian
// (DDD + subscriber number), and Brazilian mobiles are always stored with the ninth digit, because
// WhatsApp still reports some of them in the old eight-digit form. Parsing and validation are done by
// github.com/nyaruka/phonenumbers (a port of Google's libphonenumber), so validity is only as current
// as its metadata.
package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Number is a normalised phone number.
type Number struct {
	E164    string // canonical E.164, e.g. "+5511987654321"
	Foreign bool   // country calling code is not 55 (Brazil)
}

// ErrInvalid is wrapped by every error Normalize returns; the wrapping error says why the number was
// refused. Error messages never contain the input, because phone numbers are personal data.
var ErrInvalid = errors.New("invalid phone number")

const (
	// defaultRegion is the region of numbers written without a country calling code.
	defaultRegion = "BR"
	// brazilCode is Brazil's country calling code.
	brazilCode = 55
	// maxInputLen bounds the work done on untrusted input; no sensible spelling of a number is longer.
	maxInputLen = 40
)

// validDDD holds Brazil's area codes (DDD) in use, per Anatel's numbering plan.
var validDDD = func() (set [100]bool) {
	for _, ddd := range []int{
		11, 12, 13, 14, 15, 16, 17, 18, 19,
		21, 22, 24, 27, 28,
		31, 32, 33, 34, 35, 37, 38,
		41, 42, 43, 44, 45, 46, 47, 48, 49,
		51, 53, 54, 55,
		61, 62, 63, 64, 65, 66, 67, 68, 69,
		71, 73, 74, 75, 77, 79,
		81, 82, 83, 84, 85, 86, 87, 88, 89,
		91, 92, 93, 94, 95, 96, 97, 98, 99,
	} {
		set[ddd] = true
	}
	return set
}()

// Normalize parses raw (any common written form) and returns the canonical number. Numbers without a
// country code are read as Brazilian (DDD + number). Returns an error wrapping ErrInvalid with a readable reason.
//
// Accepted: digits with spaces, dots, dashes and parentheses, an optional leading "+", the national
// trunk prefix 0 with or without a carrier code ("011 ...", "0xx11 ...", "0 21 11 ..."), and bare
// digits starting with 55 that are 12 or 13 digits long (Brazil with country code). An old 8-digit
// Brazilian mobile (subscriber starting 6–9) gets its ninth digit; landlines are kept as they are.
//
// A national number written with the trunk prefix is read the way phonenumbers reads it, so
// "(01) 98765-4321" is trunk 0 + DDD 19 + old mobile 8765-4321, not DDD 01; after "+55" a 0 is refused.
//
// Refused: empty input, input longer than 40 bytes, letters or other characters, Brazilian numbers
// without a DDD or with a DDD not in use, special Brazilian numbers such as 0800 and 4004 (they are
// not a contact's phone), and any number phonenumbers does not consider valid.
func Normalize(raw string) (Number, error) {
	digits, international, err := clean(raw)
	if err != nil {
		return Number{}, err
	}
	if n, ok := fastBrazilian(digits, international); ok {
		return n, nil
	}
	return slowNormalize(digits, international)
}

// slowNormalize reads a cleaned number with phonenumbers' parser.
func slowNormalize(digits string, international bool) (Number, error) {
	if !international && strings.HasPrefix(digits, "55") && (len(digits) == 12 || len(digits) == 13) {
		// A Brazilian national number has at most 11 digits, so this must carry the country code.
		international = true
	}
	if international {
		if strings.HasPrefix(digits, "550") {
			// "+55 0..." would have phonenumbers drop the 0 and misread "+55 01 ..." as DDD 19.
			return Number{}, fmt.Errorf("%w: trunk prefix 0 after country code 55", ErrInvalid)
		}
		digits = "+" + digits
	}

	num, err := phonenumbers.Parse(digits, defaultRegion)
	if err != nil {
		return Number{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if num.GetCountryCode() == brazilCode {
		return brazilian(num)
	}
	if !phonenumbers.IsValidNumber(num) {
		return Number{}, fmt.Errorf("%w: not a valid number for country code +%d", ErrInvalid, num.GetCountryCode())
	}
	return Number{E164: phonenumbers.Format(num, phonenumbers.E164), Foreign: true}, nil
}

// clean checks the characters of raw and returns its digits and whether it started with "+".
func clean(raw string) (digits string, international bool, err error) {
	if len(raw) > maxInputLen {
		return "", false, fmt.Errorf("%w: longer than %d characters", ErrInvalid, maxInputLen)
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", false, fmt.Errorf("%w: empty", ErrInvalid)
	}
	// "0xx11": trunk prefix 0, "xx" standing for the long-distance carrier code, then the DDD.
	for _, prefix := range []string{"0xx", "(0xx"} {
		if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
			s = s[:len(prefix)-2] + s[len(prefix):]
			break
		}
	}
	if s[0] == '+' {
		international = true
		s = s[1:]
	}

	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '.' || r == '-' || r == '(' || r == ')':
		default:
			return "", false, fmt.Errorf("%w: unexpected character %q", ErrInvalid, r)
		}
	}
	if b.Len() == 0 {
		return "", false, fmt.Errorf("%w: no digits", ErrInvalid)
	}
	return b.String(), international, nil
}

// fastBrazilian normalises the common case, a Brazilian number with a DDD in use and 8 or 9
// subscriber digits (with or without 55 in front), without phonenumbers' parser, which costs
// about 20 µs a number: a CSV import of a million rows spends most of its time there
// otherwise. Only the validity check is left to phonenumbers (on the number built here). ok
// is false for anything else, which then takes the full path; the result is the full path's
// (TestFastPathMatchesParser compares them).
func fastBrazilian(digits string, international bool) (Number, bool) {
	nsn := digits
	switch {
	case international || (strings.HasPrefix(digits, "55") && (len(digits) == 12 || len(digits) == 13)):
		if !strings.HasPrefix(digits, "55") {
			return Number{}, false
		}
		nsn = digits[2:]
	case len(digits) != 10 && len(digits) != 11:
		return Number{}, false
	}
	if len(nsn) != 10 && len(nsn) != 11 || nsn[0] < '1' || nsn[1] < '1' {
		return Number{}, false
	}
	if !validDDD[int(nsn[0]-'0')*10+int(nsn[1]-'0')] {
		return Number{}, false
	}
	if len(nsn) == 10 && nsn[2] >= '6' && nsn[2] <= '9' {
		nsn = nsn[:2] + "9" + nsn[2:]
	}
	var national uint64
	for i := 0; i < len(nsn); i++ {
		national = national*10 + uint64(nsn[i]-'0')
	}
	cc := int32(brazilCode)
	if !phonenumbers.IsValidNumber(&phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &national}) {
		return Number{}, false
	}
	return Number{E164: "+55" + nsn}, true
}

// brazilian applies the ninth-digit rule and the DDD check to a number with country code 55.
func brazilian(num *phonenumbers.PhoneNumber) (Number, error) {
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	switch len(nsn) {
	case 10:
		if nsn[2] >= '6' && nsn[2] <= '9' {
			// Old-style mobile (DDD + 8 digits): mobiles have had the ninth digit since 2016.
			nsn = nsn[:2] + "9" + nsn[2:]
		}
	case 11:
	default:
		return Number{}, fmt.Errorf("%w: a Brazilian number is a 2-digit DDD and 8 or 9 digits, got %d digits",
			ErrInvalid, len(nsn))
	}
	if ddd := int(nsn[0]-'0')*10 + int(nsn[1]-'0'); !validDDD[ddd] {
		return Number{}, fmt.Errorf("%w: DDD %s is not in use", ErrInvalid, nsn[:2])
	}

	e164 := "+55" + nsn
	fixed, err := phonenumbers.Parse(e164, defaultRegion)
	if err != nil {
		return Number{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !phonenumbers.IsValidNumber(fixed) {
		return Number{}, fmt.Errorf("%w: not a valid Brazilian number", ErrInvalid)
	}
	return Number{E164: e164}, nil
}
