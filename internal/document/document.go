// Package document validates Brazilian taxpayer ids by their check digits: CPF for people and CNPJ
// for companies, including the alphanumeric CNPJ that Receita Federal issues from July 2026.
//
// Values are stored stripped of punctuation, so that "529.982.247-25" and "52998224725" are the same
// document. A valid check digit only proves the value is well formed, not that it was ever issued.
package document

import (
	"errors"
	"fmt"
	"strings"
)

// Kind says which document a value is.
type Kind string

// The document kinds Parse recognises.
const (
	CPF  Kind = "cpf"  // Cadastro de Pessoas Físicas: 11 digits, the last 2 are check digits.
	CNPJ Kind = "cnpj" // Cadastro Nacional da Pessoa Jurídica: 12 alphanumerics and 2 check digits.
)

// ErrInvalid is wrapped by every error Parse returns; the wrapping error says why the value was refused.
// Error messages never contain the input, because a CPF is personal data.
var ErrInvalid = errors.New("invalid CPF/CNPJ")

const (
	cpfLen  = 11
	cnpjLen = 14
	// maxInputLen bounds the work done on untrusted input; a formatted CNPJ has 18 characters.
	maxInputLen = 64
)

// Parse strips punctuation (. - / and spaces), decides the kind by length (11 = CPF, 14 = CNPJ) and checks the
// check digits. Returns the canonical value (digits; for CNPJ, uppercase alphanumerics) or an error wrapping ErrInvalid with a readable reason.
//
// Lowercase CNPJ letters are accepted and uppercased. Input longer than 64 bytes, any other character,
// other lengths, letters in a CPF, wrong check digits and values of one repeated digit are refused.
func Parse(raw string) (value string, kind Kind, err error) {
	if len(raw) > maxInputLen {
		return "", "", fmt.Errorf("%w: longer than %d characters", ErrInvalid, maxInputLen)
	}
	var b strings.Builder
	for _, r := range raw {
		switch {
		case r == '.' || r == '-' || r == '/' || r == ' ':
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			return "", "", fmt.Errorf("%w: unexpected character %q", ErrInvalid, r)
		}
	}
	value = b.String()

	switch len(value) {
	case 0:
		return "", "", fmt.Errorf("%w: empty", ErrInvalid)
	case cpfLen:
		if !allDigits(value) {
			return "", "", fmt.Errorf("%w: a CPF has only digits", ErrInvalid)
		}
		if !ValidCPF(value) {
			return "", "", fmt.Errorf("%w: CPF check digits do not match", ErrInvalid)
		}
		return value, CPF, nil
	case cnpjLen:
		if !allDigits(value[12:]) {
			return "", "", fmt.Errorf("%w: the last 2 characters of a CNPJ are digits", ErrInvalid)
		}
		if !ValidCNPJ(value) {
			return "", "", fmt.Errorf("%w: CNPJ check digits do not match", ErrInvalid)
		}
		return value, CNPJ, nil
	default:
		return "", "", fmt.Errorf("%w: %d characters, want %d (CPF) or %d (CNPJ)", ErrInvalid, len(value), cpfLen, cnpjLen)
	}
}

// ValidCPF reports whether digits is a CPF with correct check digits (mod 11). It expects the
// canonical form, exactly 11 ASCII digits without punctuation; use Parse for user input. A CPF of one
// repeated digit (000.000.000-00, 111.111.111-11, ...) passes the arithmetic but is reported invalid.
func ValidCPF(digits string) bool {
	if len(digits) != cpfLen || !allDigits(digits) || repeated(digits) {
		return false
	}
	return checkDigit(digits[:9], 10) == digits[9] && checkDigit(digits[:10], 11) == digits[10]
}

// ValidCNPJ reports whether value is a CNPJ with correct check digits. It expects the canonical form:
// 14 characters, the first 12 uppercase A–Z or 0–9 (the alphanumeric CNPJ of July 2026; classic
// CNPJs are all digits) and the last 2 digits; use Parse for user input, which also uppercases.
// A CNPJ of one repeated digit (00.000.000/0000-00, ...) is reported invalid.
//
// Each character counts as its ASCII code minus 48, weighted 5,4,3,2,9,8,7,6,5,4,3,2 for the first
// check digit and 6,5,4,3,2,9,8,7,6,5,4,3,2 for the second, modulo 11 as Receita Federal specifies.
func ValidCNPJ(value string) bool {
	if len(value) != cnpjLen || !allDigits(value[12:]) || repeated(value) {
		return false
	}
	for i := range 12 {
		if c := value[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return cnpjCheckDigit(value[:12]) == value[12] && cnpjCheckDigit(value[:13]) == value[13]
}

// checkDigit returns the CPF check digit of s, weighting its characters from first down to 2.
func checkDigit(s string, first int) byte {
	sum := 0
	for i := range len(s) {
		sum += int(s[i]-'0') * (first - i)
	}
	return mod11(sum)
}

// cnpjCheckDigit returns the CNPJ check digit of s (12 or 13 characters): weights run from
// len(s)-7 down to 2 and then restart at 9.
func cnpjCheckDigit(s string) byte {
	sum := 0
	for i := range len(s) {
		weight := (len(s)-i-1)%8 + 2
		sum += int(s[i]-'0') * weight
	}
	return mod11(sum)
}

// mod11 turns a weighted sum into a check digit: remainder < 2 gives 0, otherwise 11 - remainder.
func mod11(sum int) byte {
	if r := sum % 11; r >= 2 {
		return byte('0' + 11 - r)
	}
	return '0'
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func repeated(s string) bool {
	return strings.Count(s, s[:1]) == len(s)
}
