package loggen

import (
	"bufio"
	"strconv"
	"strings"
	"time"
)

// pendingKind is something scheduled for later: the second half of an
// exchange (a token request after its discovery request, a reuse after the
// refresh it races or replays) or the next kubelet probe.
type pendingKind uint8

const (
	pProbe    pendingKind = iota // kubelet probe; schedules the next one
	pRefresh                     // refresh token grant after its discovery request
	pExchange                    // authorization-code grant after a login
	pRace                        // second client-go process with the same token
	pReplay                      // someone else with the rotated-out token
	pFail                        // refused token request after its discovery request
)

type pending struct {
	at      int64 // ms since Start
	kind    pendingKind
	replica int
	user    int
	ip      string
}

// hourly is the relative traffic per local hour of the day: people work
// office hours, kubelets and watchers do not.
var hourly = [24]float64{
	0.30, 0.25, 0.25, 0.25, 0.30, 0.40, 0.60, 0.90, 1.30, 1.55, 1.60, 1.55,
	1.35, 1.45, 1.60, 1.55, 1.45, 1.20, 0.95, 0.75, 0.60, 0.50, 0.40, 0.35,
}

const (
	probePeriod = 10_000 // ms between two runs of one kubelet probe
	nullShare   = 0.003  // share of session ids OpenUnison prints as null
	discShare   = 0.85   // share of token requests client-go precedes with discovery
	loginShare  = 0.05   // share of token grants that follow an interactive login
)

type gen struct {
	cfg   Config
	r     rng
	outs  []*bufio.Writer
	stats Stats
	buf   []byte // the record group being built; written whole by flush

	clock   float64 // ms since Start, unrounded
	now     int64   // ms since Start, as printed
	startMs int64   // Start in Unix ms
	dayMs   int64   // ms since local midnight at Start
	loc     *time.Location
	meanGap [24]float64 // ms between records, per hour of the day

	tsSec int64    // Unix second held in ts
	ts    [20]byte // "yyyy-MM-dd HH:mm:ss,"

	users      []user
	attackers  []string // replay sources: never a user's address
	scanners   []string // sources of NotFound noise
	apiServers []string // kube-apiserver and node addresses fetching JWKS
	pending    []pending
	ldap       []ldapState // per replica
	watchRV    int64       // resourceVersion of CRD watches

	tokenURL, discURL, certsURL, authURL, userinfoURL string
	base, dashURL, apiURL                             string
	xnio                                              []string // "XNIO-1 task-N"

	px *proxyGen // the proxies in front, in WritePaired; nil otherwise
}

type ldapState struct{ conn, op int }

func newGen(cfg Config, replicas int) *gen {
	g := &gen{
		cfg:     cfg,
		r:       rng{s: uint64(cfg.Seed)},
		buf:     make([]byte, 0, 8<<10),
		startMs: cfg.Start.UnixMilli(),
		loc:     cfg.Start.Location(),
		tsSec:   -1 << 62,
		watchRV: 48_000_000,
	}
	h, m, s := cfg.Start.Clock()
	g.dayMs = int64(h*3600+m*60+s)*1000 + int64(cfg.Start.Nanosecond()/1e6)
	var sum float64
	for _, v := range hourly {
		sum += v
	}
	for i, v := range hourly {
		g.meanGap[i] = 1000 / (cfg.Rate * v * 24 / sum)
	}

	g.users = newUsers(&g.r, cfg.Users)
	g.attackers = attackerIPs(&g.r, 24)
	g.scanners = attackerIPs(&g.r, 16)
	g.apiServers = []string{"10.0.0.11", "10.0.0.12", "10.0.0.13", "10.244.0.1"}
	for i := 1; i <= 48; i++ {
		g.xnio = append(g.xnio, "XNIO-1 task-"+strconv.Itoa(i))
	}

	g.base = "https://" + cfg.Host
	g.tokenURL = g.base + idpPath + "/token"
	g.discURL = g.base + idpPath + "/.well-known/openid-configuration"
	g.certsURL = g.base + idpPath + "/certs"
	g.authURL = g.base + idpPath + "/auth"
	g.userinfoURL = g.base + idpPath + "/userinfo"
	// OpenUnison's orchestra names its hosts k8sou, k8sdb and k8sapi.
	domain, ok := strings.CutPrefix(cfg.Host, "k8sou.")
	if !ok {
		domain = cfg.Host
	}
	g.dashURL = "https://k8sdb." + domain
	g.apiURL = "https://k8sapi." + domain

	g.ldap = make([]ldapState, replicas)
	for rep := range g.ldap {
		g.ldap[rep] = ldapState{conn: g.r.between(1000, 9000)}
		// Readiness and liveness probes, each on its own 10 s beat.
		for range 2 {
			g.schedule(pending{at: int64(g.r.intn(probePeriod)), kind: pProbe, replica: rep})
		}
	}
	return g
}

