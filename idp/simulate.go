package idp

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/internal/redact"
)

// Operations the simulator performs, as the truth file names them.
const (
	OpLogin        = "login"         // first password login of a user
	OpRelogin      = "relogin"       // a user whose session was lost logs in again
	OpRefresh      = "refresh"       // a normal refresh from the user's home address
	OpRace         = "race"          // two refreshes of one token at once from the home address (client-go)
	OpReplay       = "replay"        // a refresh, then its rotated-out token replayed from another address at once
	OpOutsideGrace = "outside_grace" // a token rotated out longer than grace ago replayed from another address
)

// Results of one request, as the truth file names them.
const (
	ResultIssued  = "issued"  // login succeeded
	ResultRotated = "rotated" // refresh answered with a new refresh token
	ResultReused  = "reused"  // refresh answered with the session's current token: a grace reuse
	ResultOK      = "ok"      // one of a race's two successes (which one rotated is not visible to the client)
	ResultRefused = "refused" // an OAuth error (invalid_grant and friends)
	ResultError   = "error"   // transport failure or unexpected answer
)

// What a detector should make of a request.
const (
	ExpectBenign        = "benign"         // the user's own traffic, including client-go races
	ExpectReplay        = "replay"         // an accepted replay from another address: should alert
	ExpectRefusedReplay = "refused_replay" // a refused replay: logged only as an anonymous AzFail
)

var allOps = []string{OpLogin, OpRelogin, OpRefresh, OpRace, OpReplay, OpOutsideGrace}
var allResults = []string{ResultIssued, ResultRotated, ResultReused, ResultOK, ResultRefused, ResultError}

// Mix is the share of operations that are not plain refreshes.
type Mix struct {
	Race         float64 `json:"race"`
	Replay       float64 `json:"replay"`
	OutsideGrace float64 `json:"outside_grace"`
}

// DefaultMix is the simulator's default: mostly normal refreshes.
var DefaultMix = Mix{Race: 0.05, Replay: 0.02, OutsideGrace: 0.02}

// SimConfig configures Simulate. Zero values take the documented defaults,
// except Mix, where zero means none of that operation.
type SimConfig struct {
	Issuer     string
	Users      int    // default 10
	UserFormat string // default SimulatedUserFormat ("sim%04d")
	FirstUser  int    // default 1
	Password   string // default SimulatedPassword
	// DNFormat is written to the truth file so detection can be scored by
	// DN; {username} is replaced. Default: the embedded sim users' DN.
	DNFormat string
	Duration time.Duration // default 1m
	// Rate is operations per second over all users; 0 means Users/Every.
	Rate  float64
	Every time.Duration // each user's refresh cadence when Rate is 0; default 10s
	// Grace is the IdP's grace period: replays are sent inside it and
	// outside-grace attempts wait until it is over.
	Grace       time.Duration
	Mix         Mix
	Concurrency int // requests in flight at most, default 64
	// DialAddr, when set, is where every connection goes instead of the
	// issuer's host: a proxy in front of the IdP (ClientOptions.DialAddr).
	DialAddr string
	Source   SourceMode // "" picks bind for a loopback issuer on Linux, else xff
	// HomeNet holds users' home addresses, ReplayNet the replayers'.
	// Defaults: 127.0.1.0/24 and 127.0.2.0/24 (bind), 198.51.100.0/25 and
	// 192.0.2.0/25 (xff): the demo GeoIP databases put the homes in Europe and
	// North America and the replayers in Tokyo, Sydney and São Paulo.
	HomeNet, ReplayNet netip.Prefix
	ClientID           string
	ClientSecret       string
	TLSConfig          *tls.Config
	Timeout            time.Duration // each request's (ClientOptions.Timeout, 10s by default)
	Truth              io.Writer     // JSON record of every request, streamed
	// Progress, when set, is called every ProgressEvery (default 1s).
	Progress      func(SimReport)
	ProgressEvery time.Duration
	Seed          uint64 // 0: random
}

