// Package loggen writes synthetic OpenUnison 1.0.51 logs that are byte-exact to
// the log4j2 layout OpenUnison prints (see openunison-logs.md) and that mix
// traffic the way a busy deployment does: kubelet probes, OIDC discovery and
// JWKS fetches, MyVD LDAP access lines, application access lines, chatter from
// other loggers, the odd WARN or ERROR with a Java stack trace, and a chosen
// share of token-endpoint traffic with refreshes, client-go races, replays
// from other addresses and refused refreshes.
//
// It owns realistic, reproducible input for benchmarks and tests: the same
// Config always yields the same bytes (it uses its own generator rather than
// math/rand, whose streams may change between Go releases), and it is fast
// enough to make a gigabyte in seconds, so benchmarks can build their input
// instead of shipping it. Its Stats are ground truth, counted from the
// generator's own decisions as it writes.
//
// It must not parse logs, detect anything or import the analyzer: a generator
// that shared code with the parser would share its mistakes, and the counts it
// reports would stop being an independent check of what the scanner finds.
//
// Behind a proxy: WritePaired writes the same replicas' logs as OpenUnison
// logs them behind ingress-nginx, Istio, Envoy, Envoy Gateway or Traefik
// (Proxy.Format), and one access log per proxy pod (Proxy.Writers) in that
// proxy's format, each token request in exactly one of them with the real
// client, its user agent, the serving replica as upstream (ReplicaAddr) and
// times bracketing OpenUnison's line; OpenUnison's log then holds PeerIP
// (the pod, ProxyPodIP, or Istio's 127.0.0.6) where WriteReplicas has the
// client. About 98% of the proxies' lines are other traffic (other hosts
// and paths, OpenUnison's discovery, klog or Envoy info lines), so a proxy
// log exercises the parser's pre-filter as a busy cluster's does. With
// equal Configs, everything but those addresses is byte for byte what
// WriteReplicas writes (the proxies draw from their own generator).
//
// Where openunison-logs.md gives no exact text (MyVD's access lines, other
// loggers, stack frames, the AuSuccess lines of the API proxy's bearer-token
// chain and of logins), the lines are plausible imitations; the line layout,
// the access-log grammar and every token-endpoint line follow the document
// exactly.
package loggen

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// Config describes the log to write. Zero values select the defaults given
// per field; for the share fields a negative value means none at all.
type Config struct {
	// Size is the number of bytes to write, required. Output stops at the end
	// of the first record that reaches Size, so it overshoots by less than
	// one record (a line, or a few for a grace pair or a stack trace).
	Size int64
	// Seed selects the log; equal Configs give equal bytes.
	Seed int64
	// Start is the first timestamp. Timestamps are printed as wall-clock
	// time in Start's location, without a zone, as OpenUnison does. Default
	// 2026-11-23 00:00:00 UTC.
	Start time.Time
	// Users is the number of distinct people with kubeconfigs. Default 500.
	Users int
	// TokenShare is the share of lines that carry the token endpoint URL
	// (…/auth/idp/k8sIdp/token). Default 0.03.
	TokenShare float64
	// RaceShare is the share of refreshes followed, milliseconds later and
	// from the same address, by a second client-go process presenting the
	// same refresh token (a grace reuse that is benign). Default 0.02.
	RaceShare float64
	// ReplayShare is the share of refreshes followed inside the grace period
	// by a reuse of the rotated token from an address the user never uses.
	// Default 0.002.
	ReplayShare float64
	// FailShare is the share of token requests OpenUnison refuses (old token
	// outside the grace period, expired session, bad client secret, garbage
	// token). Default 0.01.
	FailShare float64
	// Grace is the grace period replays fall inside. Default 5s.
	Grace time.Duration
	// Rate is the mean number of records per second over a day; traffic
	// follows office hours around it. Default 65, which puts about a day
	// into a gigabyte.
	Rate float64
	// Host is the public host name OpenUnison is reached at. Default
	// k8sou.apps.example.com; the dashboard and API proxy hosts are derived
	// from it.
	Host string
}

