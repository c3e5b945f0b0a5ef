package main

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// op is one request of a scenario: an HTTP call or the equivalent database work. rng belongs
// to the calling worker, so picking a random contact needs no lock.
type op func(ctx context.Context, rng *rand.Rand) error

// target is what a scenario should reach; zero fields are not judged.
type target struct {
	MinRPS float64
	MaxP99 time.Duration
}

// scenario is one measured workload, done once through HTTP and once on the raw pool with the
// same number of clients for the same time.
type scenario struct {
	Name     string
	Clients  int
	Duration time.Duration
	// Rate, when set, offers that many requests per second in all (an open loop spread over
	// the clients) instead of each client sending its next request as soon as the previous
	// answer arrives; latency then counts from when a request was due, so a slow answer that
	// delays the next request is not hidden.
	Rate      float64
	HTTP, Raw op
	Target    target
}

// scenarioResult is a scenario's two measurements and the server's peak memory during the
// HTTP one.
type scenarioResult struct {
	Scenario scenario
	HTTP     phaseResult
	Raw      phaseResult
	PeakRSS  int64
}

// measureHTTP runs a scenario's HTTP phase against srv (its Rate, or flat out), logs the outcome
// and notes the server's peak memory during the phase.
func measureHTTP(ctx context.Context, cfg config, sc scenario, srv *server) scenarioResult {
	logf("%s: HTTP, %d clients, %s + %s warm-up", sc.Name, sc.Clients, sc.Duration, cfg.Warmup)
	from := time.Now()
	res := scenarioResult{Scenario: sc, HTTP: runPhase(ctx, sc.Clients, sc.Rate, cfg.Warmup, sc.Duration, sc.HTTP)}
	res.PeakRSS = srv.RSS.Peak(from, time.Now())
	logf("  %.0f rps, p50 %s, p99 %s, %d errors", res.HTTP.RPS(), formatMs(res.HTTP.Percentile(50)), formatMs(res.HTTP.Percentile(99)), res.HTTP.Errors)
	printErrors(res.HTTP)
	if cfg.Intervals && sc.Target.MaxP99 > 0 {
		logSlowIntervals(res.HTTP, sc.Target.MaxP99)
	}
	return res
}

// measureRaw runs a scenario's raw phase (its Rate, or flat out), logs what it runs (what) and
// the outcome.
func measureRaw(ctx context.Context, cfg config, sc scenario, what string) phaseResult {
	logf("%s: %s, %d clients", sc.Name, what, sc.Clients)
	res := runPhase(ctx, sc.Clients, sc.Rate, cfg.Warmup, sc.Duration, sc.Raw)
	logf("  %.0f rps, p50 %s, p99 %s, %d errors", res.RPS(), formatMs(res.Percentile(50)), formatMs(res.Percentile(99)), res.Errors)
	printErrors(res)
	return res
}

// Met reports whether the HTTP measurement reached the target without errors.
func (r scenarioResult) Met() bool {
	t := r.Scenario.Target
	if r.HTTP.Errors > 0 || r.HTTP.Requests() == 0 {
		return false
	}
	if t.MinRPS > 0 && r.HTTP.RPS() < t.MinRPS {
		return false
	}
	if t.MaxP99 > 0 && r.HTTP.Percentile(99) >= t.MaxP99 {
		return false
	}
	return true
}

// phaseResult is what one closed-loop phase measured.
type phaseResult struct {
	// Latencies of the successful requests started inside the measured window, sorted.
	Latencies []time.Duration
	// Window is the measured time (warm-up excluded).
	Window time.Duration
	// Errors counts failed requests, warm-up included: a failure anywhere voids the run.
	Errors int
	// ErrorSamples are the first few failures, for the log.
	ErrorSamples []string
	// Intervals are the window's successful requests by when they were due (sent, in a closed
	// loop), IntervalSpan at a time: whether a tail is a few stalls or spread over the run.
	Intervals []interval
}

// interval is the requests of a phase due within IntervalSpan from Start.
type interval struct {
	Start time.Time
	// Latencies, sorted.
	Latencies []time.Duration
}

// IntervalSpan is the width of a phaseResult's intervals.
const IntervalSpan = 100 * time.Millisecond

