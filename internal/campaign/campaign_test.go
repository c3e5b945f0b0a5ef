package campaign

import (
	"testing"
	"time"

	"github.com/conversa-hq/conversa/db/store"
)

// The alert compares the audience with the smallest limit among the sender lines; unlimited
// or unknown limits do not cap it.
func TestMinLimit(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		name  string
		cur   int64
		limit *string
		want  int64
	}{
		{"first line sets it", 0, s("2000"), 2000},
		{"a smaller limit wins", 2000, s("250"), 250},
		{"a larger limit does not", 250, s("100000"), 250},
		{"unlimited does not cap", 250, s("unlimited"), 250},
		{"unknown does not cap", 0, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := minLimit(tc.cur, tc.limit); got != tc.want {
				t.Fatalf("minLimit(%d, %v) = %d, want %d", tc.cur, tc.limit, got, tc.want)
			}
		})
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The pace releases pace_percent of the recipients each interval, rounded up; a stage comes
// only when its time has; a campaign resumed late releases one stage, not the ones it missed.
func TestRelease(t *testing.T) {
	n := func(v int32) *int32 { return &v }
	now := at("2026-12-01T12:00:00Z")
	later := now.Add(10 * time.Minute)
	for _, tc := range []struct {
		name     string
		c        Campaign
		want     int
		wantNext *time.Time
	}{
		{"all at once", Campaign{Campaign: store.Campaign{Recipients: n(5), PacePercent: 100}}, 5, nil},
		{"first stage rounds up", Campaign{Campaign: store.Campaign{Recipients: n(5), PacePercent: 40, PaceIntervalMinutes: n(30)}}, 2, ptr(now.Add(30 * time.Minute))},
		{"before the next stage", Campaign{Campaign: store.Campaign{Recipients: n(5), PacePercent: 40, PaceIntervalMinutes: n(30), Released: 2, NextReleaseAt: &later}}, 2, &later},
		{"a late stage releases one stage", Campaign{Campaign: store.Campaign{Recipients: n(10), PacePercent: 20, PaceIntervalMinutes: n(30), Released: 2, NextReleaseAt: ptr(now.Add(-3 * time.Hour))}}, 4, ptr(now.Add(30 * time.Minute))},
		{"the last stage", Campaign{Campaign: store.Campaign{Recipients: n(5), PacePercent: 40, PaceIntervalMinutes: n(30), Released: 4, NextReleaseAt: &now}}, 5, nil},
		{"nobody", Campaign{Campaign: store.Campaign{Recipients: n(0), PacePercent: 40, PaceIntervalMinutes: n(30)}}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, next := tc.c.release(now)
			if got != tc.want || !sameTime(next, tc.wantNext) {
				t.Fatalf("release = %d, %v; want %d, %v", got, next, tc.want, tc.wantNext)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// The delivery window is minutes of the day in the campaign's time zone, possibly across
// midnight; outside it the sender waits for it to open.
func TestWindowWait(t *testing.T) {
	win := func(start, end int16) Campaign {
		return Campaign{Campaign: store.Campaign{WindowStart: start, WindowEnd: end, TimeZone: "America/Sao_Paulo"}}
	}
	for _, tc := range []struct {
		name string
		c    Campaign
		now  string
		want time.Duration
	}{
		{"no window", win(0, 0), "2026-12-01T03:00:00Z", 0},
		{"inside 08:00-20:00 (12:00 local)", win(8*60, 20*60), "2026-12-01T15:00:00Z", 0},
		{"before it opens (07:30 local)", win(8*60, 20*60), "2026-12-01T10:30:00Z", 30 * time.Minute},
		{"after it closes (21:00 local)", win(8*60, 20*60), "2026-12-02T00:00:00Z", 11 * time.Hour},
		{"at the closing minute", win(8*60, 20*60), "2026-12-01T23:00:00Z", 12 * time.Hour},
		{"across midnight, inside (23:00 local)", win(22*60, 6*60), "2026-12-02T02:00:00Z", 0},
		{"across midnight, inside (05:00 local)", win(22*60, 6*60), "2026-12-02T08:00:00Z", 0},
		{"across midnight, outside (12:00 local)", win(22*60, 6*60), "2026-12-01T15:00:00Z", 10 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.windowWait(at(tc.now)); got != tc.want {
				t.Fatalf("windowWait = %v, want %v", got, tc.want)
			}
		})
	}
}

// A campaign over its lines' messaging limit sends at most the limit in each day since its
// start.
func TestLimitAllowance(t *testing.T) {
	start := at("2026-12-01T12:00:00Z")
	c := Campaign{Campaign: store.Campaign{StartedAt: &start, Dispatched: 1000}, Alert: &LimitAlert{Limit: 1000, Recipients: 2500}}
	if n, wait := c.limitAllowance(start.Add(time.Hour)); n != 0 || wait != 23*time.Hour {
		t.Fatalf("first day spent: %d, %v", n, wait)
	}
	if n, _ := c.limitAllowance(start.Add(25 * time.Hour)); n != 1000 {
		t.Fatalf("second day: %d", n)
	}
	if n, _ := (Campaign{}).limitAllowance(start); n <= 1_000_000 {
		t.Fatalf("without an alert: %d", n)
	}
}
