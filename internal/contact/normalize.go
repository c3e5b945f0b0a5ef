package contact

import (
	"time"

	"github.com/conversa-hq/conversa/internal/customfield"
)

// Normalized is a contact's fields after the same validation and normalisation every write
// path applies (phones in canonical E.164, CPF/CNPJ without punctuation, e-mail in lower
// case, tags cleaned, custom values checked), for callers that store contacts in bulk
// themselves, such as the CSV import, so an imported row and an API contact are judged alike.
type Normalized struct {
	Name         string
	Document     *string
	DocumentKind *string
	CustomerCode *string
	Phones       []string
	Email        *string
	BirthDate    *time.Time
	RG           *string
	Tags         []string
	Custom       map[string]any
}

// Normalize validates f as Create would (without reading the database: defs are the account's
// custom field definitions) and returns the values to store, or a fault.Invalid naming every
// bad field.
func Normalize(f Fields, now time.Time, defs []customfield.Field) (Normalized, error) {
	v, err := validate(f, now, defs)
	if err != nil {
		return Normalized{}, err
	}
	return Normalized{
		Name: v.name, Document: v.document, DocumentKind: v.documentKind, CustomerCode: v.customerCode,
		Phones: v.phones, Email: v.email, BirthDate: v.birthDate, RG: v.rg, Tags: v.tags, Custom: v.custom,
	}, nil
}