// SimReport counts what a simulation did so far.
type SimReport struct {
	Elapsed  time.Duration     `json:"elapsed"`
	Requests uint64            `json:"requests"`
	Ops      map[string]uint64 `json:"ops"`
	Results  map[string]uint64 `json:"results"`
	// Behind counts scheduled operations dropped because every worker or
	// every user was busy: the IdP could not keep up with Rate.
	Behind uint64 `json:"behind"`
	// RefreshRate is refresh_token requests per second since the
	// operations began (logins excluded); Latency is theirs.
	RefreshRate float64 `json:"refresh_rate"`
	Latency     Latency `json:"refresh_latency"`
}

// TruthRecord is one request the simulator made.
type TruthRecord struct {
	Seq      int64      `json:"seq"`
	Group    int64      `json:"group"` // the requests of one operation share it
	Op       string     `json:"op"`
	Role     string     `json:"role"` // user or attacker
	User     string     `json:"user"`
	DN       string     `json:"dn"`
	IP       string     `json:"ip"`
	Start    time.Time  `json:"start"`
	End      time.Time  `json:"end"`
	Status   int        `json:"status"` // HTTP status; 0 when no answer came
	Error    string     `json:"error,omitempty"`
	Result   string     `json:"result"`
	PrevIP   string     `json:"prev_ip,omitempty"`   // replays: where the rotating refresh came from
	PrevTime *time.Time `json:"prev_time,omitempty"` // and when it was answered
	Expect   string     `json:"expect"`
}

// MaxSimRate bounds SimConfig.Rate (operations a second): a thousand times
// what one IdP serves on a laptop, and far from the nanosecond interval the
// scheduler cannot go below. Exported so that a caller can refuse a rate in
// the words of its own settings before Simulate does in SimConfig's.
const MaxSimRate = 10_000_000

