package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/redact"
	"github.com/graceguard/graceguard/internal/secretfile"
	"github.com/graceguard/graceguard/pipeline"
)

// redisPasswordEnv holds the Redis password when neither the URL nor
// --state-password-file gives one: a Secret mounted as an environment
// variable, kept out of the command line and the config file.
const redisPasswordEnv = "GRACEGUARD_REDIS_PASSWORD"

type stateFlags struct {
	url          string
	passwordFile string
	caFile       string
	prefix       string
	// redisTyped are the Redis-only flags set on the command line
	// (noteGiven).
	redisTyped []string
}

// redisOnlyFlags shape a Redis --state and nothing else.
var redisOnlyFlags = []string{"state-password-file", "state-ca-file", "state-prefix"}

// noteGiven notes which Redis-only flags were typed on cmd's command line:
// with the memory store they would do nothing. Set in the config file or
// the environment they are defaults for when --state is a Redis, as the
// --revoke-* flags are (noteGiven in revoke.go).
func (s *stateFlags) noteGiven(cmd *cobra.Command) {
	s.redisTyped = nil
	for _, name := range redisOnlyFlags {
		if onCommandLine(cmd.Context(), name) {
			s.redisTyped = append(s.redisTyped, "--"+name)
		}
	}
}

func (s *stateFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&s.url, "state", "memory", "where the correlation history lives: memory, or a `URL` redis://[:PASSWORD@]HOST:PORT/DB (rediss:// for TLS) shared by the watchers of all replicas")
	f.StringVar(&s.passwordFile, "state-password-file", "", "read the Redis password from `FILE` (else "+redisPasswordEnv+")")
	f.StringVar(&s.caFile, "state-ca-file", "", "PEM `FILE` of the CA that signed a rediss:// server's certificate (default: the system's roots)")
	f.StringVar(&s.prefix, "state-prefix", "graceguard:", "`PREFIX` of graceguard's Redis keys: one per OpenUnison deployment sharing a Redis")
}

// openedState is the store a watch runs on.
type openedState struct {
	store  correlate.Store
	stats  pipeline.StoreStats
	shared bool
	claims pipeline.Claimer
	close  func() error
}

// open makes the memory store, or the Redis store behind a failover to
// memory. An unreachable Redis is not an error: watch starts on local
// state, not ready, and connects when Redis answers. A Redis that refuses
// the settings (correlate.Refusal: credentials, ACL, database, certificate)
// is a usage error: it would refuse them for ever.
func (s *stateFlags) open(ctx context.Context, stateDir string, logger *slog.Logger) (openedState, error) {
	if s.url == "" || s.url == "memory" {
		if len(s.redisTyped) > 0 {
			return openedState{}, usageErrorf("%s: for a redis:// or rediss:// --state; the memory store has no password, CA or keys", strings.Join(s.redisTyped, ", "))
		}
		m := correlate.NewMemory(correlate.Limits{})
		return openedState{store: m, stats: m, close: func() error { return nil }}, nil
	}
	opt, err := s.redisOptions()
	if err != nil {
		return openedState{}, err
	}
	owner, err := instanceID(stateDir)
	if err != nil {
		return openedState{}, err
	}
	redis.SetLogger(redisLogger{logger})
	shared := correlate.NewRedis(redis.NewClient(opt), correlate.RedisOptions{Prefix: s.prefix, Owner: owner})
	f, err := correlate.StartFailover(ctx, shared, correlate.NewMemory(correlate.Limits{}), logger)
	if err != nil {
		shared.Close()
		// A configuration error like a malformed URL: Redis will answer
		// the same until an operator changes the settings or the server.
		return openedState{}, usageErrorf("--state %s: %s: %w",
			redactStateURL(s.url), correlate.Refusal(err), redact.Error(err, s.url, redisQueryOptions...))
	}
	logger.Info("shared state", "url", redactStateURL(s.url), "prefix", s.prefix, "up", f.Up())
	return openedState{store: f, stats: f, shared: true, claims: f, close: f.Close}, nil
}

// redisOptions parses --state and adds the password and short timeouts:
// a stalled Redis must cost the pipeline a second, not the client's
// defaults, and a failed script is not retried (it is not idempotent; the
// failover store takes over instead).
func (s *stateFlags) redisOptions() (*redis.Options, error) {
	u, err := url.Parse(s.url)
	if err != nil {
		return nil, usageErrorf("--state %s: %v; want memory, redis://HOST:PORT/DB or rediss://HOST:PORT/DB", redactStateURL(s.url), redact.ParseError(err))
	}
	// Without "//" ("redis:PASSWORD", "redis:user:pw@host") go-redis
	// took the URL for localhost:6379 with no password, and the watch
	// started on another Redis than the one meant.
	if u.Scheme != "redis" && u.Scheme != "rediss" || u.Opaque != "" {
		return nil, usageErrorf("--state %s: want memory, redis://HOST:PORT/DB or rediss://HOST:PORT/DB", redactStateURL(s.url))
	}
	opt, err := redis.ParseURL(s.url)
	if err != nil {
		// go-redis quotes what it refuses (a path, a url.Parse error holding
		// the whole URL), which may sit next to a password.
		return nil, usageErrorf("--state %s: %w", redactStateURL(s.url), redact.Error(err, s.url, redisQueryOptions...))
	}
	if passwordAlone(u) {
		// go-redis would send it as a user name with no password, and
		// every command would fail with NOAUTH.
		opt.Password, opt.Username = opt.Username, ""
	}
	if opt.Password == "" {
		if opt.Password, err = s.password(); err != nil {
			return nil, err
		}
	}
	if s.caFile != "" {
		if u.Scheme != "rediss" {
			return nil, usageErrorf("--state-ca-file needs a rediss:// --state URL")
		}
		pool, err := readCAFile(s.caFile)
		if err != nil {
			return nil, err
		}
		opt.TLSConfig.RootCAs = pool
	}
	q := u.Query()
	if !q.Has("dial_timeout") {
		opt.DialTimeout = 2 * time.Second
	}
	if !q.Has("read_timeout") {
		opt.ReadTimeout = time.Second
	}
	if !q.Has("write_timeout") {
		opt.WriteTimeout = time.Second
	}
	if !q.Has("max_retries") {
		opt.MaxRetries = -1
	}
	opt.DialerRetries = 1
	return opt, nil
}

func readCAFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("--state-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, usageErrorf("--state-ca-file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

func (s *stateFlags) password() (string, error) {
	if s.passwordFile != "" {
		pw, err := secretfile.Read(s.passwordFile)
		if err != nil {
			return "", usageErrorf("--state-password-file: %w", err)
		}
		return pw, nil
	}
	return os.Getenv(redisPasswordEnv), nil
}

// redisQueryOptions are the query keys go-redis v9's ParseURL reads, none
// of them a credential; any other key (password=, a typo) is refused by
// go-redis, and its value may be the password the user meant to give.
var redisQueryOptions = []string{
	"db", "protocol", "client_name", "max_retries", "min_retry_backoff", "max_retry_backoff",
	"dial_timeout", "read_timeout", "write_timeout", "pool_fifo", "pool_size", "pool_timeout",
	"min_idle_conns", "max_idle_conns", "max_active_conns", "max_concurrent_dials",
	"pipeline_pool_size", "pipeline_read_buffer_size", "pipeline_write_buffer_size",
	"conn_max_idle_time", "idle_timeout", "conn_max_lifetime", "max_conn_age", "conn_max_lifetime_jitter",
	"skip_verify",
}

// redactStateURL shows --state with its password and any query value that
// is not a go-redis option masked. A userinfo without a colon is masked
// too, by redact.URL as for every URL: redis-cli (and most Redis clients)
// read "redis://SECRET@host" as the password.
func redactStateURL(raw string) string {
	return redact.URL(raw, redisQueryOptions...)
}

// passwordAlone says whether u's userinfo has no colon (redis://SECRET@host):
// redis-cli, and the examples operators copy from, read that as the
// password, not a user name.
func passwordAlone(u *url.URL) bool {
	_, has := u.User.Password()
	return u.User != nil && !has && u.User.Username() != ""
}

// instanceID names this watcher in the alert ids it claims and in its
// Redis keys. It is kept in the state directory so a restarted watcher is
// the same watcher; without one, each run is its own. An operator may
// write the file (a pod's name, say): what it holds is read within
// maxInstanceIDFile and must be one short token, or watch stops with a
// usage error naming the file, line and column, never a key of a
// megabyte or of control bytes.
func instanceID(stateDir string) (string, error) {
	if stateDir == "" {
		return randomID(), nil
	}
	path := filepath.Join(stateDir, "instance-id")
	id, err := readInstanceID(path)
	if id != "" || err != nil {
		return id, err
	}
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	id = randomID()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	return id, nil
}

// maxInstanceIDFile and maxInstanceID bound what instanceID reads and
// keeps: an id is a token, the file room for it and a little whitespace.
const (
	maxInstanceIDFile = 4096
	maxInstanceID     = 128
)

// readInstanceID returns the id path holds; "" (and no error) when there
// is no file or it is blank, a half-written file whose id is made again.
func readInstanceID(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInstanceIDFile+1))
	if err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	if len(data) > maxInstanceIDFile {
		return "", badInstanceID(path, fmt.Sprintf("it holds more than %d bytes", maxInstanceIDFile))
	}
	// ASCII whitespace only, so that start is where id begins in data: a
	// no-break space is a byte the id may not have, named where it is.
	const blank = " \t\r\n"
	start := len(data) - len(bytes.TrimLeft(data, blank))
	id := bytes.TrimRight(data[start:], blank)
	if len(id) > maxInstanceID {
		return "", badInstanceID(path, fmt.Sprintf("its id is %d bytes long", len(id)))
	}
	for i, c := range id {
		if c == '\n' {
			line, col := lineColumn(data, start+i+1)
			return "", badInstanceID(path, fmt.Sprintf("line %d, column %d: a second line", line, col))
		}
		if !instanceIDByte(c) {
			line, col := lineColumn(data, start+i)
			return "", badInstanceID(path, fmt.Sprintf("line %d, column %d: %s is not allowed", line, col, describeByte(c)))
		}
	}
	return string(id), nil
}

func instanceIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

func badInstanceID(path, what string) error {
	return usageErrorf("%s: %s; want one line of 1 to %d letters, digits, '.', '_' or '-' (it names this watcher in Redis and in the alert ids it claims): correct it, or remove the file to have a new id made",
		path, what, maxInstanceID)
}

// lineColumn gives the 1-based line and column (in bytes) of data[at].
func lineColumn(data []byte, at int) (line, col int) {
	before := data[:at]
	line = 1 + bytes.Count(before, []byte{'\n'})
	return line, at - bytes.LastIndexByte(before, '\n')
}

// describeByte names c so that a control byte or half a UTF-8 sequence
// does not reach the terminal raw.
func describeByte(c byte) string {
	if c > ' ' && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// redisLogger sends go-redis's own messages (reconnection attempts) to
// graceguard's log at debug level: the failover store already logs the
// failures that matter, once, at error level.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
