// Package config reads the service's settings from environment variables, the twelve-factor
// way, so one binary runs the same in development, CI and production.
package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Var documents one environment variable.
type Var struct {
	Name, Default, Doc string
}

// Vars lists every variable the service reads, for `conversa env` and the README.
var Vars = []Var{
	{"DATABASE_URL", "(none)", "PostgreSQL URL. Required by serve, worker, migrate and the admin commands; `conversa dev` starts a private cluster under .data/ when it is unset."},
	{"CONVERSA_ADDR", ":8080", "Address the API listens on (serve --addr overrides it)."},
	{"CONVERSA_JWT_KEYS", "(none)", "Comma-separated base64 Ed25519 seeds that sign access tokens; the first signs, all verify. Required by serve; `conversa dev` generates one into .data/."},
	{"CONVERSA_SECRET_KEY", "(none)", "Base64 32-byte key that encrypts provider credentials at rest (`conversa keygen --secret` prints one; `conversa dev` generates one into .data/). Without it, credentials cannot be stored."},
	{"CONVERSA_PUBLIC_URL", "http://localhost:8080", "The address providers reach this server at: the media library's signed links (WhatsApp downloads media by link) start with it."},
	{"CONVERSA_WHATSAPP_URL", "https://graph.facebook.com", "The WhatsApp Cloud API's base URL: a proxy, or a local server that speaks its wire format (tests, load tests)."},
	{"CONVERSA_ACCESS_TTL", "15m", "Access token lifetime."},
	{"CONVERSA_REFRESH_TTL", "720h", "Refresh token lifetime."},
	{"CONVERSA_MAX_BODY_BYTES", "1048576", "Largest request body accepted (413 beyond)."},
	{"CONVERSA_MAX_IMPORT_BYTES", "1073741824", "Largest CSV file POST /v1/imports accepts (413 beyond); the upload is streamed, never held in memory."},
	{"CONVERSA_DB_MAX_CONNS", "16", "Connections in the database pool."},
	{"CONVERSA_WORKERS", "100", "River workers in the default queue (serve and worker)."},
	{"CONVERSA_JOBS", "true", "false makes serve an API-only process that runs no River workers (run `conversa worker` processes for them), so request latency does not share a process with the dispatchers and drains."},
	{"CONVERSA_DEBUG_ADDR", "(none)", "Address of a second listener serving Go's profiler (/debug/pprof/), e.g. 127.0.0.1:6060: where a slow server spends its CPU. Keep it off public interfaces."},
	{"CONVERSA_LOG_LEVEL", "info", "debug, info, warn or error."},
	{"CONVERSA_LOG_FORMAT", "json", "json or text."},
	{"CONVERSA_SHUTDOWN_TIMEOUT", "30s", "How long a stop waits for in-flight requests and jobs."},
	{"CONVERSA_TRUSTED_PROXIES", "(none)", "Comma-separated CIDRs of load balancers whose X-Forwarded-For names the client (login throttling is per client address)."},
	{"CONVERSA_WEBHOOKS_ALLOW_PRIVATE", "false", "true lets outbound webhook subscriptions reach loopback and private addresses (development); otherwise they are refused, so a subscription cannot probe the internal network. `conversa dev` sets it."},
	{"CONVERSA_DATA_DIR", ".data", "Where `conversa dev` keeps its PostgreSQL cluster and generated secrets."},
	{"CONVERSA_NO_SYSTEM_PG", "(unset)", "1 makes `make test` ignore a PostgreSQL on 127.0.0.1:5432 and start a private cluster."},
}

