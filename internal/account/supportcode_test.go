package account

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSupportCode(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	start := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC) // a window boundary (multiple of 4 h)
	code, until := SupportCode(secret, start.Add(time.Minute))
	require.Len(t, code, 8)
	require.Equal(t, start.Add(SupportCodeWindow), until)

	tests := []struct {
		name string
		at   time.Time
		code string
		ok   bool
	}{
		{"SameWindow", start.Add(3*time.Hour + 59*time.Minute), code, true},
		{"NextWindowStillAcceptsThePrevious", start.Add(SupportCodeWindow + time.Hour), code, true},
		{"TwoWindowsLaterIsExpired", start.Add(2*SupportCodeWindow + time.Second), code, false},
		{"BeforeItsWindow", start.Add(-time.Second), code, false},
		{"WrongCode", start, "00000000", code == "00000000"},
		{"Empty", start, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.ok, VerifySupportCode(secret, tc.code, tc.at))
		})
	}

	t.Run("ChangesEveryWindowAndPerAccount", func(t *testing.T) {
		t.Parallel()
		next, _ := SupportCode(secret, start.Add(SupportCodeWindow))
		require.NotEqual(t, code, next)
		other, _ := SupportCode([]byte("another secret of thirty-two byt"), start)
		require.NotEqual(t, code, other)
	})
}
