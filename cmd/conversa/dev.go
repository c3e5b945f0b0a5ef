package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/demo"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/secretbox"
)

func devCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything for development: a private PostgreSQL (unless DATABASE_URL is set), migrations, demo data, the API and the workers",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, logger, err := loadConfig()
			if err != nil {
				return err
			}
			if addr != "" {
				cfg.Addr = addr
			}
			ctx := cmd.Context()
			say := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "conversa dev: "+format+"\n", args...) }
			if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
				return err
			}

			if cfg.DatabaseURL == "" {
				cluster := &pgdb.Cluster{Dir: filepath.Join(cfg.DataDir, "postgres"), Durable: true, Logf: say}
				if err := cluster.Start(ctx); err != nil {
					return err
				}
				defer func() {
					if err := cluster.Stop(context.Background()); err != nil {
						say("%v", err)
					}
				}()
				if err := pgdb.EnsureDatabase(ctx, cluster.URL("postgres"), "conversa"); err != nil {
					return err
				}
				cfg.DatabaseURL = cluster.URL("conversa")
			}
			if cfg.JWTKeys == "" {
				if cfg.JWTKeys, err = secretFile(filepath.Join(cfg.DataDir, "jwt-key"), auth.GenerateSeed); err != nil {
					return err
				}
			}
			// Development receivers (a local CRM, a webhook inspector) run on this machine.
			cfg.WebhooksAllowPrivate = true
			if cfg.SecretKey == "" {
				if cfg.SecretKey, err = secretFile(filepath.Join(cfg.DataDir, "secret-key"), secretbox.GenerateKey); err != nil {
					return err
				}
			}
			keys, err := auth.ParseKeys(cfg.JWTKeys)
			if err != nil {
				return err
			}

			pool, err := pgdb.Open(ctx, cfg.DatabaseURL, 4)
			if err != nil {
				return err
			}
			if err := pgdb.Migrate(ctx, pool, nil); err != nil {
				pool.Close()
				return err
			}
			authSvc := auth.NewService(pool, keys, clock.System{}, auth.Config{})
			seeded, err := demo.Seed(ctx, pool, authSvc, clock.System{})
			if err != nil {
				pool.Close()
				return fmt.Errorf("seed demo data: %w", err)
			}
			keyFile := filepath.Join(cfg.DataDir, "demo-api-key")
			if seeded.APIKey != "" {
				err = os.WriteFile(keyFile, []byte(seeded.APIKey+"\n"), 0o600)
			} else {
				seeded.APIKey, err = secretFile(keyFile, func() string {
					_, k, err := authSvc.CreateAPIKey(ctx, seeded.Account.ID, auth.NewAPIKey{
						Name: "Demo integrator", Scopes: []string{string(auth.ContactsRead), string(auth.ContactsWrite), string(auth.ConsentsWrite)},
					})
					if err != nil {
						return ""
					}
					return k
				})
			}
			pool.Close()
			if err != nil {
				return err
			}
			if seeded.APIKey == "" {
				return errors.New("could not create the demo API key")
			}
			return serve(ctx, cfg, logger, serveHooks{ready: func(listen string) {
				base := "http://" + hostPort(listen)
				fmt.Fprintf(os.Stderr, `
Conversa is running.
  API        %[1]s/v1
  Docs       %[1]s/docs
  OpenAPI    %[1]s/openapi.yaml
  Database   %[2]s
  Account    %[3]s (%[4]s)
  Login      %[5]s / %[6]s   (POST /v1/auth/login)

Try it:
  curl -s -H 'Authorization: Bearer %[7]s' %[1]s/v1/contacts

Ctrl-C stops the service (and the private PostgreSQL).
`, base, cfg.DatabaseURL, seeded.Account.Name, seeded.Account.ID, demo.AdminEmail, demo.Password, seeded.APIKey)
			}})
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (default $CONVERSA_ADDR or :8080)")
	return cmd
}

// secretFile returns the secret kept in path, creating it with gen on first use.
func secretFile(path string, gen func() string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	s := gen()
	if s == "" {
		return "", fmt.Errorf("generate %s", path)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}

// hostPort turns a listen address into one a browser reaches (":8080" -> "localhost:8080").
func hostPort(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
