package attribute

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// Snapshot is what an Attributor holds, for a checkpoint: what waits and
// what was learned. Gob-encoded by the watcher; fields may only be added.
type Snapshot struct {
	Events    []parser.Event // waiting, in arrival order
	Records   []parser.Event // waiting proxy records (used ones included: a twin may still need them)
	Used      []bool
	Upstreams map[string]netip.Addr // OpenUnison source → upstream address
	Peers     map[string]netip.Addr // proxy source → logged peer
	Proxies   []netip.Addr          // learned proxy addresses
	Expect    bool
	// The logs seen, whose clocks a held event waits for: proxy logs
	// (ProxyLogs) and OpenUnison's (OULogs), those with nothing held
	// included. A checkpoint from before they were saved restores the
	// logs of what it holds.
	ProxyLogs []string
	OULogs    []string
	// Logs maps generations' names to their logs' (SameLog), for what
	// waits from them.
	Logs map[string]string
}

// Snapshot copies the state.
func (a *Attributor) Snapshot() Snapshot {
	s := Snapshot{Upstreams: map[string]netip.Addr{}, Peers: map[string]netip.Addr{}, Expect: a.expect}
	for _, p := range a.events {
		s.Events = append(s.Events, p.ev)
	}
	for _, r := range a.records {
		s.Records = append(s.Records, r.ev)
		s.Used = append(s.Used, r.used)
	}
	for k, v := range a.learn.upstream {
		s.Upstreams[k] = v
	}
	for k, v := range a.learn.peer {
		s.Peers[k] = v
	}
	for addr := range a.known.addrs {
		s.Proxies = append(s.Proxies, addr)
	}
	for src := range a.learn.sources {
		s.ProxyLogs = append(s.ProxyLogs, src)
	}
	for src := range a.learn.ous {
		s.OULogs = append(s.OULogs, src)
	}
	if len(a.learn.logs) > 0 {
		s.Logs = maps.Clone(a.learn.logs)
	}
	return s
}

// Restore puts a snapshot back; what waited waits again from now.
func (a *Attributor) Restore(s Snapshot, now time.Time) {
	for src, log := range s.Logs {
		a.learn.sameLog(src, log)
	}
	for _, src := range s.ProxyLogs {
		a.learn.noteSource(src)
	}
	for _, src := range s.OULogs {
		a.learn.noteOU(src)
	}
	for _, ev := range s.Events {
		a.noteToken(&ev)
		a.events = append(a.events, pending{ev: ev, arrived: now})
		a.heldBy[ev.SourceKey()]++
	}
	// Release walks the events in log time order, as Push keeps them; a
	// checkpoint that lost that order (a hand edit) must not undo it.
	slices.SortStableFunc(a.events, func(x, y pending) int { return x.ev.Time.Compare(y.ev.Time) })
	a.voteFrom = 0 // the events moved; each one's voted flag still counts
	for i, ev := range s.Records {
		if ev.Proxy == nil {
			continue
		}
		a.learn.noteSource(ev.Source)
		a.records = append(a.records, record{ev: ev, arrived: now, used: i < len(s.Used) && s.Used[i]})
	}
	for k, v := range s.Upstreams {
		a.learn.setUpstream(k, v)
	}
	for k, v := range s.Peers {
		a.learn.setPeer(k, v)
	}
	for _, p := range s.Proxies {
		a.known.add(p)
	}
	a.expect = a.expect || s.Expect
	a.bySourceOK = false
}
