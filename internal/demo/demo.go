// Package demo seeds a development database with an account to try the API with: users of
// each role, an integrator API key, a few contacts and their consent.
package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/fault"
)

// The demo's credentials. They are printed by `conversa dev`; never use them outside it.
const (
	AdminEmail = "admin@demo.conversa.local"
	Password   = "conversa-demo"
)

// Seeded is what Seed created.
type Seeded struct {
	Account account.Account
	// APIKey is the integrator key's secret; empty when the account already existed.
	APIKey string
}

var demoContacts = []contact.Fields{
	{Name: "Maria da Silva", Phones: []string{"(11) 98765-4321"}, Document: ptr("529.982.247-25"), CustomerCode: ptr("CRM-0001"), Tags: []string{"vip"}, Priority: "high"},
	{Name: "João Pereira", Phones: []string{"+55 21 99876-5432"}, Email: ptr("joao@example.com"), CustomerCode: ptr("CRM-0002")},
	{Name: "Ana Souza", Phones: []string{"31 8765-4321"}, CustomerCode: ptr("CRM-0003"), Tags: []string{"inadimplente"}},
	{Name: "Padaria Pão Quente Ltda", Phones: []string{"(11) 3456-7890"}, Document: ptr("11.222.333/0001-81"), CustomerCode: ptr("CRM-0004")},
	{Name: "John Smith", Phones: []string{"+1 415 555 2671"}, Email: ptr("john@example.com"), Priority: "low"},
}

// Seed creates the demo account unless a user with AdminEmail exists already, in which case it
// returns that account and no key.
func Seed(ctx context.Context, pool *pgxpool.Pool, authSvc *auth.Service, clk clock.Clock) (Seeded, error) {
	var out Seeded
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		acct, err := account.Create(ctx, tx, "Demo")
		if err != nil {
			return err
		}
		out.Account = acct
		for _, u := range []account.NewUser{
			{Email: AdminEmail, Name: "Demo Admin", Role: string(auth.RoleAdmin)},
			{Email: "supervisor@demo.conversa.local", Name: "Demo Supervisor", Role: string(auth.RoleSupervisor)},
			{Email: "agent@demo.conversa.local", Name: "Demo Agent", Role: string(auth.RoleAgent)},
			{Email: "compliance@demo.conversa.local", Name: "Demo Compliance", Role: string(auth.RoleCompliance)},
		} {
			u.AccountID, u.Password = acct.ID, Password
			if _, err := account.CreateUser(ctx, tx, u); err != nil {
				return fmt.Errorf("seed user %s: %w", u.Email, err)
			}
		}
		contacts := contact.NewService(pool, clk)
		consents := consent.NewService(pool, clk)
		for i, f := range demoContacts {
			c, err := contacts.CreateTx(ctx, tx, acct.ID, f)
			if err != nil {
				return fmt.Errorf("seed contact %s: %w", f.Name, err)
			}
			if i > 1 {
				continue
			}
			// The first two accepted WhatsApp marketing on the demo landing page.
			_, err = consents.RecordTx(ctx, tx, acct.ID, c.ID, consent.Entry{
				Action: consent.Grant, Purposes: []consent.Purpose{consent.PurposeMarketing}, Channels: []channel.Type{channel.WhatsApp},
				Method: consent.Checkbox, Text: "Aceito receber ofertas da Demo pelo WhatsApp.", Source: "demo landing page",
				TermsVersion: "v1", IP: "203.0.113.10",
			}, consent.Recorder{Kind: "system", ID: "demo-seed"})
			if err != nil {
				return fmt.Errorf("seed consent of %s: %w", f.Name, err)
			}
		}
		return nil
	})
	if fault.Is(err, fault.KindConflict) {
		return existing(ctx, pool)
	}
	if err != nil {
		return Seeded{}, err
	}
	_, key, err := authSvc.CreateAPIKey(ctx, out.Account.ID, auth.NewAPIKey{
		Name: "Demo integrator", Scopes: []string{string(auth.ContactsRead), string(auth.ContactsWrite), string(auth.ConsentsWrite), string(auth.EventsRead), string(auth.WebhooksManage)},
	})
	if err != nil {
		return Seeded{}, err
	}
	out.APIKey = key
	return out, nil
}

func existing(ctx context.Context, pool *pgxpool.Pool) (Seeded, error) {
	u, err := store.New().GetUserByEmail(ctx, pool, AdminEmail)
	if errors.Is(err, pgx.ErrNoRows) {
		return Seeded{}, errors.New("demo account half-seeded: drop the database and retry")
	}
	if err != nil {
		return Seeded{}, fmt.Errorf("find demo account: %w", err)
	}
	acct, err := account.Get(ctx, pool, u.AccountID)
	return Seeded{Account: acct}, err
}

func ptr(s string) *string { return &s }