// Stats counts what was written. Every field is counted as the generator
// decides, so tests and benchmarks can compare a scanner's findings with it.
type Stats struct {
	Bytes int64 `json:"bytes"` // bytes written
	// Lines counts physical lines, stack trace lines included.
	Lines int64 `json:"lines"`
	// Records is the number of log events (lines starting with a timestamp).
	Records int64 `json:"records"`
	// TokenLines is the number of lines that carry the token endpoint URL:
	// AzSuccess and AzFail access lines and ExpiredRefreshTokenUsed lines.
	// The WARN lines that precede an AzFail do not carry it.
	TokenLines int64 `json:"token_lines"`
	// Refreshes counts legitimate token grants: AzSuccess lines on the token
	// endpoint with a user DN that are not the first half of a grace reuse
	// (refreshes and authorization-code exchanges look the same).
	Refreshes int64 `json:"refreshes"`
	// GraceReuses counts ExpiredRefreshTokenUsed lines; each directly
	// follows its AzSuccess line, on the same thread with the same session
	// id.
	GraceReuses int64 `json:"grace_reuses"`
	// Races are grace reuses from the IP of the user's latest refresh;
	// Replays from any other IP. Races + Replays == GraceReuses.
	Races   int64 `json:"races"`
	Replays int64 `json:"replays"`
	// Failures counts AzFail lines on the token endpoint.
	Failures int64 `json:"failures"`
	// StackTraces counts records followed by a Java stack trace.
	StackTraces int64 `json:"stack_traces"`
}

// Write writes one replica's log to w; see WriteReplicas.
func Write(w io.Writer, cfg Config) (Stats, error) {
	return WriteReplicas([]io.Writer{w}, cfg)
}

// WriteReplicas writes the logs of len(ws) OpenUnison replicas behind one
// load balancer, one per writer: each request is served, and logged, by one
// replica chosen at random, so a refresh and its reuse may land in different
// logs, and each replica gets its own probes. Size and Stats count all
// writers together. Each writer is buffered here; none is closed.
func WriteReplicas(ws []io.Writer, cfg Config) (Stats, error) {
	if len(ws) == 0 {
		return Stats{}, &ConfigError{Field: "writers", Msg: "must not be empty"}
	}
	if err := cfg.fill(); err != nil {
		return Stats{}, err
	}
	g := newGen(cfg, len(ws))
	outs := make([]*bufio.Writer, len(ws))
	for i, w := range ws {
		outs[i] = bufio.NewWriterSize(w, 256<<10)
	}
	g.outs = outs
	err := g.run()
	for _, o := range outs {
		if ferr := o.Flush(); err == nil {
			err = ferr
		}
	}
	return g.stats, err
}

// Validate reports, as a *ConfigError, what Write would refuse in c,
// without writing anything, so a caller can check before creating files.
func (c Config) Validate() error { return c.fill() }

// ConfigError reports a Config field the generator cannot honour, so
// callers can tell a bad request from a failing writer.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return "loggen: " + e.Field + " " + e.Msg }

func cfgErr(field, format string, a ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// fill applies defaults and rejects values the generator cannot honour.
func (c *Config) fill() error {
	if c.Size <= 0 {
		return cfgErr("Size", "must be positive, got %d", c.Size)
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	}
	if c.Users == 0 {
		c.Users = 500
	}
	if c.Users < 0 {
		return cfgErr("Users", "must not be negative, got %d", c.Users)
	}
	shares := []struct {
		name string
		v    *float64
		def  float64
	}{
		{"TokenShare", &c.TokenShare, 0.03},
		{"RaceShare", &c.RaceShare, 0.02},
		{"ReplayShare", &c.ReplayShare, 0.002},
		{"FailShare", &c.FailShare, 0.01},
	}
	for _, s := range shares {
		switch {
		case *s.v == 0:
			*s.v = s.def
		case *s.v < 0:
			*s.v = 0
		case *s.v > 1:
			return cfgErr(s.name, "must be at most 1, got %g", *s.v)
		}
	}
	if c.TokenShare > 0.5 {
		// Every token request brings other lines with it (discovery, WARN
		// lines, probes), so a higher share cannot be reached honestly.
		return cfgErr("TokenShare", "must be at most 0.5, got %g", c.TokenShare)
	}
	if c.RaceShare+c.ReplayShare > 1 {
		return cfgErr("RaceShare", "plus ReplayShare must be at most 1, got %g", c.RaceShare+c.ReplayShare)
	}
	if c.Grace == 0 {
		c.Grace = 5 * time.Second
	}
	if c.Grace < 300*time.Millisecond {
		return cfgErr("Grace", "must be at least 300ms to leave room for a replay, got %v", c.Grace)
	}
	if c.Rate == 0 {
		c.Rate = 65
	}
	if c.Rate < 0 {
		return cfgErr("Rate", "must be positive, got %g", c.Rate)
	}
	if c.Host == "" {
		c.Host = "k8sou.apps.example.com"
	}
	return nil
}
