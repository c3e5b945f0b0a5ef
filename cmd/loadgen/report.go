package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// rssLimit is the server's memory budget: its resident set must stay under 150 MB (decimal)
// for the whole run.
const rssLimit = 150_000_000

// facts describes the machine, so a figure can be read against the hardware it came from.
type facts struct {
	CPUs      int
	CPUModel  string
	MemTotal  int64 // bytes
	Kernel    string
	PGVersion string
	GoVersion string
}

// machineFacts gathers the facts from /proc and the database server.
func machineFacts(ctx context.Context, pool *pgxpool.Pool) (facts, error) {
	f := facts{CPUs: runtime.NumCPU(), CPUModel: "unknown", GoVersion: runtime.Version()}
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&f.PGVersion); err != nil {
		return f, fmt.Errorf("read server_version: %w", err)
	}
	if v, ok := procField("/proc/cpuinfo", "model name"); ok {
		f.CPUModel = v
	}
	if v, ok := procField("/proc/meminfo", "MemTotal"); ok {
		if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64); err == nil {
			f.MemTotal = kb * 1024
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		f.Kernel = strings.TrimSpace(string(b))
	}
	return f, nil
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) (string, bool) {
	fh, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// String is a one-line description of the machine.
func (f facts) String() string {
	return fmt.Sprintf("%d CPUs (%s), %.1f GiB RAM, Linux %s; PostgreSQL %s on the same machine; %s",
		f.CPUs, f.CPUModel, float64(f.MemTotal)/(1<<30), f.Kernel, f.PGVersion, f.GoVersion)
}

// report is everything a run produced, printed as a table or appended as Markdown.
type report struct {
	Started time.Time
	Command string
	Config  config
	Facts   facts
	Seed    seedStats
	Results []scenarioResult
	Queries []queryResult
	// IdleRSS is the server's memory once ready; PeakRSS the largest sample of the run.
	IdleRSS, PeakRSS int64
}

// columns is the table header, shared by the text and Markdown forms.
var columns = []string{"Scenario", "Clients", "HTTP rps", "p50", "p90", "p99", "max", "Errors",
	"Raw PG rps", "Raw p50", "Raw p99", "HTTP/raw rps", "HTTP/raw p50", "Server peak RSS", "Target", "Met"}

// rows renders the results for the table.
func (r report) rows() [][]string {
	var out [][]string
	for _, s := range r.Results {
		h, raw := s.HTTP, s.Raw
		out = append(out, []string{
			s.Scenario.Name,
			strconv.Itoa(s.Scenario.Clients),
			fmt.Sprintf("%.0f", h.RPS()),
			formatMs(h.Percentile(50)), formatMs(h.Percentile(90)), formatMs(h.Percentile(99)), formatMs(h.Max()),
			strconv.Itoa(h.Errors + raw.Errors),
			fmt.Sprintf("%.0f", raw.RPS()),
			formatMs(raw.Percentile(50)), formatMs(raw.Percentile(99)),
			ratio(h.RPS(), raw.RPS()),
			ratio(float64(h.Percentile(50)), float64(raw.Percentile(50))),
			formatMB(s.PeakRSS),
			s.Scenario.Target.String(),
			yesNo(s.Met()),
		})
	}
	return out
}

// String says what the target is.
func (t target) String() string {
	var parts []string
	if t.MinRPS > 0 {
		parts = append(parts, fmt.Sprintf("≥ %.0f rps", t.MinRPS))
	}
	if t.MaxP99 > 0 {
		parts = append(parts, fmt.Sprintf("p99 < %s", t.MaxP99))
	}
	return strings.Join(parts, ", ")
}

// Text prints the report for a terminal.
func (r report) Text(w io.Writer) {
	fmt.Fprintf(w, "\nConversa contacts API load test, %s\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %s\n", r.Facts)
	fmt.Fprintf(w, "Data: %d contacts with one phone each, seeded by COPY at %.0f contacts/s (%s), VACUUM ANALYZE %s\n\n",
		r.Seed.Contacts, r.Seed.RowsPerSecond(), r.Seed.Copy.Round(time.Millisecond), r.Seed.Vacuum.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(columns, "\t"))
	for _, row := range r.rows() {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nServer RSS: %s once ready, peak %s over the run (target < %s): %s\n",
		formatMB(r.IdleRSS), formatMB(r.PeakRSS), formatMB(rssLimit), metWord(r.PeakRSS > 0 && r.PeakRSS < rssLimit))
	if len(r.Queries) > 0 {
		fmt.Fprintf(w, "\nSet-based work (%d consent records seeded by COPY at %.0f records/s):\n", r.Seed.ConsentRecords,
			float64(r.Seed.ConsentRecords)/max(r.Seed.ConsentCopy.Seconds(), 1e-9))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(queryColumns, "\t"))
		for _, q := range r.Queries {
			fmt.Fprintln(tw, strings.Join(q.row(), "\t"))
		}
		tw.Flush()
	}
}

