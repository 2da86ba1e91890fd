package loggen

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// LifecycleBehind writes Lifecycle's scenario as it looks behind a proxy:
// len(ous) OpenUnison replicas (each request served by one at random) and
// len(px.Writers) proxy pods in px.Format (each request from outside the
// cluster carried by one at random). OpenUnison logs PeerIP of the pod that
// carried the request (127.0.0.6 behind Istio); the pod's access log names
// the real client, its user agent (client-go's Go-http-client/2.0 for
// refreshes and races, curl or python-requests for attackers) and the
// replica's ReplicaAddr as upstream, at the times WritePaired uses. Clients
// inside the cluster (10.244.0.0/16) and the kubelet reach OpenUnison
// directly and have no proxy record.
//
// Its cast is Lifecycle's plus in-cluster attackers: pods replaying an
// in-cluster client's token 5 ms after its refresh, which OpenUnison's log
// alone must name. The same config always gives the same bytes.
func LifecycleBehind(ous []io.Writer, cfg LifecycleConfig, px Proxy) (Truth, ProxyStats, error) {
	if len(ous) == 0 {
		return Truth{}, ProxyStats{}, &ConfigError{Field: "writers", Msg: "must not be empty"}
	}
	if len(px.Writers) == 0 {
		return Truth{}, ProxyStats{}, &ConfigError{Field: "Proxy.Writers", Msg: "must not be empty"}
	}
	if err := px.fill(); err != nil {
		return Truth{}, ProxyStats{}, err
	}
	lw := newLifecycle(cfg)
	lw.cast()
	lw.castInCluster()
	lw.sort()
	b := &lcBehind{lw: lw, byPod: make([][]pxReq, len(px.Writers))}
	for _, w := range ous {
		b.ous = append(b.ous, bufio.NewWriterSize(w, 256<<10))
	}
	b.p = &proxyGen{cfg: px, r: rng{s: uint64(lw.cfg.Seed) ^ 0x5bd1e9955bd1e995}, gen: b.stub(len(ous))}
	for _, w := range px.Writers {
		b.p.pods = append(b.p.pods, proxyPod{w: bufio.NewWriterSize(w, 256<<10)})
	}
	b.route()
	for _, o := range b.ous {
		if err := o.Flush(); err != nil {
			return lw.truth, b.p.stats, err
		}
	}
	err := b.writeProxies()
	return lw.truth, b.p.stats, err
}

// InCluster reports whether Lifecycle's client ip is a pod inside the
// cluster, reaching OpenUnison's Service with no proxy in between.
func InCluster(ip string) bool { return strings.HasPrefix(ip, "10.244.") }

// castInCluster adds pods replaying in-cluster clients' tokens: a
// compromised workload that read another's kubeconfig.
func (lw *lcWriter) castInCluster() {
	for i := range 2 {
		dn := fmt.Sprintf("uid=system-serviceaccount-batch-%d,ou=shadow,o=Tremolo", i)
		ip, thief := fmt.Sprintf("10.244.%d.%d", 4+i, 30+i), fmt.Sprintf("10.244.%d.%d", 7+i, 66+i)
		first := true
		lw.chain(dn, ip, lw.start(), lw.cfg.Duration, func(at time.Duration) {
			if first && at > lw.cfg.Duration/3 {
				first = false
				lw.as(thiefAgents[(i+1)%len(thiefAgents)], func() { lw.reuse(at+5*time.Millisecond, dn, thief) })
				lw.truth.Attacks = append(lw.truth.Attacks, Attack{Kind: "replay", User: dn, Thief: thief, Victim: ip, At: lw.cfg.Start.Add(at)})
			}
		})
	}
}

type lcBehind struct {
	lw    *lcWriter
	p     *proxyGen
	ous   []*bufio.Writer // the replicas' logs, written as routed (a write's error waits for Flush)
	byPod [][]pxReq
}

// stub is the gen WritePaired's record writers read: the start, the host,
// the replica count and, for noise, the cast's addresses.
func (b *lcBehind) stub(replicas int) *gen {
	g := &gen{cfg: Config{Host: "k8sou.apps.example.com"}, startMs: b.lw.cfg.Start.UnixMilli(), outs: make([]*bufio.Writer, replicas)}
	seen := map[string]bool{}
	for _, e := range b.lw.events {
		if e.client != "" && !seen[e.client] && !InCluster(e.client) && e.client != "127.0.0.1" {
			seen[e.client] = true
			g.users = append(g.users, user{ips: []string{e.client}})
		}
	}
	return g
}

// route sends each request to a replica and, from outside the cluster,
// through a proxy pod, rewriting the address OpenUnison logs.
func (b *lcBehind) route() {
	p := b.p
	for _, e := range b.lw.events {
		rep := p.r.intn(len(b.ous))
		if e.client != "" && e.client != "127.0.0.1" && !InCluster(e.client) {
			pod := p.r.intn(len(p.pods))
			peer := "[" + PeerIP(p.cfg.Format, pod) + "]"
			for i, l := range e.text {
				e.text[i] = strings.ReplaceAll(l, "["+e.client+"]", peer)
			}
			if e.token {
				at := e.at.Milliseconds()
				before := int64(p.r.between(1, 5))
				b.byPod[pod] = append(b.byPod[pod], pxReq{
					client: e.client, method: "POST", host: p.gen.cfg.Host, path: idpPath + "/token", agent: e.agent, status: e.status,
					size: p.r.between(1400, 2600), start: at - before, dur: before + int64(p.r.between(1, 20)), id: p.r.next(), pod: pod,
					upstream: ReplicaAddr(p.cfg.Format, rep),
				})
				p.stats.TokenRecords++
			}
		}
		for _, l := range e.text {
			b.ous[rep].WriteString(l)
			b.ous[rep].WriteByte('\n')
		}
	}
}

// writeProxies writes each pod's records in the order the pod finished
// them, with its share of other traffic before each.
func (b *lcBehind) writeProxies() error {
	p := b.p
	var err error
	for i, reqs := range b.byPod {
		slices.SortStableFunc(reqs, func(x, y pxReq) int { return int(x.start + x.dur - y.start - y.dur) })
		for _, req := range reqs {
			if err == nil {
				err = p.noise(i, req.start)
			}
			if err == nil {
				p.buf = p.appendLine(p.buf[:0], &req)
				err = p.write(&p.pods[i], req.start+req.dur)
			}
		}
		if ferr := p.pods[i].w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}
