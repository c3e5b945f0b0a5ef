// Command conversa is the one binary of the service: the API with its River workers (serve),
// workers alone (worker), migrations, the OpenAPI document, a development mode with its own
// PostgreSQL (dev), and admin commands to create accounts, users and API keys.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			stop()
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "conversa:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "conversa",
		Short:         "Conversa: a headless omnichannel customer engagement backend",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), workerCmd(), migrateCmd(), openapiCmd(), devCmd(), envCmd(),
		accountCmd(), userCmd(), apikeyCmd(), keygenCmd(), supportCodeCmd(), consentCmd(), withPostgresCmd())
	return root
}

// loadConfig reads the configuration and sets up the JSON logger that carries request ids.
func loadConfig() (config.Config, *slog.Logger, error) {
	cfg, err := config.Load()
	if err != nil {
		return cfg, nil, err
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(os.Stdout, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(os.Stdout, opts)
	}
	logger := slog.New(api.LogHandler(h))
	slog.SetDefault(logger)
	return cfg, logger, nil
}

func openapiCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "openapi",
		Short: "Print the OpenAPI document (3.1 YAML by default)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec := api.OpenAPI()
			var (
				b   []byte
				err error
			)
			switch format {
			case "yaml":
				b, err = spec.YAML()
			case "json":
				b, err = spec.MarshalJSON()
			case "yaml-3.0":
				b, err = spec.DowngradeYAML()
			default:
				return fmt.Errorf("unknown format %q (yaml, json, yaml-3.0)", format)
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "yaml", "yaml, json or yaml-3.0")
	return cmd
}

func envCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "List the environment variables the service reads",
		Run: func(cmd *cobra.Command, _ []string) {
			for _, v := range config.Vars {
				fmt.Fprintf(cmd.OutOrStdout(), "%-26s default %-10s %s\n", v.Name, v.Default, v.Doc)
			}
		},
	}
}
