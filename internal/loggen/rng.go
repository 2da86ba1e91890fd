package loggen

import "math"

// rng is SplitMix64. It is ours rather than math/rand's so that a seed means
// the same log forever, and it is small enough to inline, which matters at a
// few calls per line and millions of lines per second.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n) for 0 < n < 2^32. It uses Lemire's
// multiply-shift without the rejection step: the bias is below 2^-32 for
// the small n used here, far under anything a log reader could notice.
func (r *rng) intn(n int) int {
	return int(((r.next() >> 32) * uint64(n)) >> 32)
}

// between returns a number in [lo, hi).
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo) }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// exp returns an exponentially distributed number with the given mean: the
// gaps between independent arrivals, which is what requests from many
// unrelated clients look like.
func (r *rng) exp(mean float64) float64 { return -math.Log(1-r.float()) * mean }
