package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/conversa-hq/conversa/internal/pgdb"
)

// withPostgresCmd runs a command (the test suite, a benchmark) with TEST_DATABASE_URL pointing
// at a superuser connection: the one already set, else the machine's PostgreSQL on
// 127.0.0.1:5432 unless CONVERSA_NO_SYSTEM_PG=1, else a private throwaway cluster that is
// removed afterwards. With --durable it always starts the private cluster, durable and with
// pgdb.ServerSettings: benchmarks measure the server this service is sized for, not whatever
// the machine's own PostgreSQL is configured with. The command's exit status is passed on.
func withPostgresCmd() *cobra.Command {
	var dir string
	var durable bool
	cmd := &cobra.Command{
		Use:    "with-postgres -- COMMAND [ARGS...]",
		Short:  "Run a command with TEST_DATABASE_URL set to a PostgreSQL server (for make test and make bench)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			url := os.Getenv("TEST_DATABASE_URL")
			switch {
			case url != "":
				fmt.Fprintln(os.Stderr, "with-postgres: using TEST_DATABASE_URL")
			case !durable && pgdb.SystemAnswers():
				url = pgdb.SystemURL
				fmt.Fprintln(os.Stderr, "with-postgres: using the PostgreSQL on 127.0.0.1:5432 (CONVERSA_NO_SYSTEM_PG=1 to use a private one)")
			default:
				if dir == "" {
					d, err := os.MkdirTemp("", "conversa-pg-")
					if err != nil {
						return err
					}
					// Open to the postgres user, which runs the server when we are root.
					if err := os.Chmod(d, 0o755); err != nil {
						return err
					}
					defer os.RemoveAll(d)
					dir = d
				}
				cluster := &pgdb.Cluster{Dir: filepath.Join(dir, "pg"), Durable: durable, Logf: func(f string, a ...any) {
					fmt.Fprintf(os.Stderr, "with-postgres: "+f+"\n", a...)
				}}
				if err := cluster.Start(ctx); err != nil {
					return err
				}
				defer func() {
					_ = cluster.Stop(context.Background())
					_ = cluster.Remove()
				}()
				url = cluster.URL("postgres")
			}
			c := exec.CommandContext(ctx, args[0], args[1:]...)
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
			c.Env = append(os.Environ(), "TEST_DATABASE_URL="+url)
			err := c.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return exitCode(exit.ExitCode())
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&durable, "durable", false, "start a private durable cluster with production settings (for benchmarks), ignoring 127.0.0.1:5432")
	return cmd
}

type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("command exited with status %d", int(e)) }
