package idp

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// latencies is a lock-free log-linear histogram of microseconds: 64 buckets
// per power of two, so a quantile is within 1/64 (1.6%) of the truth, with
// constant memory however long a simulation runs.
type latencies struct {
	counts [64 * 40]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

func bucketOf(us uint64) int {
	if us < 64 {
		return int(us)
	}
	exp := bits.Len64(us) - 7 // us>>exp is in [64, 128)
	return (exp+1)*64 + int(us>>exp) - 64
}

// bucketHigh is the smallest value above bucket i, an upper bound for it.
func bucketHigh(i int) uint64 {
	i++
	if i < 64 {
		return uint64(i)
	}
	exp := i/64 - 1
	return uint64(i%64+64) << exp
}

func (l *latencies) record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	i := min(bucketOf(us), len(l.counts)-1)
	l.counts[i].Add(1)
	l.n.Add(1)
	for {
		m := l.max.Load()
		if int64(d) <= m || l.max.CompareAndSwap(m, int64(d)) {
			break
		}
	}
}

// quantile returns an upper bound of the q-quantile (0 < q <= 1), zero when
// nothing was recorded.
func (l *latencies) quantile(q float64) time.Duration {
	n := l.n.Load()
	if n == 0 {
		return 0
	}
	want := uint64(q*float64(n) + 0.999999)
	var seen uint64
	for i := range l.counts {
		seen += l.counts[i].Load()
		if seen >= want {
			return min(time.Duration(bucketHigh(i))*time.Microsecond, time.Duration(l.max.Load()))
		}
	}
	return time.Duration(l.max.Load())
}

// Latency summarises request latencies.
type Latency struct {
	P50 time.Duration `json:"p50"`
	P90 time.Duration `json:"p90"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

func (l *latencies) summary() Latency {
	return Latency{P50: l.quantile(0.50), P90: l.quantile(0.90), P99: l.quantile(0.99), Max: time.Duration(l.max.Load())}
}
