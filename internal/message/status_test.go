package message

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAdvance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cur, report, want Status
	}{
		{Queued, Sent, Sent},
		{Queued, Delivered, Delivered},
		{Sent, Read, Read}, // delivered skipped
		{Delivered, Sent, Delivered},
		{Read, Delivered, Read},
		{Read, Read, Read},
		{Queued, Failed, Failed},
		{Sent, Failed, Failed},
		{Delivered, Failed, Delivered},
		{Failed, Sent, Failed},
		{Failed, Read, Failed},
		{Sent, "bogus", Sent},
	} {
		t.Run(fmt.Sprintf("%s+%s", tc.cur, tc.report), func(t *testing.T) {
			got, changed := Advance(tc.cur, tc.report)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.want != tc.cur, changed)
		})
	}
}

// TestAnyOrderSameEnd delivers every permutation of a message's reports, duplicates included,
// and checks the message ends where the furthest report says.
func TestAnyOrderSameEnd(t *testing.T) {
	t.Parallel()
	reports := []Status{Sent, Delivered, Read, Sent, Read}
	var permute func([]Status, int)
	count := 0
	permute = func(a []Status, k int) {
		if k == len(a) {
			cur := Queued
			for _, r := range a {
				cur, _ = Advance(cur, r)
			}
			require.Equal(t, Read, cur, "%v", a)
			count++
			return
		}
		for i := k; i < len(a); i++ {
			a[k], a[i] = a[i], a[k]
			permute(a, k+1)
			a[k], a[i] = a[i], a[k]
		}
	}
	permute(reports, 0)
	require.Equal(t, 120, count)
}
