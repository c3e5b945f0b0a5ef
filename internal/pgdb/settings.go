package pgdb

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ServerSettings is the postgresql.conf this service is sized for, on a machine with memBytes
// of RAM shared with the service (0: unknown). The figures of docs/benchmarks.md and the
// ceilings in ../shared/reference/performance.md were measured with it, and a production
// server should start from it. PostgreSQL's stock values are for a small shared machine, and
// they cost this workload dearly:
//   - shared_buffers 128 MB: a campaign, a sweep or an import walks more pages than that, so
//     backends stall writing out dirty buffers themselves in the middle of a transaction
//     (the long sweep batches of issue 7). A quarter of the RAM, at most 4 GB, holds the hot
//     tables and indexes.
//   - max_wal_size 1 GB and checkpoint_timeout 5 min: a million-row import or freeze sets off
//     a checkpoint every few seconds, and after each one every first change to a page writes
//     the whole page into the WAL again. 8 GB and 15 min make that once per big job.
//   - wal_compression: those full-page images are mostly zeros and repeated keys. lz4 where
//     the server is built with it (pglz, the fallback, costs more CPU than it saves on a
//     two-core machine, so it stays off there).
//
// Durability is untouched: fsync, full_page_writes and synchronous_commit stay on. Autovacuum
// stays on (the queue, sweep and outbox tables depend on it to stay small).
func ServerSettings(memBytes int64, lz4 bool) []string {
	shared := int64(4 << 30)
	if memBytes > 0 && memBytes/4 < shared {
		shared = max(memBytes/4, 128<<20)
	}
	compression := "off"
	if lz4 {
		compression = "lz4"
	}
	return []string{
		fmt.Sprintf("shared_buffers=%dMB", shared>>20),
		"max_wal_size=8GB",
		"checkpoint_timeout=15min",
		"checkpoint_completion_target=0.9",
		"wal_compression=" + compression,
		"wal_buffers=64MB",
		"autovacuum=on",
	}
}

// hasLZ4 reports whether the server binaries in binDir were built with lz4 (pg_config says).
func hasLZ4(ctx context.Context, binDir string) bool {
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "pg_config"), "--configure").Output()
	if err != nil {
		out, err = exec.CommandContext(ctx, "pg_config", "--configure").Output()
	}
	return err == nil && strings.Contains(string(out), "--with-lz4")
}

// totalMemory is the machine's RAM from /proc/meminfo, or 0 where there is none.
func totalMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
