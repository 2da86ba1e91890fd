package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkRedisApply measures the Redis store as one watcher drives it.
// "refreshes" is the common case: most events are refreshes no rule judges
// (pipelined) and one in 32 is a grace reuse that needs its facts (a round
// trip). "all-need-facts" is the worst case, a round trip per event.
// Target: ≥ 20,000 events/s from one watcher.
func BenchmarkRedisApply(b *testing.B) {
	for _, mix := range []struct {
		name      string
		factsEach int
	}{{"refreshes", 32}, {"all-need-facts", 1}} {
		b.Run(mix.name, func(b *testing.B) {
			store := newTestRedis(b, Limits{})
			ctx := context.Background()
			obs := benchObservations(4096)
			b.ResetTimer()
			for i := range b.N {
				o := obs[i%len(obs)]
				o.Time = t0.Add(time.Duration(i) * time.Millisecond)
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
		})
	}
}

func benchObservations(n int) []Observation {
	out := make([]Observation, n)
	for i := range out {
		out[i] = Observation{
			User:    UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=user%d,ou=shadow,o=Tremolo", i%1000)},
			Session: fmt.Sprintf("f%040x", i), IP: netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), Action: Refresh,
		}
	}
	return out
}
