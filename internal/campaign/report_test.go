package campaign

import (
	"testing"
	"time"

	"github.com/conversa-hq/conversa/internal/fault"
)

func TestSplitPhone(t *testing.T) {
	for _, tc := range []struct {
		phone, ddd, number string
	}{
		{"+5511987654321", "11", "987654321"},
		{"+552133334444", "21", "33334444"},
		{"+14155552671", "", "14155552671"},
		{"+55119876543", "", "55119876543"}, // too short for a Brazilian number: kept whole
		{"", "", ""},
		{"=1+2", "", "'=1+2"},
	} {
		t.Run(tc.phone, func(t *testing.T) {
			ddd, number := SplitPhone(tc.phone)
			if ddd != tc.ddd || number != tc.number {
				t.Fatalf("SplitPhone(%q) = %q, %q; want %q, %q", tc.phone, ddd, number, tc.ddd, tc.number)
			}
		})
	}
}

func TestSituation(t *testing.T) {
	for _, tc := range []struct {
		state, code, reason, want string
	}{
		{"pending", "", "", "Pendente"},
		{"sending", "", "", "Enviando"},
		{"sent", "", "", "Enviado"},
		{"delivered", "", "", "Entregue"},
		{"read", "", "", "Lido"},
		{"replied", "", "", "Respondido"},
		{"unknown", "", "", "Desconhecido"},
		{"failed", "131026", "Message undeliverable", "Falha: 131026 Message undeliverable"},
		{"failed", "", "refused", "Falha: refused"},
		{"failed", "", "", "Falha"},
	} {
		if got := Situation(tc.state, tc.code, tc.reason); got != tc.want {
			t.Errorf("Situation(%q, %q, %q) = %q, want %q", tc.state, tc.code, tc.reason, got, tc.want)
		}
	}
	for _, s := range States {
		if Situation(s, "", "") == s {
			t.Errorf("state %s has no Portuguese word", s)
		}
	}
}

func TestAppendBrazilian(t *testing.T) {
	sp, err := time.LoadLocation(DefaultTimeZone)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 27, 13, 5, 9, 0, time.UTC), "27/11/2026 10:05:09"},
		{time.Date(2027, 1, 1, 2, 0, 0, 999, time.UTC), "31/12/2026 23:00:00"},
	} {
		if got := string(appendBrazilian(nil, tc.at.In(sp))); got != tc.want {
			t.Errorf("appendBrazilian(%s) = %q, want %q", tc.at, got, tc.want)
		}
	}
}

func TestReportFilterCheck(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		f     ReportFilter
		field string // "" when valid
	}{
		{"a month", ReportFilter{From: from, To: from.AddDate(0, 1, 0)}, ""},
		{"366 days", ReportFilter{From: from, To: from.Add(MaxReportPeriod)}, ""},
		{"no from", ReportFilter{To: from}, "query.from"},
		{"no to", ReportFilter{From: from}, "query.to"},
		{"reversed", ReportFilter{From: from, To: from.Add(-time.Second)}, "query.to"},
		{"empty", ReportFilter{From: from, To: from}, "query.to"},
		{"too long", ReportFilter{From: from, To: from.Add(MaxReportPeriod + time.Second)}, "query.to"},
		{"bad zone", ReportFilter{From: from, To: from.Add(time.Hour), TimeZone: "Mars/Olympus"}, "query.time_zone"},
		{"local zone", ReportFilter{From: from, To: from.Add(time.Hour), TimeZone: "Local"}, "query.time_zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.check()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("check() = %v, want nil", err)
				}
				if tc.f.TimeZone != DefaultTimeZone {
					t.Fatalf("time zone %q, want the default", tc.f.TimeZone)
				}
				return
			}
			f, ok := fault.As(err)
			if !ok || f.Kind != fault.KindInvalid || len(f.Fields) == 0 || f.Fields[0].Field != tc.field {
				t.Fatalf("check() = %v, want a 422 on %s", err, tc.field)
			}
		})
	}
}
