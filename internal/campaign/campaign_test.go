package campaign

import "testing"

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