// Config is the service's settings.
type Config struct {
	DatabaseURL string
	Addr        string
	// DebugAddr serves net/http/pprof when set (CONVERSA_DEBUG_ADDR).
	DebugAddr string
	JWTKeys   string
	SecretKey string
	// PublicURL is where providers reach the server (the media library's links).
	PublicURL string
	// WhatsAppURL is the Cloud API's base URL.
	WhatsAppURL     string
	AccessTTL       time.Duration
	RefreshTTL      time.Duration
	MaxBodyBytes    int64
	MaxImportBytes  int64
	DBMaxConns      int32
	Workers         int
	LogLevel        slog.Level
	LogFormat       string
	ShutdownTimeout time.Duration
	DataDir         string
	TrustedProxies  []netip.Prefix
	// WebhooksAllowPrivate lets outbound webhooks reach private addresses.
	WebhooksAllowPrivate bool
	// APIOnly makes serve run no River workers (CONVERSA_JOBS=false).
	APIOnly bool
}

// Load reads the environment. A malformed value is an error that names the variable.
func Load() (Config, error) {
	var errs []string
	str := func(name string) string {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			return v
		}
		return defaultOf(name)
	}
	dur := func(name string) time.Duration {
		d, err := time.ParseDuration(str(name))
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("%s: want a positive duration like 15m, got %q", name, str(name)))
		}
		return d
	}
	num := func(name string) int64 {
		n, err := strconv.ParseInt(str(name), 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Sprintf("%s: want a positive integer, got %q", name, str(name)))
		}
		return n
	}
	c := Config{
		DatabaseURL:     os.Getenv("DATABASE_URL"),
		Addr:            str("CONVERSA_ADDR"),
		DebugAddr:       os.Getenv("CONVERSA_DEBUG_ADDR"),
		JWTKeys:         os.Getenv("CONVERSA_JWT_KEYS"),
		SecretKey:       os.Getenv("CONVERSA_SECRET_KEY"),
		PublicURL:       str("CONVERSA_PUBLIC_URL"),
		WhatsAppURL:     str("CONVERSA_WHATSAPP_URL"),
		AccessTTL:       dur("CONVERSA_ACCESS_TTL"),
		RefreshTTL:      dur("CONVERSA_REFRESH_TTL"),
		MaxBodyBytes:    num("CONVERSA_MAX_BODY_BYTES"),
		MaxImportBytes:  num("CONVERSA_MAX_IMPORT_BYTES"),
		DBMaxConns:      int32(num("CONVERSA_DB_MAX_CONNS")),
		Workers:         int(num("CONVERSA_WORKERS")),
		LogFormat:       str("CONVERSA_LOG_FORMAT"),
		ShutdownTimeout: dur("CONVERSA_SHUTDOWN_TIMEOUT"),
		DataDir:         str("CONVERSA_DATA_DIR"),
	}
	for _, b := range []struct {
		name string
		set  *bool
		when bool
	}{{"CONVERSA_WEBHOOKS_ALLOW_PRIVATE", &c.WebhooksAllowPrivate, true}, {"CONVERSA_JOBS", &c.APIOnly, false}} {
		switch v := str(b.name); v {
		case "true", "1":
			*b.set = b.when
		case "false", "0":
			*b.set = !b.when
		default:
			errs = append(errs, fmt.Sprintf("%s: want true or false, got %q", b.name, v))
		}
	}
	for _, cidr := range strings.Split(os.Getenv("CONVERSA_TRUSTED_PROXIES"), ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			errs = append(errs, fmt.Sprintf("CONVERSA_TRUSTED_PROXIES: %q is not a CIDR like 10.0.0.0/8", cidr))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	if err := c.LogLevel.UnmarshalText([]byte(str("CONVERSA_LOG_LEVEL"))); err != nil {
		errs = append(errs, fmt.Sprintf("CONVERSA_LOG_LEVEL: want debug, info, warn or error, got %q", str("CONVERSA_LOG_LEVEL")))
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Sprintf("CONVERSA_LOG_FORMAT: want json or text, got %q", c.LogFormat))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

func defaultOf(name string) string {
	for _, v := range Vars {
		if v.Name == name && !strings.HasPrefix(v.Default, "(") {
			return v.Default
		}
	}
	return ""
}
