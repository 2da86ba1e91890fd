package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
)

// BenchmarkRedisApply measures the Redis store as one watcher drives it.
// "refreshes" is the common case: most events are refreshes no rule judges
// (pipelined, learned with plain commands) and one in 32 is a grace reuse
// that needs its facts (a round trip, the script). "all-need-facts" is the worst case, a round trip per event.
// Target: ≥ 20,000 events/s from one watcher.
func BenchmarkRedisApply(b *testing.B) {
	for _, mix := range []struct {
		name      string
		factsEach int
	}{{"refreshes", 32}, {"all-need-facts", 1}} {
		b.Run(mix.name, func(b *testing.B) {
			store := newOwnTestRedis(b, Limits{})
			ctx := context.Background()
			obs := benchObservations(4096)
			cpu0 := serverCPU(b, store)
			b.ResetTimer()
			for i := range b.N {
				o := obs[i%len(obs)]
				o.Time = t0.Add(time.Duration(i) * time.Millisecond)
				o.Source, o.Offset, o.Digest = "8:1234", int64(i)*300, uint64(i)+1
				if i%mix.factsEach == 0 {
					o.Action, o.NeedFacts = Reuse, true
				}
				if _, err := store.Apply(ctx, o); err != nil {
					b.Fatal(err)
				}
			}
			if err := store.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric((serverCPU(b, store)-cpu0)*1e6/float64(b.N), "redis-µs/event")
		})
	}
}

func benchObservations(n int) []Observation {
	out := make([]Observation, n)
	for i := range out {
		out[i] = Observation{
			User:    UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=user%d,ou=shadow,o=Tremolo", i%1000)},
			Session: fmt.Sprintf("f%040x", i), IP: netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), Action: Refresh,
			// kubectl's: a new id every request, which a watcher's local
			// store notes as new (Failover)
			sessionNew: true,
		}
	}
	return out
}

// BenchmarkRedisApplyBatch measures the Redis store as a watcher catching
// up drives it: batches of 512 events (one in 32 a grace reuse that needs
// its facts, the rest refreshes) applied in one round trip each. The
// stream's 1,000 users fit under the default cap; "at the users cap" keeps
// 500, so that most plain runs hold a new user and their gate goes through
// them event by event (redis.lua), evicting as the memory store does.
func BenchmarkRedisApplyBatch(b *testing.B) {
	for _, c := range []struct {
		name   string
		limits Limits
	}{{"under the caps", Limits{}}, {"at the users cap", Limits{MaxUsers: 500}}} {
		b.Run(c.name, func(b *testing.B) { benchApplyBatch(b, c.limits) })
	}
}

func benchApplyBatch(b *testing.B, l Limits) {
	store := newOwnTestRedis(b, l)
	ctx := context.Background()
	obs := benchObservations(4096)
	const size = 512
	batch, facts := make([]Observation, size), make([]Facts, size)
	n := 0
	cpu0 := serverCPU(b, store)
	for b.Loop() {
		n = fillCatchUpBatch(batch, obs, n)
		if err := store.ApplyBatch(ctx, batch, facts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric((serverCPU(b, store)-cpu0)*1e6/float64(n), "redis-µs/event")
}

// fillCatchUpBatch fills batch with the stream's next observations from
// the n-th, as a watcher catching up sends them (every 32nd a reuse that
// needs its facts), and returns the count after them.
func fillCatchUpBatch(batch, obs []Observation, n int) int {
	for i := range batch {
		o := obs[n%len(obs)]
		o.Time = t0.Add(time.Duration(n) * time.Millisecond)
		o.Source, o.Offset, o.Digest = "8:1234", int64(n)*300, uint64(n)+1
		if n%32 == 0 {
			o.Action, o.NeedFacts = Reuse, true
		}
		batch[i] = o
		n++
	}
	return n
}

// serverCPU is the CPU time, in seconds, redis-server has used.
func serverCPU(b *testing.B, r *Redis) float64 {
	b.Helper()
	info, err := r.client.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	return redistest.UsedCPU(info)
}

// BenchmarkRedisPrepare measures the watcher's side of a batch a watcher
// catching up sends: building its commands (Prepare: written as the duplex
// connection sends them), which the watcher's one core does beside parsing
// and judging while Redis has the other. The batch is
// BenchmarkRedisApplyBatch's; nothing is sent, and each batch's buffer is
// then kept for the next as sending it does.
func BenchmarkRedisPrepare(b *testing.B) {
	store := NewRedis(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), RedisOptions{})
	defer store.Close()
	ctx := context.Background()
	obs := benchObservations(4096)
	const size = 512
	batch := make([]Observation, size)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n = fillCatchUpBatch(batch, obs, n)
		store.recycle(store.Prepare(ctx, batch).wire)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}