var queryColumns = []string{"Work", "Result", "Runs", "Fastest", "Slowest", "Target", "Met"}

func (q queryResult) row() []string {
	return []string{q.Name, q.Result, strconv.Itoa(len(q.Times)), formatMs(q.Times[0]), formatMs(q.Times[len(q.Times)-1]),
		"< " + q.Target.String(), yesNo(q.Met())}
}

// AppendMarkdown appends the report as a Markdown section to path, creating the file if
// needed.
func (r report) AppendMarkdown(path string) error {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "\n## Contacts API load test, %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s.\n", r.Facts)
	fmt.Fprintf(&b, "- Command: `%s`.\n", r.Command)
	fmt.Fprintf(&b, "- Data: one account with %d contacts, one phone each, seeded by COPY at %.0f contacts/s, then VACUUM ANALYZE.\n",
		r.Seed.Contacts, r.Seed.RowsPerSecond())
	fmt.Fprintf(&b, "- Server: the `conversa serve` binary as a child process on 127.0.0.1, CONVERSA_DB_MAX_CONNS=%d, log level warn; "+
		"called with an API key (contacts:read, contacts:write, consents:write, rate limit 10000/s).\n", c.DBMaxConns)
	fmt.Fprintf(&b, "- HTTP: each client has its own keep-alive connection. \"Flat out\" rows are closed loops (a client sends its next "+
		"request when the previous answer arrives); \"at N/s\" rows offer N requests per second spread over the clients and "+
		"measure each latency from when the request was due. %d clients for GET and POST for %s each, %d clients for the lists for %s each; %s warm-up before every phase, not counted. "+
		"Latency is per request, percentiles by nearest rank over every request of the phase; any non-2xx answer counts as an error. "+
		"The clients run on the same machine and share its CPUs with the server and PostgreSQL.\n",
		c.Concurrency, c.Duration, c.ListConcurrency, c.ListDuration, c.Warmup)
	b.WriteString("- GET picks a random seeded contact; POST creates a new contact with a unique Brazilian mobile (+55 11 9XXXX-XXXX) " +
		"and customer code; lists read 50 contacts from the start and after the contact at 90% of the account; the consent POST " +
		"records a grant of marketing by SMS, with its evidence, for a random seeded contact.\n")
	fmt.Fprintf(&b, "- Raw PG: the same queries as the service (its sqlc code: GetContact with the phones subquery; the one "+
		"statement CreateContactWithPhones; ListContacts for 51 rows with and without the cursor; AppendConsent, the one "+
		"statement that locks the chain, seals and appends the record and updates the projection) on a bare pgx pool of %d "+
		"connections, same clients and duration, no HTTP. HTTP/raw rps below 1 and HTTP/raw p50 above 1 are what the service adds.\n",
		c.DBMaxConns)
	b.WriteString("- Server RSS: VmRSS from /proc/<pid>/status every 100 ms; the peak of each HTTP phase and of the whole run.\n\n")
	b.WriteString("| " + strings.Join(columns, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat(" --- |", len(columns)) + "\n")
	for _, row := range r.rows() {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	fmt.Fprintf(&b, "\nServer RSS: %s once ready, peak %s over the run (target < %s): %s.\n",
		formatMB(r.IdleRSS), formatMB(r.PeakRSS), formatMB(rssLimit), metWord(r.PeakRSS > 0 && r.PeakRSS < rssLimit))
	if len(r.Queries) > 0 {
		fmt.Fprintf(&b, "\nSet-based work, timed in the load generator on the seeded data before the server starts (%d consent records "+
			"seeded by COPY at %.0f records/s: a chained grant of marketing on WhatsApp per contact, and a revocation for every fifth):\n\n",
			r.Seed.ConsentRecords, float64(r.Seed.ConsentRecords)/max(r.Seed.ConsentCopy.Seconds(), 1e-9))
		b.WriteString("| " + strings.Join(queryColumns, " | ") + " |\n")
		b.WriteString("|" + strings.Repeat(" --- |", len(queryColumns)) + "\n")
		for _, q := range r.Queries {
			b.WriteString("| " + strings.Join(q.row(), " | ") + " |\n")
		}
	}
	return appendMarkdown(path, b.String())
}

// appendMarkdown appends a scenario's report section to path (the -markdown flag), creating
// the file if needed; every scenario writes its section through it.
func appendMarkdown(path, section string) error {
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := fh.WriteString(section); err != nil {
		fh.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	logf("appended the report to %s", path)
	return nil
}

// formatMs shows a latency in milliseconds.
func formatMs(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// formatMB shows a size in decimal megabytes, the unit of the memory target.
func formatMB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// ratio shows a/b, or "n/a" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func metWord(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
