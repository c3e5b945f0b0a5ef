package conversation

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProtocolFormat(t *testing.T) {
	t.Parallel()
	// 02:30 UTC on the 2nd is still the 1st in Brazil.
	at := time.Date(2026, 12, 2, 2, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		format, period, protocol, err string
		seq                           int64
	}{
		{format: DefaultFormat, seq: 7, period: "d:20261201", protocol: "20261201000007"},
		{format: "AT-{yyyy}/{mm}-{seq:4}", seq: 12, period: "m:202612", protocol: "AT-2026/12-0012"},
		{format: "{yy}{seq:3}", seq: 5, period: "y:2026", protocol: "26005"},
		{format: "#{seq:5}", seq: 42, period: "all", protocol: "#00042"},
		{format: "{seq:2}", seq: 123, period: "all", protocol: "123"}, // wider than N: written in full
		{format: "", err: "1 to 40"},
		{format: "{yyyy}{mm}{dd}", err: "needs a sequence"},
		{format: "{dd}{seq:4}", err: "{dd} needs {mm}"},
		{format: "{mm}{seq:4}", err: "{mm} needs the year"},
		{format: "{yyyy}{yy}{seq:4}", err: "not both"},
		{format: "{seq:4}{seq:2}", err: "twice"},
		{format: "{seq:0}", err: "1 to 12"},
		{format: "{seq:13}", err: "1 to 12"},
		{format: "{hh}{seq:3}", err: "unknown token {hh}"},
		{format: "{yyyy{seq:3}", err: "unknown token"},
		{format: "{seq:3", err: "not closed"},
		{format: "P {seq:3}", err: `' ' is not allowed`},
		{format: "Protocolo-de-atendimento-{yyyy}{mm}{dd}-{seq:12}", err: "1 to 40"},
	} {
		f, err := ParseFormat(tc.format)
		if tc.err != "" {
			require.ErrorContains(t, err, "invalid protocol format", tc.format)
			require.ErrorContains(t, err, tc.err, tc.format)
			continue
		}
		require.NoError(t, err, tc.format)
		require.Equal(t, tc.period, f.Period(at), tc.format)
		require.Equal(t, tc.protocol, f.Render(at, tc.seq), tc.format)
	}
}
