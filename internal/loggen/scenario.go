package loggen

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"time"
)

// Lifecycle writes an hour (Duration) of one replica's token-endpoint
// traffic whose every request follows the refresh lifecycle coherently,
// with clients reaching OpenUnison directly: each kubeconfig is a refresh
// chain refreshed about once a minute, and the cast around it is what the
// detection must tell apart:
//
//   - plain users at home, and an office NAT many users share;
//   - heavy racers: two tools on one kubeconfig racing on nearly every
//     refresh (grace reuses from the refresh's own address), and client-go
//     races landing just outside the grace period (refused, same address);
//   - in-cluster clients on pod addresses;
//   - movers: a laptop leaving the office, refreshing from home a few
//     minutes later, nothing refused;
//   - bots replaying a victim's token 5 ms after each refresh;
//   - thieves who refresh first, the victim's refresh then a grace reuse;
//   - chain takers outside the grace period: a refresh from elsewhere, the
//     victim's next refresh refused ("Session does not exist from
//     refresh_token" then the anonymous AzFail, same thread), the victim
//     logging in again.
//
// Its Truth says which users were attacked and from where, so a test can
// check every attack is alerted naming the attacker's address and nothing
// else is alerted loudly. Unlike Write it favours coherence over volume;
// the same config always gives the same bytes.
type LifecycleConfig struct {
	Seed     int64
	Start    time.Time     // default 2026-11-23 09:00 UTC
	Duration time.Duration // default 1h
	Grace    time.Duration // default 5s
}

// Attack is one attack Lifecycle wrote.
type Attack struct {
	Kind   string // "replay" (a reuse inside the grace period from the attacker), "refresh-first" (the attacker refreshed, the victim's reuse followed), "taken" (chain taken outside the grace period)
	User   string // the victim's DN
	Thief  string // the attacker's address
	Victim string // the victim's address
	At     time.Time
}

// Truth is what Lifecycle wrote, by intent.
type Truth struct {
	Attacks []Attack
	// Benign lists the users with no attack, by their role ("racer",
	// "mover", "office", "home", "in-cluster", "late-racer").
	Benign                      map[string][]string
	Refreshes, Reuses, Refusals int
}

type lcEvent struct {
	at   time.Duration
	text []string // the lines, same thread
	// What a proxy in front would see (LifecycleBehind): the client, its
	// user agent, and for a token request the status returned.
	client, agent string
	token         bool
	status        int
}

type lcWriter struct {
	cfg    LifecycleConfig
	r      rng
	events []lcEvent
	truth  Truth
	thread int
	agent  string // the user agent of the token requests being written; client-go's when empty
}

// Lifecycle writes the log to w and returns what it holds.
func Lifecycle(w io.Writer, cfg LifecycleConfig) (Truth, error) {
	lw := newLifecycle(cfg)
	lw.cast()
	lw.sort()
	return lw.truth, writeLines(w, lw.events)
}

