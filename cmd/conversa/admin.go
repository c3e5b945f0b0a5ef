package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/secretbox"
)

func migrateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Apply or inspect database migrations (the product's, then River's)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, logger, err := loadConfig()
			if err != nil {
				return err
			}
			pool, err := adminPool(cmd)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := pgdb.Migrate(cmd.Context(), pool, logger); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "migrations applied")
			return nil
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Show the schema version; exit 1 when migrations are pending",
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := adminPool(cmd)
			if err != nil {
				return err
			}
			defer pool.Close()
			st, err := pgdb.GetStatus(cmd.Context(), pool)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "product schema: version %d of %d\nriver schema: current=%v %s\n",
				st.Version, st.Latest, st.RiverOK, strings.Join(st.RiverMessages, "; "))
			if !st.Current() {
				return errors.New("migrations pending: run `conversa migrate up`")
			}
			return nil
		},
	})
	return cmd
}

func adminPool(cmd *cobra.Command) (*pgxpool.Pool, error) {
	cfg, _, err := loadConfig()
	if err != nil {
		return nil, err
	}
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set")
	}
	return pgdb.Open(cmd.Context(), cfg.DatabaseURL, 2)
}

func accountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Manage accounts (tenants)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create an account and print its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, err := adminPool(cmd)
			if err != nil {
				return err
			}
			defer pool.Close()
			a, err := account.Create(cmd.Context(), pool, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), a.ID)
			return nil
		},
	})
	return cmd
}

func userCmd() *cobra.Command {
	var in account.NewUser
	var acct string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user and print its id",
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := uuid.Parse(acct)
			if err != nil {
				return fmt.Errorf("--account: %w", err)
			}
			in.AccountID = id
			pool, err := adminPool(cmd)
			if err != nil {
				return err
			}
			defer pool.Close()
			u, err := account.CreateUser(cmd.Context(), pool, in)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), u.ID)
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&acct, "account", "", "account id (required)")
	f.StringVar(&in.Email, "email", "", "login e-mail (required)")
	f.StringVar(&in.Password, "password", "", "password, at least 10 characters (required)")
	f.StringVar(&in.Role, "role", "agent", "admin, supervisor, agent or compliance")
	f.StringVar(&in.Name, "name", "", "display name")
	f.StringSliceVar(&in.Permissions, "permission", nil, "extra permission: contact_notes, support_code, consent_read (repeatable)")
	for _, n := range []string{"account", "email", "password"} {
		_ = create.MarkFlagRequired(n)
	}
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	cmd.AddCommand(create)
	return cmd
}

func apikeyCmd() *cobra.Command {
	var (
		acct, name string
		scopes     []string
		rate       int
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an integrator API key and print it (it is shown only once)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := uuid.Parse(acct)
			if err != nil {
				return fmt.Errorf("--account: %w", err)
			}
			pool, err := adminPool(cmd)
			if err != nil {
				return err
			}
			defer pool.Close()
			// Creating a key signs nothing; any key set will do.
			keys, _ := auth.ParseKeys(auth.GenerateSeed())
			svc := auth.NewService(pool, keys, clock.System{}, auth.Config{})
			_, secret, err := svc.CreateAPIKey(cmd.Context(), id, auth.NewAPIKey{Name: name, Scopes: scopes, RateLimit: rate})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&acct, "account", "", "account id (required)")
	f.StringVar(&name, "name", "", "what the key is for (required)")
	f.StringSliceVar(&scopes, "scope", []string{string(auth.ContactsRead), string(auth.ContactsWrite)}, "scope (repeatable)")
	f.IntVar(&rate, "rate-limit", auth.DefaultAPIKeyRateLimit, "requests per second")
	_ = create.MarkFlagRequired("account")
	_ = create.MarkFlagRequired("name")
	cmd := &cobra.Command{Use: "apikey", Short: "Manage integrator API keys"}
	cmd.AddCommand(create)
	return cmd
}

func keygenCmd() *cobra.Command {
	var secret bool
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Print a new access-token signing key for CONVERSA_JWT_KEYS (or, with --secret, a key for CONVERSA_SECRET_KEY)",
		Run: func(cmd *cobra.Command, _ []string) {
			if secret {
				fmt.Fprintln(cmd.OutOrStdout(), secretbox.GenerateKey())
				return
			}
			fmt.Fprintln(cmd.OutOrStdout(), auth.GenerateSeed())
		},
	}
	cmd.Flags().BoolVar(&secret, "secret", false, "print a key for CONVERSA_SECRET_KEY")
	return cmd
}

func supportCodeCmd() *cobra.Command {
	var acct string
	cmd := &cobra.Command{
		Use:   "support-code CODE",
		Short: "Check a support code a customer read out (exit 1 when it does not match)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.Parse(acct)
			if err != nil {
				return fmt.Errorf("--account: %w", err)
			}
			pool, err := adminPool(cmd)
			if err != nil {
				return err
			}
			defer pool.Close()
			ok, err := account.CheckSupportCode(cmd.Context(), pool, id, args[0], time.Now())
			if err != nil {
				return err
			}
			if !ok {
				return errors.New("support code does not match")
			}
			fmt.Fprintln(cmd.OutOrStdout(), "support code matches")
			return nil
		},
	}
	cmd.Flags().StringVar(&acct, "account", "", "account id (required)")
	_ = cmd.MarkFlagRequired("account")
	return cmd
}

func consentCmd() *cobra.Command {
	var acct string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk the consent hash chains and report the first record that does not match (exit 1)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := adminPool(cmd)
			if err != nil {
				return err
			}
			defer pool.Close()
			var ids []uuid.UUID
			if acct != "" {
				id, err := uuid.Parse(acct)
				if err != nil {
					return fmt.Errorf("--account: %w", err)
				}
				ids = append(ids, id)
			} else if ids, err = store.New().ListAccountIDs(cmd.Context(), pool); err != nil {
				return fmt.Errorf("list accounts: %w", err)
			}
			svc := consent.NewService(pool, clock.System{})
			broken := false
			for _, id := range ids {
				start := time.Now()
				v, err := svc.Verify(cmd.Context(), id)
				if err != nil {
					return err
				}
				status := "ok"
				if v.Problem != nil {
					broken = true
					status = fmt.Sprintf("BROKEN at record %s (contact %s, seq %d): %s", v.Problem.RecordID, v.Problem.ContactID, v.Problem.Seq, v.Problem.Reason)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "account %s: %d records of %d contacts checked in %s: %s\n",
					id, v.Records, v.Contacts, time.Since(start).Round(time.Millisecond), status)
			}
			if broken {
				return errors.New("consent chain broken")
			}
			return nil
		},
	}
	verify.Flags().StringVar(&acct, "account", "", "account id (default: every account)")
	cmd := &cobra.Command{Use: "consent", Short: "Consent records"}
	cmd.AddCommand(verify)
	return cmd
}
