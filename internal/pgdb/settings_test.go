package pgdb

import (
	"slices"
	"testing"
)

func TestServerSettingsSizesSharedBuffers(t *testing.T) {
	for _, tc := range []struct {
		name string
		mem  int64
		lz4  bool
		want []string
	}{
		{"large machine is capped at 4 GB", 64 << 30, true, []string{"shared_buffers=4096MB", "wal_compression=lz4"}},
		{"a quarter of a small machine", 8 << 30, true, []string{"shared_buffers=2048MB"}},
		{"never below the stock 128 MB", 256 << 20, false, []string{"shared_buffers=128MB", "wal_compression=off"}},
		{"unknown memory takes the cap", 0, false, []string{"shared_buffers=4096MB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ServerSettings(tc.mem, tc.lz4)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("ServerSettings(%d, %v) = %v, want it to hold %s", tc.mem, tc.lz4, got, w)
				}
			}
			for _, durable := range []string{"fsync=off", "synchronous_commit=off", "full_page_writes=off", "autovacuum=off"} {
				if slices.Contains(got, durable) {
					t.Errorf("ServerSettings holds %s: production settings keep durability and autovacuum", durable)
				}
			}
		})
	}
}
