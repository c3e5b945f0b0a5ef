package consent

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/fault"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	grant := Entry{Action: Grant, Purposes: []Purpose{PurposeMarketing}, Channels: []channel.Type{channel.WhatsApp},
		Method: Checkbox, Text: "Aceito receber ofertas da Loja X pelo WhatsApp."}
	with := func(f func(e *Entry)) Entry { e := grant; f(&e); return e }

	tests := []struct {
		name     string
		in       Entry
		bad      []string
		explicit bool
		check    func(t *testing.T, e Entry)
	}{
		{name: "ExplicitGrant", in: grant, explicit: true, check: func(t *testing.T, e Entry) {
			require.Equal(t, now, e.OccurredAt)
		}},
		{name: "ImportIsImplicit", in: with(func(e *Entry) { e.Method = Import })},
		{name: "FirstInboundIsImplicit", in: with(func(e *Entry) { e.Method = FirstInboundMessage })},
		{name: "ListsSortedAndDeduplicated", explicit: true,
			in: with(func(e *Entry) {
				e.Purposes = []Purpose{PurposeService, PurposeMarketing, PurposeService}
				e.Channels = []channel.Type{channel.SMS, channel.WhatsApp, channel.SMS}
			}),
			check: func(t *testing.T, e Entry) {
				require.Equal(t, []Purpose{PurposeMarketing, PurposeService}, e.Purposes)
				require.Equal(t, []channel.Type{channel.SMS, channel.WhatsApp}, e.Channels)
			}},
		{name: "IdentifierNormalised", explicit: true,
			in: with(func(e *Entry) { e.IdentifierKind, e.Identifier, e.IP = "phone", "(11) 8765-4321", " 2001:db8::1 " }),
			check: func(t *testing.T, e Entry) {
				require.Equal(t, "+5511987654321", e.Identifier)
				require.Equal(t, "2001:db8::1", e.IP)
			}},
		{name: "BareRevocationCoversEverything", in: Entry{Action: Revoke}, check: func(t *testing.T, e Entry) {
			require.ElementsMatch(t, Purposes, e.Purposes)
			require.True(t, e.AllChannels)
			require.Equal(t, Method("request"), e.Method)
		}},
		{name: "RevocationNeedsNoText", in: Entry{Action: Revoke, Purposes: []Purpose{PurposeMarketing}, Method: "unsubscribe_link"}},
		{name: "PreTickedBoxIsNotConsent", in: with(func(e *Entry) { e.Method = "pre_ticked_checkbox" }), bad: []string{"method"}},
		{name: "InferredIsNotConsent", in: with(func(e *Entry) { e.Method = "inferred" }), bad: []string{"method"}},
		{name: "PurchasedListIsNotConsent", in: with(func(e *Entry) { e.Method = "purchased_list" }), bad: []string{"method"}},
		{name: "UnknownMethod", in: with(func(e *Entry) { e.Method = "telepathy" }), bad: []string{"method"}},
		{name: "GrantWithoutText", in: with(func(e *Entry) { e.Text = "  " }), bad: []string{"text"}},
		{name: "GrantWithoutPurpose", in: with(func(e *Entry) { e.Purposes = nil }), bad: []string{"purposes"}},
		{name: "GrantWithoutChannels", in: with(func(e *Entry) { e.Channels = nil }), bad: []string{"channels"}},
		{name: "UnknownPurposeAndChannel", in: with(func(e *Entry) {
			e.Purposes = []Purpose{"spam"}
			e.Channels = []channel.Type{"pigeon"}
		}), bad: []string{"purposes[0]", "channels[0]"}},
		{name: "PendingNeedsExplicitMethod", in: with(func(e *Entry) { e.Action, e.Method = Pending, Import }), bad: []string{"method"}},
		{name: "FutureTime", in: with(func(e *Entry) { e.OccurredAt = now.Add(time.Hour) }), bad: []string{"occurred_at"}},
		{name: "BadIP", in: with(func(e *Entry) { e.IP = "999.1.1.1" }), bad: []string{"ip"}},
		{name: "BadCPF", in: with(func(e *Entry) { e.IdentifierKind, e.Identifier = "cpf", "123.456.789-00" }), bad: []string{"identifier"}},
		{name: "IdentifierWithoutKind", in: with(func(e *Entry) { e.Identifier = "x@example.com" }), bad: []string{"identifier_kind"}},
		{name: "UnknownAction", in: with(func(e *Entry) { e.Action = "maybe" }), bad: []string{"action"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, explicit, err := normalize(tc.in, now)
			if len(tc.bad) > 0 {
				f, ok := fault.As(err)
				require.True(t, ok, "want a fault, got %v", err)
				var fields []string
				for _, fe := range f.Fields {
					fields = append(fields, fe.Field)
				}
				require.ElementsMatch(t, tc.bad, fields)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.explicit, explicit)
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestChainDetectsTampering(t *testing.T) {
	t.Parallel()
	contact := uuid.New()
	var chain []Record
	for i := 1; i <= 4; i++ {
		r := Record{AccountID: uuid.New(), ID: uuid.New(), ContactID: contact, Seq: i, Action: Grant,
			Purposes: []Purpose{PurposeMarketing}, AllChannels: true, Method: Checkbox, Text: "ok",
			OccurredAt: time.Unix(int64(i), 0), RecordedAt: time.Unix(int64(i), 0), Recorder: Recorder{"user", "u"}}
		if i > 1 {
			r.PrevHash = chain[i-2].Hash
		}
		r.Hash = computeHash(r)
		chain = append(chain, r)
	}
	require.Nil(t, VerifyChain(chain))

	tamper := map[string]func(c []Record) []Record{
		"ChangedText": func(c []Record) []Record { c[1].Text = "not what was shown"; return c },
		"ChangedTime": func(c []Record) []Record { c[2].OccurredAt = c[2].OccurredAt.Add(time.Hour); return c },
		"RehashedMiddle": func(c []Record) []Record {
			c[1].Action = Revoke
			c[1].Hash = computeHash(c[1])
			return c
		},
		"Removed":      func(c []Record) []Record { return append(c[:1:1], c[2:]...) },
		"RemovedFirst": func(c []Record) []Record { return c[1:] },
	}
	want := map[string]int{"ChangedText": 2, "ChangedTime": 3, "RehashedMiddle": 3, "Removed": 3, "RemovedFirst": 2}
	for name, f := range tamper {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := VerifyChain(f(append([]Record(nil), chain...)))
			require.NotNil(t, p)
			require.Equal(t, want[name], p.Seq, p.Reason)
		})
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	rec := func(a Action, explicit bool, p Purpose, chans ...channel.Type) Record {
		return Record{ID: uuid.New(), Action: a, Explicit: explicit, Purposes: []Purpose{p}, Channels: chans, AllChannels: len(chans) == 0}
	}
	wa := Key{PurposeMarketing, channel.WhatsApp}
	sms := Key{PurposeMarketing, channel.SMS}
	tests := []struct {
		name    string
		history []Record
		want    map[Key]Status
		expl    map[Key]bool
	}{
		{"GrantAllThenRevokeOne", []Record{rec(Grant, true, PurposeMarketing), rec(Revoke, true, PurposeMarketing, channel.WhatsApp)},
			map[Key]Status{wa: Revoked, sms: Granted}, nil},
		{"GrantOneThenRevokeAll", []Record{rec(Grant, true, PurposeMarketing, channel.WhatsApp), rec(Revoke, true, PurposeMarketing)},
			map[Key]Status{wa: Revoked, sms: Revoked}, nil},
		{"PendingDoesNotDowngradeAGrant", []Record{rec(Grant, true, PurposeMarketing, channel.WhatsApp), rec(Pending, true, PurposeMarketing, channel.WhatsApp, channel.SMS)},
			map[Key]Status{wa: Granted, sms: StatusPending}, nil},
		{"ImplicitDoesNotWeakenExplicit", []Record{rec(Grant, true, PurposeMarketing, channel.WhatsApp), rec(Grant, false, PurposeMarketing, channel.WhatsApp)},
			map[Key]Status{wa: Granted}, map[Key]bool{wa: true}},
		{"RevokedThenImplicitGrantIsImplicit", []Record{rec(Grant, true, PurposeMarketing, channel.WhatsApp), rec(Revoke, true, PurposeMarketing, channel.WhatsApp), rec(Grant, false, PurposeMarketing, channel.WhatsApp)},
			map[Key]Status{wa: Granted}, map[Key]bool{wa: false}},
		{"OtherPurposeUntouched", []Record{rec(Grant, true, PurposeService, channel.WhatsApp)},
			map[Key]Status{{PurposeService, channel.WhatsApp}: Granted}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Replay(tc.history)
			for k, want := range tc.want {
				require.Equal(t, want, got[k].Status, "%v", k)
			}
			for k, want := range tc.expl {
				require.Equal(t, want, got[k].Explicit, "%v", k)
			}
			_, hasOther := got[Key{PurposeNotifications, channel.WhatsApp}]
			require.False(t, hasOther, "nothing recorded, no state")
		})
	}
}

func TestFoldKeyword(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"SAIR": "SAIR", " sair ": "SAIR", "Sair!": "SAIR", "pare.": "PARE", "Não": "NAO", "CANCELAR 🙏": "CANCELAR",
		"não quero parar": "NAO QUERO PARAR", "": "", "!!!": "",
	} {
		require.Equal(t, want, foldKeyword(in), in)
	}
}
