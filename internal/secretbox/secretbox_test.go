package secretbox

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSealAndOpen(t *testing.T) {
	t.Parallel()
	box, err := New(GenerateKey())
	require.NoError(t, err)
	sealed := box.Seal([]byte(`{"access_token":"EAAG..."}`), []byte("channel-1"))
	require.NotContains(t, string(sealed), "EAAG")
	got, err := box.Open(sealed, []byte("channel-1"))
	require.NoError(t, err)
	require.Equal(t, `{"access_token":"EAAG..."}`, string(got))

	tests := map[string]func() ([]byte, error){
		"OtherContext": func() ([]byte, error) { return box.Open(sealed, []byte("channel-2")) },
		"Tampered": func() ([]byte, error) {
			bad := append([]byte(nil), sealed...)
			bad[len(bad)-1] ^= 1
			return box.Open(bad, []byte("channel-1"))
		},
		"OtherKey": func() ([]byte, error) {
			other, _ := New(GenerateKey())
			return other.Open(sealed, []byte("channel-1"))
		},
		"Short": func() ([]byte, error) { return box.Open([]byte("x"), nil) },
	}
	for name, open := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := open()
			require.ErrorIs(t, err, ErrOpen)
		})
	}
	_, err = New("short")
	require.Error(t, err)
}