// SimConfig.withDefaults fills defaults and checks values.
func (c SimConfig) withDefaults() (SimConfig, error) {
	if c.Issuer == "" {
		return c, errors.New("simulate: issuer is required")
	}
	c.Users, c.FirstUser = positiveOr(c.Users, 10), positiveOr(c.FirstUser, 1)
	c.UserFormat = cmp.Or(c.UserFormat, SimulatedUserFormat)
	c.Password = cmp.Or(c.Password, SimulatedPassword)
	c.DNFormat = cmp.Or(c.DNFormat, "uid={username},ou=simulated,o=Tremolo")
	c.Duration, c.Every = positiveOr(c.Duration, time.Minute), positiveOr(c.Every, 10*time.Second)
	c.Rate = positiveOr(c.Rate, float64(c.Users)/c.Every.Seconds())
	// The scheduler works in whole nanoseconds between operations: a rate
	// that leaves none (Inf, or users/every for a tiny --every) divided by
	// zero, and NaN compares false to everything.
	if !(c.Rate <= MaxSimRate) {
		return c, fmt.Errorf("simulate: %g operations a second (rate, or users / every): want a number up to %d", c.Rate, MaxSimRate)
	}
	c.Concurrency, c.ProgressEvery = positiveOr(c.Concurrency, 64), positiveOr(c.ProgressEvery, time.Second)
	if c.Grace < 0 {
		return c, errors.New("simulate: grace must not be negative")
	}
	m := c.Mix
	if !(m.Race >= 0 && m.Replay >= 0 && m.OutsideGrace >= 0 && m.Race+m.Replay+m.OutsideGrace <= 1) { // NaN too
		return c, fmt.Errorf("simulate: mix %+v: shares must be >= 0 and sum to at most 1", m)
	}
	if c.Source == "" {
		c.Source = autoSource(c.Issuer)
	}
	bindNets, xffNets := [2]string{"127.0.1.0/24", "127.0.2.0/24"}, [2]string{"198.51.100.0/25", "192.0.2.0/25"}
	nets := xffNets
	if c.Source == SourceBind {
		nets = bindNets
	}
	if !c.HomeNet.IsValid() {
		c.HomeNet = netip.MustParsePrefix(nets[0])
	}
	if !c.ReplayNet.IsValid() {
		c.ReplayNet = netip.MustParsePrefix(nets[1])
	}
	for _, p := range []netip.Prefix{c.HomeNet, c.ReplayNet} {
		if !p.Addr().Is4() || p.Bits() > 30 {
			return c, fmt.Errorf("simulate: address pool %s: want an IPv4 prefix of /30 or larger", p)
		}
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	return c, nil
}

// positiveOr is v, or d when v is zero or negative (unset).
func positiveOr[T int | float64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// autoSource binds loopback addresses where the kernel routes all of
// 127.0.0.0/8 locally (Linux) and the issuer is on loopback; elsewhere it
// falls back to X-Forwarded-For, which needs the IdP's --trusted-proxies.
func autoSource(issuer string) SourceMode {
	u, err := url.Parse(issuer)
	if err != nil || runtime.GOOS != "linux" {
		return SourceXFF
	}
	host := u.Hostname()
	if host == "localhost" {
		return SourceBind
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() && ip.IsLoopback() {
		return SourceBind
	}
	return SourceXFF
}

// nthAddr is the n-th host address of an IPv4 prefix, cycling, skipping the
// network and broadcast addresses.
func nthAddr(p netip.Prefix, n int) netip.Addr {
	p = p.Masked()
	hosts := uint32(1)<<(32-p.Bits()) - 2
	a := p.Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) + 1 + uint32(n)%hosts
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
}

type retiredToken struct {
	token string
	at    time.Time // when the refresh that rotated it out was answered
	from  netip.Addr
}

type simUser struct {
	mu      sync.Mutex
	name    string
	dn      string
	home    netip.Addr
	token   string // current refresh token; "" until logged in
	retired []retiredToken
}

// maxRetiredTokens bounds each user's memory of rotated-out tokens; the
// oldest is kept when trimming so that an outside-grace candidate exists.
const maxRetiredTokens = 8

func (u *simUser) retire(tok string, at time.Time, from netip.Addr) {
	u.retired = append(u.retired, retiredToken{tok, at, from})
	if len(u.retired) > maxRetiredTokens {
		u.retired = append(u.retired[:1], u.retired[2:]...)
	}
}

// simulator is one run of Simulate. A scripted story (graceguard demo)
// uses a Client directly instead: Login, Refresh, Race, and Refresh from
// another address for a replay.
type simulator struct {
	cfg    SimConfig
	client *Client
	users  []*simUser
	truth  *truthWriter

	seq, group atomic.Int64
	requests   atomic.Uint64
	refreshes  atomic.Uint64
	behind     atomic.Uint64
	ops        map[string]*atomic.Uint64
	results    map[string]*atomic.Uint64
	lat        latencies
	opsStart   atomic.Int64 // unix nanoseconds when the operations began
}

// Simulate logs in cfg.Users users and drives refreshes, client-go races,
// in-grace replays and outside-grace replays at cfg.Rate for cfg.Duration.
// It returns when the duration is over or ctx is done, with what it did.
func Simulate(ctx context.Context, cfg SimConfig) (SimReport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return SimReport{}, err
	}
	client, err := NewClient(ctx, cfg.Issuer, ClientOptions{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Source: cfg.Source,
		TLSConfig: cfg.TLSConfig, IdleConnsPerAddr: cfg.Concurrency, DialAddr: cfg.DialAddr, Timeout: cfg.Timeout,
	})
	if err != nil {
		return SimReport{}, fmt.Errorf("simulate: %w", err)
	}
	defer client.CloseIdleConnections()
	s := &simulator{cfg: cfg, client: client, ops: map[string]*atomic.Uint64{}, results: map[string]*atomic.Uint64{}}
	for _, k := range allOps {
		s.ops[k] = new(atomic.Uint64)
	}
	for _, k := range allResults {
		s.results[k] = new(atomic.Uint64)
	}
	for i := range cfg.Users {
		name := fmt.Sprintf(cfg.UserFormat, cfg.FirstUser+i)
		s.users = append(s.users, &simUser{name: name, dn: strings.ReplaceAll(cfg.DNFormat, "{username}", name), home: nthAddr(cfg.HomeNet, i)})
	}
	if cfg.Truth != nil {
		s.truth = newTruthWriter(cfg.Truth)
		s.truth.begin(cfg)
	}
	start := time.Now()
	s.opsStart.Store(start.UnixNano())

	stopProgress := s.progress(ctx, start)
	err = s.loginAll(ctx)
	if err == nil {
		s.opsStart.Store(time.Now().UnixNano())
		s.run(ctx, time.Now().Add(cfg.Duration))
	}
	stopProgress()
	rep := s.report(time.Now(), start)
	if s.truth != nil {
		if terr := s.truth.finish(rep); terr != nil && err == nil {
			err = fmt.Errorf("simulate: write truth: %w", terr)
		}
	}
	return rep, err
}

func (s *simulator) progress(ctx context.Context, start time.Time) (stop func()) {
	if s.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(s.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				s.cfg.Progress(s.report(now, start))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (s *simulator) loginAll(ctx context.Context) error {
	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	var ok atomic.Int64
	var firstErr error
	var once sync.Once
	for _, u := range s.users {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			u.mu.Lock()
			defer u.mu.Unlock()
			if err := s.login(ctx, u, OpLogin, s.group.Add(1)); err != nil {
				once.Do(func() { firstErr = err })
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if ok.Load() == 0 {
		return fmt.Errorf("simulate: no user could log in: %w", firstErr)
	}
	return nil
}

// run schedules operations at cfg.Rate until the deadline; workers carry
// them out, each holding the user it works on.
func (s *simulator) run(ctx context.Context, deadline time.Time) {
	tickets := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	var next atomic.Uint64
	for w := range s.cfg.Concurrency {
		rng := rand.New(rand.NewPCG(s.cfg.Seed, uint64(w)))
		wg.Go(func() {
			for range tickets {
				u := s.pickUser(&next)
				if u == nil {
					s.behind.Add(1)
					continue
				}
				s.operate(ctx, u, rng)
				u.mu.Unlock()
			}
		})
	}
	interval := time.Duration(float64(time.Second) / s.cfg.Rate)
	start := time.Now()
	var issued int64
	// Sleeping per operation would cap the rate at the timer's resolution;
	// instead issue what is due every millisecond or so.
	for {
		now := time.Now()
		if !now.Before(deadline) || ctx.Err() != nil {
			break
		}
		due := int64(now.Sub(start)/interval) + 1
		for ; issued < due; issued++ {
			select {
			case tickets <- struct{}{}:
			default:
				s.behind.Add(1)
			}
		}
		wait := min(time.Until(start.Add(time.Duration(issued)*interval)), time.Until(deadline))
		if wait > 0 {
			select {
			case <-time.After(max(wait, time.Millisecond)):
			case <-ctx.Done():
			}
		}
	}
	close(tickets)
	wg.Wait()
}

// pickUser returns the next free user, locked, or nil when all are busy.
func (s *simulator) pickUser(next *atomic.Uint64) *simUser {
	n := uint64(len(s.users))
	for range min(n, 64) {
		u := s.users[next.Add(1)%n]
		if u.mu.TryLock() {
			return u
		}
	}
	return nil
}

func (s *simulator) operate(ctx context.Context, u *simUser, rng *rand.Rand) {
	g := s.group.Add(1)
	if u.token == "" {
		_ = s.login(ctx, u, OpRelogin, g)
		return
	}
	m := s.cfg.Mix
	switch r := rng.Float64(); {
	case r < m.Race:
		s.race(ctx, u, g)
	case r < m.Race+m.Replay:
		s.replay(ctx, u, g, rng)
	case r < m.Race+m.Replay+m.OutsideGrace:
		s.outsideGrace(ctx, u, g, rng)
	default:
		s.count(OpRefresh)
		s.refresh(ctx, u, OpRefresh, g)
	}
}

func (s *simulator) count(op string) { s.ops[op].Add(1) }

func (s *simulator) login(ctx context.Context, u *simUser, op string, g int64) error {
	s.count(op)
	start := time.Now()
	t, err := s.client.Login(ctx, u.home, u.name, s.cfg.Password)
	end := time.Now()
	s.requests.Add(1)
	rec := s.record(op, "user", u, u.home, g, start, end, err)
	if err == nil {
		u.token, u.retired = t.RefreshToken, nil
		rec.Result = ResultIssued
	}
	s.emit(rec)
	return err
}

// refresh is the user's own refresh from home; it reports the token it
// rotated out, if it did.
func (s *simulator) refresh(ctx context.Context, u *simUser, op string, g int64) (retiredToken, bool) {
	old := u.token
	start := time.Now()
	t, err := s.client.Refresh(ctx, u.home, old)
	end := time.Now()
	s.observe(start, end)
	rec := s.record(op, "user", u, u.home, g, start, end, err)
	defer s.emit(rec)
	if err != nil {
		if IsInvalidGrant(err) {
			u.token = "" // the session is gone (expired, revoked): log in again next time
		}
		return retiredToken{}, false
	}
	if t.RefreshToken == old {
		rec.Result = ResultReused
		return retiredToken{}, false
	}
	rec.Result = ResultRotated
	u.token = t.RefreshToken
	r := retiredToken{token: old, at: end, from: u.home}
	u.retire(old, end, u.home)
	return r, true
}

func (s *simulator) race(ctx context.Context, u *simUser, g int64) {
	s.count(OpRace)
	old := u.token
	res := s.client.Race(ctx, u.home, old)
	var winner string
	var last time.Time
	for _, a := range res {
		s.observe(a.Start, a.End)
		rec := s.record(OpRace, "user", u, u.home, g, a.Start, a.End, a.Err)
		if a.Err == nil {
			rec.Result = ResultOK
			winner = a.Tokens.RefreshToken
			if a.End.After(last) {
				last = a.End
			}
		}
		s.emit(rec)
	}
	switch {
	case winner == "":
		u.token = ""
	case winner != old:
		u.token = winner
		u.retire(old, last, u.home)
	}
}

func (s *simulator) replay(ctx context.Context, u *simUser, g int64, rng *rand.Rand) {
	s.count(OpReplay)
	r, ok := s.refresh(ctx, u, OpReplay, g)
	if !ok {
		return
	}
	from := nthAddr(s.cfg.ReplayNet, rng.IntN(1<<16))
	s.attack(ctx, u, OpReplay, g, from, r)
}

func (s *simulator) outsideGrace(ctx context.Context, u *simUser, g int64, rng *rand.Rand) {
	wait := s.cfg.Grace + max(s.cfg.Grace/10, 500*time.Millisecond)
	for i, r := range u.retired {
		if time.Since(r.at) > wait {
			u.retired = append(u.retired[:i], u.retired[i+1:]...)
			s.count(OpOutsideGrace)
			s.attack(ctx, u, OpOutsideGrace, g, nthAddr(s.cfg.ReplayNet, rng.IntN(1<<16)), r)
			return
		}
	}
	// Nothing old enough yet: this round is a normal refresh.
	s.count(OpRefresh)
	s.refresh(ctx, u, OpRefresh, g)
}

// attack replays a rotated-out token from another address.
func (s *simulator) attack(ctx context.Context, u *simUser, op string, g int64, from netip.Addr, r retiredToken) {
	start := time.Now()
	t, err := s.client.Refresh(ctx, from, r.token)
	end := time.Now()
	s.observe(start, end)
	rec := s.record(op, "attacker", u, from, g, start, end, err)
	rec.PrevIP, rec.PrevTime = r.from.String(), &r.at
	rec.Expect = ExpectRefusedReplay
	if err == nil {
		rec.Result, rec.Expect = ResultRotated, ExpectReplay
		if t.RefreshToken == u.token {
			rec.Result = ResultReused
		}
	}
	s.emit(rec)
}

func (s *simulator) observe(start, end time.Time) {
	s.requests.Add(1)
	s.refreshes.Add(1)
	s.lat.record(end.Sub(start))
}

func (s *simulator) record(op, role string, u *simUser, ip netip.Addr, g int64, start, end time.Time, err error) *TruthRecord {
	rec := &TruthRecord{Seq: s.seq.Add(1), Group: g, Op: op, Role: role, User: u.name, DN: u.dn, IP: ip.String(),
		Start: start, End: end, Expect: ExpectBenign}
	if err != nil {
		var te *TokenError
		if errors.As(err, &te) {
			rec.Status, rec.Error, rec.Result = te.Status, te.Code, ResultRefused
			if te.Code == "" || te.Status >= 500 {
				rec.Result = ResultError
			}
		} else {
			rec.Error, rec.Result = transportError(err), ResultError
		}
	} else {
		rec.Status = 200
	}
	return rec
}

// transportError shortens a transport failure to its cause for the truth
// file (the URL it carries is the same on every line).
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

func (s *simulator) emit(rec *TruthRecord) {
	if rec.Result == "" {
		rec.Result = ResultError
	}
	s.results[rec.Result].Add(1)
	if s.truth != nil {
		s.truth.add(rec)
	}
}

func (s *simulator) report(now, start time.Time) SimReport {
	rep := SimReport{
		Elapsed:  now.Sub(start).Round(time.Millisecond),
		Requests: s.requests.Load(),
		Ops:      map[string]uint64{},
		Results:  map[string]uint64{},
		Behind:   s.behind.Load(),
		Latency:  s.lat.summary(),
	}
	for k, v := range s.ops {
		rep.Ops[k] = v.Load()
	}
	for k, v := range s.results {
		rep.Results[k] = v.Load()
	}
	if secs := now.Sub(time.Unix(0, s.opsStart.Load())).Seconds(); secs > 0 {
		rep.RefreshRate = float64(s.refreshes.Load()) / secs
	}
	return rep
}

// truthWriter streams {"config":…,"records":[…],"summary":…} so that a long
// simulation never holds its records in memory.
type truthWriter struct {
	mu    sync.Mutex
	w     *bufio.Writer
	n     int
	err   error
	start time.Time
}

func newTruthWriter(w io.Writer) *truthWriter {
	return &truthWriter{w: bufio.NewWriterSize(w, 64<<10), start: time.Now()}
}

func (t *truthWriter) write(parts ...[]byte) {
	for _, p := range parts {
		if t.err == nil {
			_, t.err = t.w.Write(p)
		}
	}
}

func (t *truthWriter) begin(cfg SimConfig) {
	// The truth file is handed around with the logs it grades: it names
	// the issuer, not the issuer's credentials.
	conf, err := json.Marshal(struct {
		Issuer    string  `json:"issuer"`
		Users     int     `json:"users"`
		Duration  string  `json:"duration"`
		Rate      float64 `json:"rate"`
		Grace     string  `json:"grace"`
		Mix       Mix     `json:"mix"`
		Source    string  `json:"source"`
		HomeNet   string  `json:"home_net"`
		ReplayNet string  `json:"replay_net"`
		Seed      uint64  `json:"seed"`
	}{redact.URL(cfg.Issuer), cfg.Users, cfg.Duration.String(), cfg.Rate, cfg.Grace.String(), cfg.Mix, string(cfg.Source),
		cfg.HomeNet.String(), cfg.ReplayNet.String(), cfg.Seed})
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.err = err
		return
	}
	started, _ := json.Marshal(t.start)
	t.write([]byte(`{"started":`), started, []byte(`,"config":`), conf, []byte(`,"records":[`))
}

func (t *truthWriter) add(rec *TruthRecord) {
	b, err := json.Marshal(rec)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil && t.err == nil {
		t.err = err
	}
	sep := []byte(",\n")
	if t.n == 0 {
		sep = []byte("\n")
	}
	t.n++
	t.write(sep, b)
}

func (t *truthWriter) finish(rep SimReport) error {
	b, err := json.Marshal(rep)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil && t.err == nil {
		t.err = err
	}
	t.write([]byte("\n],\"summary\":"), b, []byte("}\n"))
	if t.err == nil {
		t.err = t.w.Flush()
	}
	return t.err
}