func (g *gen) run() error {
	var stepRecords int64 // g.stats.Records after the last background step
	for g.stats.Bytes < g.cfg.Size {
		// One step can write several records (an LDAP exchange, a grace
		// pair, probes and refreshes that fell due), so the gap stretches
		// by what was written since the last step to keep Rate in records.
		k := max(g.stats.Records-stepRecords, 1)
		next := g.clock + g.r.exp(g.meanGap[g.hour()])*float64(k)
		if i := g.earliest(); i >= 0 && g.pending[i].at <= int64(next) {
			p := g.pending[i]
			g.pending[i] = g.pending[len(g.pending)-1]
			g.pending = g.pending[:len(g.pending)-1]
			// Background arrivals are memoryless, so restarting their
			// clock at the pending event keeps timestamps in order
			// without bending the traffic.
			g.now = p.at
			g.clock = max(g.clock, float64(p.at))
			if err := g.fire(p); err != nil {
				return err
			}
			continue
		}
		g.clock = next
		g.now = int64(next)
		stepRecords = g.stats.Records
		if err := g.step(); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) hour() int { return int((g.dayMs + g.now) / 3_600_000 % 24) }

func (g *gen) schedule(p pending) { g.pending = append(g.pending, p) }

// earliest returns the index of the first pending event, or -1. The list
// holds a handful of entries, so a scan beats a heap.
func (g *gen) earliest() int {
	best := -1
	for i := range g.pending {
		if best < 0 || g.pending[i].at < g.pending[best].at {
			best = i
		}
	}
	return best
}

func (g *gen) replica() int { return g.r.intn(len(g.outs)) }

func (g *gen) thread() string { return g.xnio[g.r.intn(len(g.xnio))] }

// pickUser picks a user who has nothing scheduled, favouring a few heavy
// users as real clusters do. It gives up after a few tries so that a tiny
// population with everyone busy cannot stall the generator.
func (g *gen) pickUser() (int, bool) {
	for range 8 {
		f := g.r.float()
		i := int(f * f * float64(len(g.users)))
		if !g.users[i].busy {
			return i, true
		}
	}
	return 0, false
}

// wantToken decides whether the next background record is a token request.
// The probability leans against the running deficit, so the share of token
// lines converges on TokenShare whatever the other record types weigh,
// while individual requests still arrive at random.
func (g *gen) wantToken() bool {
	share := g.cfg.TokenShare
	if share == 0 {
		return false
	}
	deficit := share*float64(g.stats.Lines) - float64(g.stats.TokenLines)
	return g.r.float() < share*(1+deficit)
}

func (g *gen) fire(p pending) error {
	switch p.kind {
	case pProbe:
		g.accessLine(g.thread(), "AzSuccess", appIdP, probeURL, "", anonymousDN, "NONE", "127.0.0.1", "")
		p.at += probePeriod + int64(g.r.intn(20))
		g.schedule(p)
	case pRefresh:
		g.refresh(p.user, p.ip, true)
	case pExchange:
		g.refresh(p.user, p.ip, false)
	case pRace, pReplay:
		g.reuse(p.user, p.ip)
	case pFail:
		g.failure(p.ip)
	}
	return g.flush(p.replica)
}

// step writes one background record group at g.now.
func (g *gen) step() error {
	rep := g.replica()
	if g.wantToken() {
		g.tokenRequest()
		return g.flush(rep)
	}
	switch x := g.r.intn(10_000); {
	case x < 3300:
		g.appAccess()
	case x < 5600:
		g.ldapAccess(rep)
	case x < 6100:
		g.jwksFetch()
	case x < 8800:
		g.infoNoise()
	case x < 9780:
		g.debugNoise()
	case x < 9840:
		g.userinfo()
	case x < 9940:
		g.notFound()
	case x < 9980:
		g.warnNoise()
	default:
		g.errorNoise()
	}
	return g.flush(rep)
}

func (g *gen) flush(rep int) error {
	_, err := g.outs[rep].Write(g.buf)
	g.stats.Bytes += int64(len(g.buf))
	g.buf = g.buf[:0]
	if g.px != nil && err == nil {
		err = g.px.flush(rep)
	}
	return err
}

func (g *gen) isAPIServer(ip string) bool {
	for _, a := range g.apiServers {
		if a == ip {
			return true
		}
	}
	return false
}

// tokenRequest starts a request on the token endpoint: a refused one, or a
// refresh, usually after client-go's discovery request.
func (g *gen) tokenRequest() {
	if g.r.chance(g.cfg.FailShare) {
		u := &g.users[g.r.intn(len(g.users))]
		ip := u.ips[g.r.intn(len(u.ips))]
		if g.r.chance(discShare) {
			g.discovery(ip)
			g.schedule(pending{at: g.now + int64(g.r.between(3, 40)), kind: pFail, replica: g.replica(), ip: ip})
			return
		}
		g.failure(ip)
		return
	}
	i, ok := g.pickUser()
	if !ok {
		g.failure(g.scanners[g.r.intn(len(g.scanners))])
		return
	}
	if g.r.chance(loginShare) {
		g.login(i)
		return
	}
	u := &g.users[i]
	ip := u.ips[g.r.intn(len(u.ips))]
	if g.r.chance(discShare) {
		g.discovery(ip)
		u.busy = true
		g.schedule(pending{at: g.now + int64(g.r.between(3, 40)), kind: pRefresh, replica: g.replica(), user: i, ip: ip})
		return
	}
	g.refresh(i, ip, true)
}

func (g *gen) discovery(ip string) {
	g.accessLine(g.thread(), "AzSuccess", appIdP, g.discURL, "", anonymousDN, "NONE", ip, "")
}

// refresh writes a successful grant and may schedule a reuse of the token it
// rotated out: a client-go race from the same address, or a replay.
func (g *gen) refresh(i int, ip string, mayReuse bool) {
	u := &g.users[i]
	g.accessLine(g.thread(), "AzSuccess", appIdP, g.tokenURL, "", u.dn, "NONE", ip, "")
	g.stats.TokenLines++
	g.stats.Refreshes++
	u.lastIP = ip
	u.busy = false
	if !mayReuse {
		return
	}
	x := g.r.float()
	switch {
	case x < g.cfg.RaceShare:
		u.busy = true
		g.schedule(pending{at: g.now + int64(g.r.between(2, 150)), kind: pRace, replica: g.replica(), user: i, ip: ip})
	case x < g.cfg.RaceShare+g.cfg.ReplayShare:
		u.busy = true
		grace := int(g.cfg.Grace / time.Millisecond)
		bad := g.attackers[g.r.intn(len(g.attackers))]
		g.schedule(pending{at: g.now + int64(g.r.between(150, grace)), kind: pReplay, replica: g.replica(), user: i, ip: bad})
	}
}

// reuse writes what OpenUnison logs for a rotated-out token used inside
// the grace period: AzSuccess, then ExpiredRefreshTokenUsed, from one
// request (same thread, same session id).
func (g *gen) reuse(i int, ip string) {
	u := &g.users[i]
	th := g.thread()
	sess := g.newSession()
	if g.px != nil && ip != u.lastIP {
		g.px.agent = thiefAgents[g.px.r.intn(len(thiefAgents))]
	}
	g.accessLine(th, "AzSuccess", appIdP, g.tokenURL, "", u.dn, "NONE", ip, sess)
	g.head(th, infoOIDC)
	b := append(g.buf, "[ExpiredRefreshTokenUsed] - "...)
	b = append(b, g.tokenURL...)
	b = append(b, " - "...)
	b = append(b, u.dn...)
	g.buf = append(b, " - Expired token used within grace period"...)
	peer := ip
	if g.px != nil {
		peer = g.px.peerIP // the same request as the access line's
	}
	g.tail(peer, sess)
	g.stats.TokenLines += 2
	g.stats.GraceReuses++
	if ip == u.lastIP {
		g.stats.Races++
	} else {
		g.stats.Replays++
	}
	u.busy = false
}

// failure writes a refused token request: OpenUnison's WARN, then AzFail
// with the anonymous DN, since the token endpoint itself is anonymous.
func (g *gen) failure(ip string) {
	th := g.thread()
	g.head(th, warnOIDC)
	switch x := g.r.intn(100); {
	case x < 80:
		g.buf = append(g.buf, "Session does not exist from refresh_token\n"...)
	case x < 92:
		g.buf = append(g.buf, "Session expired\n"...)
	case x < 97:
		g.buf = append(g.buf, "Invalid client_secret\n"...)
	default:
		g.buf = append(g.buf, "Could not refresh token\n"...)
		g.stack(refreshStack)
	}
	g.accessLine(th, "AzFail", appIdP, g.tokenURL, "", anonymousDN, "NONE", ip, "")
	g.stats.TokenLines++
	g.stats.Failures++
}

func (g *gen) stack(s stack) {
	g.buf = append(g.buf, s.text...)
	g.stats.Lines += s.lines
	g.stats.StackTraces++
}

// appAccess is a request to an application behind OpenUnison: the
// dashboard and portal from a browser (whose cookie keeps the session id),
// the API proxy from kubectl (a new id every time).
func (g *gen) appAccess() {
	f := g.r.float()
	u := &g.users[int(f*f*float64(len(g.users)))]
	ip := u.ips[0]
	th := g.thread()
	switch x := g.r.intn(100); {
	case x < 55:
		if u.webLeft <= 0 {
			u.web = g.newSession()
			u.webLeft = g.r.between(20, 400)
		}
		u.webLeft--
		path := dashboardPaths[g.r.intn(len(dashboardPaths))]
		g.accessLine(th, "AzSuccess", "k8s-dashboard", g.dashURL, path, u.dn, "NONE", ip, u.web)
	case x < 92:
		path := apiPaths[g.r.intn(len(apiPaths))]
		sess := ""
		if g.r.chance(0.3) {
			sess = g.newSession()
			g.accessLine(th, "AuSuccess", "k8s-api", g.apiURL, path, u.dn, "1 / oauth2k8s", ip, sess)
		}
		g.accessLine(th, "AzSuccess", "k8s-api", g.apiURL, path, u.dn, "NONE", ip, sess)
	default:
		if u.web == "" {
			u.web = g.newSession()
			u.webLeft = g.r.between(20, 400)
		}
		g.accessLine(th, "AzSuccess", "openunison", g.base, "/main/", u.dn, "NONE", ip, u.web)
	}
}

// ldapAccess writes MyVD's access lines for a search, sometimes after a
// bind, as OpenUnison looks a user up.
func (g *gen) ldapAccess(rep int) {
	l := &g.ldap[rep]
	if g.r.chance(0.01) {
		l.conn++
	}
	u := &g.users[g.r.intn(len(g.users))]
	th := g.thread()
	if g.r.chance(0.3) {
		l.op++
		g.head(th, infoAccess)
		b := append(g.buf, "BIND op="...)
		b = strconv.AppendInt(b, int64(l.op), 10)
		b = append(b, " conn="...)
		b = strconv.AppendInt(b, int64(l.conn), 10)
		g.buf = append(b, ` dn="cn=openunison,ou=ServiceAccounts,dc=corp,dc=example,dc=com" method=SIMPLE`+"\n"...)
		g.ldapResult(th, l, 0)
	}
	l.op++
	g.head(th, infoAccess)
	b := append(g.buf, "SEARCH op="...)
	b = strconv.AppendInt(b, int64(l.op), 10)
	b = append(b, " conn="...)
	b = strconv.AppendInt(b, int64(l.conn), 10)
	if g.r.chance(0.5) {
		b = append(b, ` base="o=Tremolo" scope=2 filter="(uid=`...)
		b = append(b, u.uid...)
		b = append(b, `)" attrs="*"`+"\n"...)
	} else {
		b = append(b, ` base="`...)
		b = append(b, u.dn...)
		b = append(b, `" scope=0 filter="(objectClass=*)" attrs="memberOf"`+"\n"...)
	}
	g.buf = b
	g.ldapResult(th, l, 1)
}

func (g *gen) ldapResult(th string, l *ldapState, entries int) {
	g.head(th, infoAccess)
	b := append(g.buf, "RESULT op="...)
	b = strconv.AppendInt(b, int64(l.op), 10)
	b = append(b, " conn="...)
	b = strconv.AppendInt(b, int64(l.conn), 10)
	b = append(b, " err=0"...)
	if entries > 0 {
		b = append(b, " nentries="...)
		b = strconv.AppendInt(b, int64(entries), 10)
	}
	b = append(b, " etime="...)
	b = strconv.AppendInt(b, int64(g.r.between(1, 12)), 10)
	g.buf = append(b, '\n')
}

// jwksFetch is the API server (and nodes) fetching discovery and keys.
func (g *gen) jwksFetch() {
	url := g.certsURL
	if g.r.chance(0.4) {
		url = g.discURL
	}
	ip := g.apiServers[g.r.intn(len(g.apiServers))]
	g.accessLine(g.thread(), "AzSuccess", appIdP, url, "", anonymousDN, "NONE", ip, "")
}

// login is an interactive login, then the client trading its code for
// tokens: an AzSuccess on the token endpoint no different from a refresh.
// It is started as a token request so that TokenShare governs the code
// exchanges too.
func (g *gen) login(i int) {
	u := &g.users[i]
	ip := u.ips[0]
	u.web = g.newSession()
	u.webLeft = g.r.between(50, 400)
	g.accessLine(g.thread(), "AuSuccess", appIdP, g.authURL, "", u.dn, "20 / login-service", ip, u.web)
	u.busy = true
	g.schedule(pending{at: g.now + int64(g.r.between(300, 3000)), kind: pExchange, replica: g.replica(), user: i, ip: ip})
}

func (g *gen) userinfo() {
	f := g.r.float()
	u := &g.users[int(f*f*float64(len(g.users)))]
	th := g.thread()
	sess := g.newSession()
	g.accessLine(th, "AuSuccess", appIdP, g.userinfoURL, "", u.dn, "NONE", u.ips[0], sess)
	g.accessLine(th, "AzSuccess", appIdP, g.userinfoURL, "", u.dn, "NONE", u.ips[0], sess)
}

var notFoundPaths = []string{"/favicon.ico", "/robots.txt", "/.env", "/wp-login.php", "/.git/config", "/actuator/health", "/server-status"}

// notFound is Internet background noise; no application matches, so there
// is no user and OpenUnison prints its placeholder DN.
func (g *gen) notFound() {
	path := notFoundPaths[g.r.intn(len(notFoundPaths))]
	ip := g.scanners[g.r.intn(len(g.scanners))]
	g.accessLine(g.thread(), "NotFound", "UNKNOWN", g.base, path, "cn=none", "NONE", ip, "")
}

func (g *gen) infoNoise() {
	switch g.r.intn(8) {
	case 0, 1, 2:
		g.head(noiseThreads[[]int{0, 5}[g.r.intn(2)]], "INFO  K8sWatcher - ")
		g.watchRV += int64(g.r.between(1, 60))
		b := append(g.buf, "Watching "+apiServerURL+"/apis/openunison.tremolo.io/v1/namespaces/openunison/"...)
		b = append(b, crdKinds[g.r.intn(len(crdKinds))]...)
		b = append(b, "?watch=true&timeoutSeconds=25&resourceVersion="...)
		b = strconv.AppendInt(b, g.watchRV, 10)
		g.buf = append(b, '\n')
	case 3:
		g.head(noiseThreads[0], "INFO  K8sWatcher - ")
		b := append(g.buf, "Watch of "...)
		b = append(b, crdKinds[g.r.intn(len(crdKinds))]...)
		g.buf = append(b, " ended, restarting\n"...)
	case 4:
		g.head(noiseThreads[1], "INFO  SessionManagerImpl - ")
		b := append(g.buf, "Cleared "...)
		b = strconv.AppendInt(b, int64(g.r.intn(40)), 10)
		b = append(b, " expired sessions, "...)
		b = strconv.AppendInt(b, int64(g.r.between(200, 3000)), 10)
		g.buf = append(b, " active\n"...)
	case 5:
		g.head(noiseThreads[3], "INFO  ClearOidcSessionsJob - ")
		b := append(g.buf, "Deleted "...)
		b = strconv.AppendInt(b, int64(g.r.intn(25)), 10)
		g.buf = append(b, " expired oidc-sessions\n"...)
	case 6:
		u := &g.users[g.r.intn(len(g.users))]
		g.head(g.thread(), "INFO  ProvisioningEngineImpl - ")
		b := append(g.buf, "Workflow 'jitdb' completed for '"...)
		b = append(b, u.dn...)
		b = append(b, "', id "...)
		b = strconv.AppendInt(b, int64(g.r.between(100000, 999999)), 10)
		g.buf = append(b, '\n')
	default:
		g.head(noiseThreads[2], "INFO  ConfigManagerImpl - ")
		b := append(g.buf, "Reloaded "...)
		b = append(b, crdKinds[g.r.intn(len(crdKinds))]...)
		g.buf = append(b, " from openunison namespace\n"...)
	}
}

func (g *gen) debugNoise() {
	th := g.thread()
	switch g.r.intn(3) {
	case 0:
		g.head(th, "DEBUG ProxyRequest - ")
		b := append(g.buf, "Proxying to https://kubernetes.default.svc.cluster.local"...)
		b = append(b, apiPaths[g.r.intn(len(apiPaths))]...)
		g.buf = append(b, '\n')
	case 1:
		g.head(th, "DEBUG K8sSessionStore - ")
		b := append(g.buf, "Loaded oidc session x"...)
		b = appendHex40(b, &g.r)
		g.buf = append(b, '\n')
	default:
		u := &g.users[g.r.intn(len(g.users))]
		g.head(th, "DEBUG AuthManagerImpl - ")
		b := append(g.buf, "Chain 'oauth2k8s' satisfied at level 1 for "...)
		b = append(b, u.dn...)
		g.buf = append(b, '\n')
	}
}

func (g *gen) warnNoise() {
	if g.r.chance(0.5) {
		g.head(noiseThreads[0], "WARN  K8sWatcher - ")
		b := append(g.buf, "Watch of "...)
		b = append(b, crdKinds[g.r.intn(len(crdKinds))]...)
		g.buf = append(b, " returned 410 Gone, relisting\n"...)
		return
	}
	g.head(g.thread(), "WARN  ProxySys - ")
	b := append(g.buf, "Upstream https://kubernetes.default.svc.cluster.local returned 503 for "...)
	b = append(b, apiPaths[g.r.intn(len(apiPaths))]...)
	g.buf = append(b, '\n')
}

func (g *gen) errorNoise() {
	e := errorRecords[g.r.intn(len(errorRecords))]
	th := g.thread()
	if e.thread >= 0 {
		th = noiseThreads[e.thread]
	}
	g.head(th, e.levelLogger)
	g.buf = append(g.buf, e.msg...)
	g.buf = append(g.buf, '\n')
	g.stack(e.stack)
}

// head starts a record line: "[time][thread] LEVEL Logger - ".
func (g *gen) head(thread, levelLogger string) {
	b := append(g.buf, '[')
	b = g.appendTime(b)
	b = append(b, "]["...)
	b = append(b, thread...)
	b = append(b, "] "...)
	g.buf = append(b, levelLogger...)
	g.stats.Records++
	g.stats.Lines++
}

// accessLine writes an AccessLog line as AccessLog.log builds it:
// "[EVENT] - APP - URL - DN - MSG [IP] - [SESSION]". The URL comes in two
// pieces, base and path, to spare an allocation; an empty session means a
// fresh one.
func (g *gen) accessLine(thread, event, app, url, path, dn, msg, ip, session string) {
	g.head(thread, infoAccess)
	b := append(g.buf, '[')
	b = append(b, event...)
	b = append(b, "] - "...)
	b = append(b, app...)
	b = append(b, " - "...)
	b = append(b, url...)
	b = append(b, path...)
	b = append(b, " - "...)
	b = append(b, dn...)
	b = append(b, " - "...)
	g.buf = append(b, msg...)
	if g.px != nil {
		ip = g.px.request(event, url, ip)
	}
	g.tail(ip, session)
}

// tail ends an access or grace line: " [IP] - [SESSION]\n".
func (g *gen) tail(ip, session string) {
	b := append(g.buf, " ["...)
	b = append(b, ip...)
	b = append(b, "] - ["...)
	if session == "" {
		b = g.appendSession(b)
	} else {
		b = append(b, session...)
	}
	g.buf = append(b, "]\n"...)
}

// appendSession appends a fresh web-session id: "f" and 40 hex digits, or
// "null" now and then as OpenUnison prints when it has none.
func (g *gen) appendSession(b []byte) []byte {
	if g.r.chance(nullShare) {
		return append(b, "null"...)
	}
	return appendHex40(append(b, 'f'), &g.r)
}

func (g *gen) newSession() string {
	var a [41]byte
	return string(g.appendSession(a[:0]))
}

const hexDigits = "0123456789abcdef"

func appendHex40(b []byte, r *rng) []byte {
	x, y, z := r.next(), r.next(), r.next()
	for _, w := range [...]uint64{x, y} {
		for s := 60; s >= 0; s -= 4 {
			b = append(b, hexDigits[w>>uint(s)&0xf])
		}
	}
	for s := 28; s >= 0; s -= 4 {
		b = append(b, hexDigits[z>>uint(s)&0xf])
	}
	return b
}

// appendTime appends "yyyy-MM-dd HH:mm:ss,SSS" for g.now, formatting the
// date and time only when the second changes.
func (g *gen) appendTime(b []byte) []byte {
	abs := g.startMs + g.now
	sec, ms := abs/1000, abs%1000
	if ms < 0 {
		sec, ms = sec-1, ms+1000
	}
	if sec != g.tsSec {
		g.setSecond(sec)
	}
	b = append(b, g.ts[:]...)
	return append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

func (g *gen) setSecond(sec int64) {
	g.tsSec = sec
	t := time.Unix(sec, 0).In(g.loc)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b := g.ts[:0]
	b = append(b, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append2(b, int(mo), '-')
	b = append2(b, d, ' ')
	b = append2(b, h, ':')
	b = append2(b, mi, ':')
	append2(b, s, ',')
}

func append2(b []byte, v int, sep byte) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10), sep)
}