// writeLines writes the events' lines to w, buffered: the log built whole
// first, in a builder grown by doubling, was a third of the time Lifecycle
// took.
func writeLines(w io.Writer, events []lcEvent) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	for _, e := range events {
		for _, l := range e.text {
			bw.WriteString(l)
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

func newLifecycle(cfg LifecycleConfig) *lcWriter {
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	}
	if cfg.Duration <= 0 {
		cfg.Duration = time.Hour
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 5 * time.Second
	}
	return &lcWriter{cfg: cfg, r: rng{s: uint64(cfg.Seed) ^ 0x9e3779b97f4a7c15}, truth: Truth{Benign: map[string][]string{}}}
}

func (lw *lcWriter) sort() {
	slices.SortStableFunc(lw.events, func(a, b lcEvent) int { return int(a.at - b.at) })
}

const (
	lcToken = "https://k8sou.apps.example.com/auth/idp/k8sIdp/token"
	lcDisc  = "https://k8sou.apps.example.com/auth/idp/k8sIdp/.well-known/openid-configuration"
	lcAuth  = "https://k8sou.apps.example.com/auth/idp/k8sIdp/auth"
	lcProbe = "https://127.0.0.1:8443/auth/idp/k8sIdp/.well-known/openid-configuration"
	lcNAT   = "203.0.113.7"
)

func (lw *lcWriter) stamp(at time.Duration) string {
	return lw.cfg.Start.Add(at).Format("2006-01-02 15:04:05,000")
}

func (lw *lcWriter) nextThread() string {
	lw.thread = lw.thread%64 + 1
	return fmt.Sprintf("XNIO-1 task-%d", lw.thread)
}

func (lw *lcWriter) session() string { return string(appendHex40([]byte{'f'}, &lw.r)) }

func (lw *lcWriter) access(at time.Duration, th, tag, url, dn, ip, sess string) string {
	return fmt.Sprintf("[%s][%s] INFO  AccessLog - [%s] - k8sidp - %s - %s - NONE [%s] - [%s]", lw.stamp(at), th, tag, url, dn, ip, sess)
}

func (lw *lcWriter) add(at time.Duration, lines ...string) {
	lw.events = append(lw.events, lcEvent{at: at, text: lines})
}

// addReq adds the lines of one request from client; a token request
// returned status.
func (lw *lcWriter) addReq(at time.Duration, client string, token bool, status int, lines ...string) {
	agent := lw.agent
	if agent == "" {
		agent = "Go-http-client/2.0"
	}
	lw.events = append(lw.events, lcEvent{at: at, text: lines, client: client, agent: agent, token: token, status: status})
}

// as writes what write writes with agent as the token requests' user agent.
func (lw *lcWriter) as(agent string, write func()) {
	lw.agent = agent
	write()
	lw.agent = ""
}

// refresh writes a refresh (after client-go's discovery request) at at.
func (lw *lcWriter) refresh(at time.Duration, dn, ip string) {
	disc := at - time.Duration(lw.r.between(3, 40))*time.Millisecond
	lw.addReq(disc, ip, false, 200, lw.access(disc, lw.nextThread(), "AzSuccess", lcDisc, anonymousDN, ip, lw.session()))
	lw.addReq(at, ip, true, 200, lw.access(at, lw.nextThread(), "AzSuccess", lcToken, dn, ip, lw.session()))
	lw.truth.Refreshes++
}

// reuse writes a grace reuse: AzSuccess then ExpiredRefreshTokenUsed, one
// request.
func (lw *lcWriter) reuse(at time.Duration, dn, ip string) {
	th, sess := lw.nextThread(), lw.session()
	lw.addReq(at, ip, true, 200, lw.access(at, th, "AzSuccess", lcToken, dn, ip, sess),
		fmt.Sprintf("[%s][%s] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [%s] - [%s]",
			lw.stamp(at), th, lcToken, dn, ip, sess))
	lw.truth.Reuses++
}

// refused writes a refused refresh: the WARN, then the anonymous AzFail.
func (lw *lcWriter) refused(at time.Duration, ip string) {
	th := lw.nextThread()
	lw.addReq(at, ip, true, 401, fmt.Sprintf("[%s][%s] WARN  OpenIDConnectIdP - Session does not exist from refresh_token", lw.stamp(at), th),
		lw.access(at, th, "AzFail", lcToken, anonymousDN, ip, lw.session()))
	lw.truth.Refusals++
}

func (lw *lcWriter) login(at time.Duration, dn, ip string) {
	lw.addReq(at, ip, false, 200, fmt.Sprintf("[%s][%s] INFO  AccessLog - [AuSuccess] - k8sidp - %s - %s - 20 / login-service [%s] - [%s]",
		lw.stamp(at), lw.nextThread(), lcAuth, dn, ip, lw.session()))
}

// chain refreshes dn from ip about once a minute from start to end, calling
// each (when set) after every refresh; it returns the refresh times.
func (lw *lcWriter) chain(dn, ip string, start, end time.Duration, each func(at time.Duration)) []time.Duration {
	var times []time.Duration
	for at := start; at < end; at += time.Minute + time.Duration(lw.r.between(0, 4000))*time.Millisecond {
		lw.refresh(at, dn, ip)
		times = append(times, at)
		if each != nil {
			each(at)
		}
	}
	return times
}

func (lw *lcWriter) dn(role string, i int) string {
	return fmt.Sprintf("uid=%s%d,ou=shadow,o=Tremolo", role, i)
}

func (lw *lcWriter) start() time.Duration {
	return time.Duration(lw.r.between(0, 60_000)) * time.Millisecond
}

func (lw *lcWriter) benign(role, dn string) {
	lw.truth.Benign[role] = append(lw.truth.Benign[role], dn)
}

func (lw *lcWriter) cast() {
	end := lw.cfg.Duration
	grace := lw.cfg.Grace
	for at := time.Duration(0); at < end; at += 10 * time.Second {
		lw.add(at, lw.access(at, lw.nextThread(), "AzSuccess", lcProbe, anonymousDN, "127.0.0.1", lw.session()))
	}
	for i := range 30 { // at home, one address each
		dn := lw.dn("home", i)
		lw.benign("home", dn)
		lw.chain(dn, fmt.Sprintf("198.51.100.%d", 10+i), lw.start(), end, nil)
	}
	for i := range 20 { // behind the office NAT
		dn := lw.dn("office", i)
		lw.benign("office", dn)
		lw.chain(dn, lcNAT, lw.start(), end, nil)
	}
	for i := range 4 { // heavy racers: k9s and kubectl on one kubeconfig
		dn, ip := lw.dn("racer", i), lcNAT
		if i%2 == 1 {
			ip = fmt.Sprintf("198.51.100.%d", 60+i)
		}
		lw.benign("racer", dn)
		lw.chain(dn, ip, lw.start(), end, func(at time.Duration) {
			if lw.r.chance(0.9) {
				lw.reuse(at+time.Duration(lw.r.between(2, 150))*time.Millisecond, dn, ip)
			}
		})
	}
	for i := range 3 { // client-go races just outside the grace period
		dn, ip := lw.dn("lateracer", i), fmt.Sprintf("198.51.100.%d", 70+i)
		lw.benign("late-racer", dn)
		lw.chain(dn, ip, lw.start(), end, func(at time.Duration) {
			if lw.r.chance(0.1) {
				lw.refused(at+grace+time.Duration(lw.r.between(100, 3000))*time.Millisecond, ip)
			}
		})
	}
	for i := range 3 { // in-cluster clients
		dn := fmt.Sprintf("uid=system-serviceaccount-ci-%d,ou=shadow,o=Tremolo", i)
		lw.benign("in-cluster", dn)
		ip := fmt.Sprintf("10.244.%d.%d", i+1, 17+i)
		lw.chain(dn, ip, lw.start(), end, func(at time.Duration) {
			if lw.r.chance(0.2) {
				lw.reuse(at+time.Duration(lw.r.between(2, 60))*time.Millisecond, dn, ip)
			}
		})
	}
	for i := range 4 { // movers: office to home, a few minutes on the road
		dn, home := lw.dn("mover", i), fmt.Sprintf("198.51.100.%d", 80+i)
		lw.benign("mover", dn)
		leave := time.Duration(lw.r.between(15, 40)) * time.Minute
		last := lw.chain(dn, lcNAT, lw.start(), leave, nil)
		lw.chain(dn, home, last[len(last)-1]+time.Duration(lw.r.between(3, 12))*time.Minute, end, nil)
	}
	for i := range 3 { // bots replaying 5 ms after a refresh
		dn, ip, bot := lw.dn("botvictim", i), fmt.Sprintf("198.51.100.%d", 90+i), fmt.Sprintf("192.0.2.%d", 66+i)
		first := true
		lw.chain(dn, ip, lw.start(), end, func(at time.Duration) {
			if first && at > 20*time.Minute {
				first = false
				lw.as(thiefAgents[i%len(thiefAgents)], func() { lw.reuse(at+5*time.Millisecond, dn, bot) })
				lw.truth.Attacks = append(lw.truth.Attacks, Attack{Kind: "replay", User: dn, Thief: bot, Victim: ip, At: lw.cfg.Start.Add(at)})
			}
		})
	}
	for i := range 2 { // thieves who refresh first, the victim's refresh inside the grace period
		dn, ip, thief := lw.dn("firstvictim", i), fmt.Sprintf("198.51.100.%d", 100+i), fmt.Sprintf("192.0.2.%d", 100+i)
		var times []time.Duration
		theft := time.Duration(lw.r.between(20, 40)) * time.Minute
		times = lw.chain(dn, ip, lw.start(), theft, nil)
		at := times[len(times)-1] + time.Minute
		lw.as("python-requests/2.31.0", func() { lw.refresh(at, dn, thief) })
		lw.reuse(at+time.Duration(lw.r.between(200, int(grace/time.Millisecond)-200))*time.Millisecond, dn, ip)
		lw.truth.Attacks = append(lw.truth.Attacks, Attack{Kind: "refresh-first", User: dn, Thief: thief, Victim: ip, At: lw.cfg.Start.Add(at)})
		lw.chain(dn, ip, at+time.Minute, end, nil)
	}
	for i := range 4 { // chains taken outside the grace period; the last victim behind the office NAT
		dn, ip, thief := lw.dn("takenvictim", i), fmt.Sprintf("198.51.100.%d", 110+i), fmt.Sprintf("192.0.2.%d", 130+i)
		if i == 3 {
			ip = lcNAT
		}
		theft := time.Duration(lw.r.between(15, 40)) * time.Minute
		times := lw.chain(dn, ip, lw.start(), theft, nil)
		last := times[len(times)-1]
		took := last + time.Duration(lw.r.between(5, 40))*time.Second
		lw.as("curl/8.5.0", func() { lw.chain(dn, thief, took, end, nil) })
		refusedAt := last + time.Minute + time.Duration(lw.r.between(0, 4000))*time.Millisecond
		lw.refused(refusedAt, ip)
		lw.truth.Attacks = append(lw.truth.Attacks, Attack{Kind: "taken", User: dn, Thief: thief, Victim: ip, At: lw.cfg.Start.Add(took)})
		// The victim logs in again: a new chain from its own address.
		relog := refusedAt + time.Duration(lw.r.between(20, 90))*time.Second
		lw.login(relog, dn, ip)
		lw.chain(dn, ip, relog+2*time.Second, end, nil)
	}
}
