package correlate

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// Eviction is how a Redis server frees memory at its maxmemory: the
// policy and the limit, as INFO memory reports them.
type Eviction struct {
	Policy   string // maxmemory_policy: noeviction, allkeys-lru, volatile-ttl, …
	MaxBytes int64  // maxmemory; 0 is no limit
}

// Evicts reports whether the server drops keys of its own accord: a limit
// set with any policy but noeviction. The shared history and the alert
// claims are then not what the watchers wrote: a volatile-* policy drops
// the claims (they expire) first, and two watchers can both send an
// alert; allkeys-* drops users' histories, and replays across replicas go
// unseen. Nothing reports an evicted key, so the start says so.
func (e Eviction) Evicts() bool { return e.MaxBytes > 0 && e.Policy != "" && e.Policy != "noeviction" }

// Eviction reads the server's eviction settings from INFO memory, which
// managed services allow where CONFIG GET is renamed or refused.
func (r *Redis) Eviction(ctx context.Context) (Eviction, error) {
	info, err := r.client.Info(ctx, "memory").Result()
	if err != nil {
		return Eviction{}, fmt.Errorf("redis %s: INFO memory: %w", r.client.Options().Addr, err)
	}
	return parseEviction(info), nil
}

func parseEviction(info string) Eviction {
	var e Eviction
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		switch k {
		case "maxmemory_policy":
			e.Policy = v
		case "maxmemory":
			e.MaxBytes, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return e
}

// warnEviction logs a warning when the server evicts keys; a server that
// does not answer INFO is left unjudged (the store works without it).
func warnEviction(ctx context.Context, r *Redis, log *slog.Logger) {
	e, err := r.Eviction(ctx)
	if err != nil || !e.Evicts() {
		return
	}
	log.Warn("Redis evicts keys when full, so the shared history and the alert claims can vanish without a word: "+
		"replays across replicas go unseen and an alert can be sent by two watchers; set maxmemory-policy noeviction "+
		"(graceguard's history is bounded: README, Bounded resources) or give graceguard a Redis of its own",
		"policy", e.Policy, "maxmemory", e.MaxBytes)
}
