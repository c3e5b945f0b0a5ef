package session

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// step is one thing that happens in a conversation: the contact writes ("in"), or we send a
// template of a category.
type step struct {
	kind string // "in" or a Category
	at   time.Duration
}

func run(steps []step) (State, []bool) {
	var s State
	var opened []bool
	for _, st := range steps {
		if st.kind == "in" {
			s = s.Inbound(at(st.at))
			opened = append(opened, false)
			continue
		}
		var ok bool
		s, ok = s.Template(Category(st.kind), at(st.at))
		opened = append(opened, ok)
	}
	return s, opened
}

func TestRules(t *testing.T) {
	t.Parallel()
	h := time.Hour
	for _, tc := range []struct {
		name     string
		steps    []step
		check    time.Duration
		freeForm bool
		opened   []bool
		open     []Category
		tag      string
	}{
		{name: "NothingHappened", check: 0, freeForm: false},
		{name: "InboundOpensService", steps: []step{{"in", 0}}, check: 23 * h, freeForm: true, opened: []bool{false}},
		{name: "Expiring", steps: []step{{"in", 0}}, check: 23*h + 30*time.Minute, freeForm: true, opened: []bool{false}, tag: TagExpiring},
		{name: "ServiceEndsAfter24h", steps: []step{{"in", 0}}, check: 24 * h, freeForm: false, opened: []bool{false}, tag: TagExpired},
		{name: "JustBeforeTheEnd", steps: []step{{"in", 0}}, check: 24*h - time.Nanosecond, freeForm: true, opened: []bool{false}, tag: TagExpiring},
		{name: "NotYetExpiring", steps: []step{{"in", 0}}, check: 23*h + 29*time.Minute, freeForm: true, opened: []bool{false}},
		{name: "InboundRenews", steps: []step{{"in", 0}, {"in", 20 * h}}, check: 30 * h, freeForm: true, opened: []bool{false, false}},
		{name: "ALateWebhookNeverShortens", steps: []step{{"in", 20 * h}, {"in", 0}}, check: 30 * h, freeForm: true, opened: []bool{false, false}},
		{name: "TemplateOpensItsCategory", steps: []step{{"marketing", 0}}, check: h, freeForm: false, opened: []bool{true}, open: []Category{Marketing}},
		{name: "TemplateNeverOpensFreeForm", steps: []step{{"utility", 0}, {"marketing", h}}, check: 2 * h, freeForm: false,
			opened: []bool{true, true}, open: []Category{Utility, Marketing}},
		{name: "SameCategoryInsideOpensNone", steps: []step{{"marketing", 0}, {"marketing", 23 * h}}, check: 24*h + time.Minute, freeForm: false,
			opened: []bool{true, false}},
		{name: "SameCategoryAfterItEndsOpensAgain", steps: []step{{"marketing", 0}, {"marketing", 24 * h}}, check: 47 * h, freeForm: false,
			opened: []bool{true, true}, open: []Category{Marketing}},
		{name: "TemplateInsideServiceStillOpensItsCategory", steps: []step{{"in", 0}, {"utility", h}}, check: 2 * h, freeForm: true,
			opened: []bool{false, true}, open: []Category{Utility}},
		{name: "FreeFormOnlyAfterTheContactReplies", steps: []step{{"marketing", 0}, {"in", 3 * h}}, check: 4 * h, freeForm: true,
			opened: []bool{true, false}, open: []Category{Marketing}},
		{name: "AuthenticationSeparate", steps: []step{{"authentication", 0}, {"utility", 0}}, check: h, freeForm: false,
			opened: []bool{true, true}, open: []Category{Authentication, Utility}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, opened := run(tc.steps)
			require.Equal(t, tc.freeForm, s.FreeFormAllowed(at(tc.check)))
			require.Equal(t, tc.opened, nilIfEmpty(opened))
			var open []Category
			for _, c := range Categories {
				if _, ok := s.OpenAt(at(tc.check))[c]; ok {
					open = append(open, c)
				}
			}
			require.ElementsMatch(t, tc.open, open)
			require.Equal(t, tc.tag, s.Tag(at(tc.check)))
			if tc.freeForm {
				require.NoError(t, s.CheckFreeForm(at(tc.check)))
			} else {
				require.ErrorIs(t, s.CheckFreeForm(at(tc.check)), ErrOutsideSession)
			}
		})
	}
}

// TestEveryShortHistory runs every history of up to four events (the contact writing, or a
// template of any of the three categories, at gaps around the 24-hour edges) and checks, at instants around
// every edge, the rules stated directly: free-form is allowed exactly when the contact wrote
// less than 24 hours before; a template opens a session exactly when no earlier template of its
// category opened one less than 24 hours before; templates never change free-form.
func TestEveryShortHistory(t *testing.T) {
	t.Parallel()
	kinds := []string{"in", string(Marketing), string(Utility), string(Authentication)}
	gaps := []time.Duration{0, time.Hour, 24*time.Hour - time.Nanosecond, 24 * time.Hour, 25 * time.Hour}
	var histories [][]step
	var grow func(prefix []step, last time.Duration)
	grow = func(prefix []step, last time.Duration) {
		histories = append(histories, prefix)
		if len(prefix) == 4 {
			return
		}
		for _, k := range kinds {
			for _, g := range gaps {
				next := append(append([]step{}, prefix...), step{k, last + g})
				grow(next, last+g)
			}
		}
	}
	grow(nil, 0)
	require.Greater(t, len(histories), 160000)

	for _, h := range histories {
		s, opened := run(h)
		// Openings stated directly.
		var openings []step
		for i, st := range h {
			if st.kind == "in" {
				continue
			}
			want := true
			for _, o := range openings {
				if o.kind == st.kind && st.at < o.at+Length {
					want = false
				}
			}
			require.Equal(t, want, opened[i], "history %v, event %d", h, i)
			if want {
				openings = append(openings, st)
			}
		}
		last := time.Duration(0)
		if len(h) > 0 {
			last = h[len(h)-1].at
		}
		for _, probe := range []time.Duration{last, last + time.Nanosecond, last + 24*time.Hour - time.Nanosecond, last + 24*time.Hour, last + 48*time.Hour} {
			wantFree := false
			for _, st := range h {
				if st.kind == "in" && st.at <= probe && probe < st.at+Length {
					wantFree = true
				}
			}
			require.Equal(t, wantFree, s.FreeFormAllowed(at(probe)), "history %v at %v", h, probe)
			for _, c := range Categories {
				wantOpen := false
				for _, o := range openings {
					if o.kind == string(c) && o.at <= probe && probe < o.at+Length {
						wantOpen = true
					}
				}
				_, gotOpen := s.OpenAt(at(probe))[c]
				require.Equal(t, wantOpen, gotOpen, "history %v, %s at %v", h, c, probe)
			}
		}
	}
}

func nilIfEmpty(b []bool) []bool {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (s step) String() string { return fmt.Sprintf("%s@%v", s.kind, s.at) }
