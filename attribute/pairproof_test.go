package attribute

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// The pair proof's search against every way there is: on small random
// buckets (two logs, requests a few milliseconds apart, records naming a
// client or none), completes and alwaysDistinct say what enumerating every
// way of giving each request a record of its own, in an order the proxy
// logs allow, says. A relaxation that cut a way some complete sharing
// uses would refute what is possible: a replay "proved" another client
// than a refresh that may be the same.
func TestPairSearchAgreesWithEveryWay(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	clients := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), {}}
	base := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	proved, someWay := 0, 0
	defer func() { t.Logf("%d buckets with a way, %d proved distinct", someWay, proved) }()
	for iter := range 4000 {
		n := 3 + rng.IntN(3)
		m := n + rng.IntN(3)
		a := &Attributor{opt: Options{Skew: time.Duration(rng.IntN(3)) * time.Millisecond}}
		b := &bucket{a: a}
		for i := range n {
			ev := &parser.Event{Time: base.Add(time.Duration(rng.IntN(40)) * time.Millisecond)}
			b.events = append(b.events, ev)
			b.byTime = append(b.byTime, i)
		}
		slices.SortStableFunc(b.byTime, func(i, j int) int { return b.events[i].Time.Compare(b.events[j].Time) })
		for k := range m {
			src := []string{"a", "b"}[rng.IntN(2)]
			a.records = append(a.records, record{ev: parser.Event{Source: src, Proxy: &parser.ProxyRecord{
				Client: clients[rng.IntN(len(clients))], Duration: time.Duration(rng.IntN(6)) * time.Millisecond,
			}}})
			b.records = append(b.records, k)
			b.clients = append(b.clients, a.records[k].ev.Proxy.Client)
		}
		b.fit = make([][]int, n)
		for e := range n {
			for k := range m {
				if rng.IntN(3) > 0 {
					b.fit[e] = append(b.fit[e], k)
				}
			}
		}
		b.number()

		ways := everyWay(b)
		s := search{b: b, at: make([]int, n), used: make([]bool, m)}
		for i := range s.at {
			s.at[i] = -1
		}
		for e := range n {
			for _, k := range b.fit[e] {
				want := slices.ContainsFunc(ways, func(w []int) bool { return w[e] == k })
				if got := s.completes(map[int]int{e: k}); got != want && s.steps <= maxPairSteps {
					t.Fatalf("bucket %d: completes with event %d at record %d: %v, every way says %v\nfit %v", iter, e, k, got, want, b.fit)
				}
			}
		}
		want := len(ways) > 0
		for _, w := range ways {
			cx, cy := b.clients[w[0]], b.clients[w[1]]
			if cx == cy || !cx.IsValid() || !cy.IsValid() {
				want = false
			}
		}
		if len(ways) > 0 {
			someWay++
		}
		if want {
			proved++
		}
		if got := b.alwaysDistinct(0, 1); got && !want {
			t.Fatalf("bucket %d: alwaysDistinct proved what a way refutes (%d ways)\nfit %v", iter, len(ways), b.fit)
		} else if got != want {
			t.Logf("bucket %d: alwaysDistinct gave up", iter)
		}
	}
}

// everyWay enumerates the complete ways of b: each event a record of its
// own among its fit, every two of one log in an order it allows.
func everyWay(b *bucket) [][]int {
	var out [][]int
	at := make([]int, len(b.events))
	used := make([]bool, len(b.records))
	var rec func(e int)
	rec = func(e int) {
		if e == len(at) {
			out = append(out, slices.Clone(at))
			return
		}
		for _, k := range b.fit[e] {
			if used[k] {
				continue
			}
			ok := true
			for d := range e {
				if !pairOrdered(b, d, at[d], e, k) {
					ok = false
				}
			}
			if !ok {
				continue
			}
			at[e], used[k] = k, true
			rec(e + 1)
			used[k] = false
		}
	}
	rec(0)
	return out
}

// pairOrdered is the proxy logs' order for two events at two records,
// written out from before: of one log, a request over before the other
// reached OpenUnison was logged first.
func pairOrdered(b *bucket, d, kd, e, ke int) bool {
	rd, re := &b.a.records[b.records[kd]], &b.a.records[b.records[ke]]
	if rd.ev.Source != re.ev.Source {
		return true
	}
	skew := b.a.opt.Skew
	if before(b.events[d], rd, b.events[e], skew) && kd > ke {
		return false
	}
	return !(before(b.events[e], re, b.events[d], skew) && ke > kd)
}
