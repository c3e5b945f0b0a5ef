package newchat_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/newchat"
)

// TestNumber: the foreign flag decides how the typed digits are read, and a number outside
// Brazil is refused without it.
func TestNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw string
		foreign   bool
		want      string
		field     string
	}{
		{"BrazilianMobile", "(11) 97777-1234", false, "+5511977771234", ""},
		{"OldEightDigitMobile", "11 7777-1234", false, "+5511977771234", ""},
		{"BrazilianWithCountryCode", "+55 11 97777-1234", false, "+5511977771234", ""},
		{"BrazilianWithTheFlag", "+55 11 97777-1234", true, "+5511977771234", ""},
		{"USWithFlagNoPlus", "1 202-555-0143", true, "+12025550143", ""},
		{"PortugalWith00", "00351 912 345 678", true, "+351912345678", ""},
		{"USWithoutFlag", "+1 202-555-0143", false, "", "body.foreign"},
		{"InternationalDigitsWithoutFlag", "1 202-555-0143", false, "", "body.phone"},
		{"Garbage", "abc", false, "", "body.phone"},
		{"Empty", "", true, "", "body.phone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newchat.Number(tc.raw, tc.foreign)
			if tc.field == "" {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				return
			}
			f, ok := fault.As(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, fault.KindInvalid, f.Kind)
			require.Equal(t, tc.field, f.Fields[0].Field)
		})
	}
}