// logSlowIntervals logs, with their wall-clock time (to set against PostgreSQL's log, its
// autovacuum runs and checkpoints), the intervals of r whose slowest request took limit or
// more, and how many of the interval's requests did.
func logSlowIntervals(r phaseResult, limit time.Duration) {
	slow := 0
	for _, w := range r.Intervals {
		i, _ := slices.BinarySearch(w.Latencies, limit)
		if over := len(w.Latencies) - i; over > 0 {
			slow++
			logf("  %s: %d of %d requests took %s or more, the slowest %s", w.Start.Format("15:04:05.0"), over, len(w.Latencies),
				formatMs(limit), formatMs(w.Latencies[len(w.Latencies)-1]))
		}
	}
	logf("  %d of %d intervals of %s had a request of %s or more", slow, len(r.Intervals), IntervalSpan, formatMs(limit))
}

// maxErrorSamples is how many failures a phase keeps to print.
const maxErrorSamples = 5

// Requests is the number of successful requests in the window.
func (r phaseResult) Requests() int { return len(r.Latencies) }

// RPS is successful requests per second over the window.
func (r phaseResult) RPS() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(len(r.Latencies)) / r.Window.Seconds()
}

// Percentile is the nearest-rank p-th percentile latency (0 < p <= 100).
func (r phaseResult) Percentile(p float64) time.Duration { return percentile(r.Latencies, p) }

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted durations, 0 when
// there are none: every figure of the reports comes from it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(n))) - 1
	return sorted[min(max(i, 0), n-1)]
}

// Max is the slowest successful request of the window.
func (r phaseResult) Max() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[len(r.Latencies)-1]
}

// runPhase runs clients workers for warmup and then window. With rate 0 each calls o back to
// back (a closed loop: a client sends its next request when the previous answer arrives);
// with a rate, worker w sends its requests at start + (w + k*clients)/rate and each latency is
// measured from that due time. Only requests due inside the window are timed; each worker
// keeps its own latencies, merged and sorted at the end, so measuring takes no lock.
func runPhase(ctx context.Context, clients int, rate float64, warmup, window time.Duration, o op) phaseResult {
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(window)
	// A request stuck past the end is abandoned rather than holding the run forever.
	ctx, cancel := context.WithDeadline(ctx, end.Add(30*time.Second))
	defer cancel()

	type workerResult struct {
		lat    []time.Duration
		due    []time.Duration // from measureFrom, for each of lat
		errors int
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		samples []string
	)
	per := make([]workerResult, clients)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			res := &per[w]
			res.lat = make([]time.Duration, 0, 1024)
			var step time.Duration
			due := start
			if rate > 0 {
				step = time.Duration(float64(clients) / rate * float64(time.Second))
				due = start.Add(time.Duration(float64(w) / rate * float64(time.Second)))
			}
			for ctx.Err() == nil {
				t0 := time.Now()
				if rate > 0 {
					if wait := time.Until(due); wait > 0 {
						time.Sleep(wait)
					}
					t0 = due
					due = due.Add(step)
				}
				if !t0.Before(end) {
					return
				}
				err := o(ctx, rng)
				d := time.Since(t0)
				if err != nil {
					res.errors++
					mu.Lock()
					if len(samples) < maxErrorSamples {
						samples = append(samples, err.Error())
					}
					mu.Unlock()
					continue
				}
				if !t0.Before(measureFrom) {
					res.lat = append(res.lat, d)
					res.due = append(res.due, t0.Sub(measureFrom))
				}
			}
		}()
	}
	wg.Wait()

	out := phaseResult{Window: window, ErrorSamples: samples}
	total := 0
	for _, r := range per {
		total += len(r.lat)
	}
	out.Latencies = make([]time.Duration, 0, total)
	out.Intervals = make([]interval, int(window/IntervalSpan)+1)
	for i := range out.Intervals {
		out.Intervals[i].Start = measureFrom.Add(time.Duration(i) * IntervalSpan)
	}
	for _, r := range per {
		out.Latencies = append(out.Latencies, r.lat...)
		out.Errors += r.errors
		for i, d := range r.lat {
			w := &out.Intervals[min(int(r.due[i]/IntervalSpan), len(out.Intervals)-1)]
			w.Latencies = append(w.Latencies, d)
		}
	}
	slices.Sort(out.Latencies)
	for _, w := range out.Intervals {
		slices.Sort(w.Latencies)
	}
	return out
}
