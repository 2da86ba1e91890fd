package loggen

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The expressions below restate openunison-logs.md independently of the
// generator's code, so a slip in either shows up as a failure here.
var (
	headerRE = regexp.MustCompile(`^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[([^\]]+)\] (INFO  |WARN  |DEBUG |ERROR )(\w+) - (.*)$`)
	accessRE = regexp.MustCompile(`^\[(AuSuccess|AuFail|AzSuccess|AzFail|NotFound|Error)\] - (\S+) - (https://\S+) - (.+) - (.*) \[([0-9a-f.:]+)\] - \[(f[0-9a-f]{40}|null)\]$`)
	graceRE  = regexp.MustCompile(`^\[ExpiredRefreshTokenUsed\] - (https://\S+) - (.+) - Expired token used within grace period \[([0-9a-f.:]+)\] - \[(f[0-9a-f]{40}|null)\]$`)
	ldapRE   = regexp.MustCompile(`^(BIND|SEARCH|RESULT) op=\d+ conn=\d+ `)
	xnioRE   = regexp.MustCompile(`^XNIO-1 task-\d+$`)
	// First line of a trace, then frames, causes and elisions.
	exceptionRE = regexp.MustCompile(`^[a-z][\w.]*\.[A-Z]\w*(Exception|Error): .+$`)
	traceRE     = regexp.MustCompile(`^(\tat [\w.$/<>]+\([\w. ]+(:\d+)?\)|\t\.\.\. \d+ more|Caused by: [a-z][\w.]*\.[A-Z]\w*(Exception|Error): .+)$`)

	// accessRE in two pieces, for parseAccess.
	accessHeadRE = regexp.MustCompile(`^\[(AuSuccess|AuFail|AzSuccess|AzFail|NotFound|Error)\] - (\S+) - (https://\S+) - `)
	accessTailRE = regexp.MustCompile(`^ \[([0-9a-f.:]+)\] - \[(f[0-9a-f]{40}|null)\]$`)
)

// parseAccess is accessRE.FindStringSubmatch(msg), the same lines with the
// same groups (TestParseAccessIsAccessRE), at a third of the cost: the
// expression backtracks over every line for its (.+) - (.*), and was most
// of this package's test time under the race detector. The head is matched
// at the start; the trailer " [IP] - [SESSION]" is the line from its last
// " [" but one (neither bracket can hold one); the DN and the message
// between them split at the last " - ", where accessRE's greedy (.+) ends.
func parseAccess(msg string) []string {
	head := accessHeadRE.FindStringSubmatch(msg)
	if head == nil {
		return nil
	}
	sess := strings.LastIndex(msg, " [")
	if sess < 0 {
		return nil
	}
	ip := strings.LastIndex(msg[:sess], " [")
	if ip < len(head[0]) {
		return nil
	}
	tail := accessTailRE.FindStringSubmatch(msg[ip:])
	mid := msg[len(head[0]):ip]
	cut := strings.LastIndex(mid, " - ")
	if tail == nil || cut < 1 || strings.Contains(mid, "\n") {
		return nil
	}
	return []string{msg, head[1], head[2], head[3], mid[:cut], mid[cut+3:], tail[1], tail[2]}
}

const tokenSuffix = "/auth/idp/k8sIdp/token"

type line struct {
	text, thread, level, logger, msg string
	// access and grace lines
	event, url, dn, ip, session string
}

// check validates every line of a log written with cfg and recounts what
// Stats claims from the text alone.
func check(t *testing.T, data []byte, cfg Config) Stats {
	t.Helper()
	var st Stats
	st.Bytes = int64(len(data))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("log does not end with a newline")
	}
	text := strings.TrimSuffix(string(data), "\n")
	var (
		prev      line // previous record line
		prevTime  time.Time
		inTrace   bool // after a record whose next line must be an exception
		lastIP    = map[string]string{}
		lastSeen  line
		seenTrace bool
	)
	loc := cfg.Start.Location()
	if cfg.Start.IsZero() {
		loc = time.UTC
	}
	for n, raw := range strings.Split(text, "\n") {
		m := headerRE.FindStringSubmatch(raw)
		if m == nil {
			switch {
			case n == 0:
				t.Fatalf("line 1 is not a record: %q", raw)
			case !seenTrace && exceptionRE.MatchString(raw):
				seenTrace = true
				st.StackTraces++
			case seenTrace && traceRE.MatchString(raw):
			default:
				t.Fatalf("line %d matches neither the layout nor a stack trace: %q", n+1, raw)
			}
			inTrace = true
			st.Lines++
			continue
		}
		if inTrace && !seenTrace {
			t.Fatalf("line %d: trace without an exception line", n+1)
		}
		inTrace, seenTrace = false, false
		st.Lines++
		st.Records++
		when, err := time.ParseInLocation("2006-01-02 15:04:05,000", m[1], loc)
		if err != nil {
			t.Fatalf("line %d: time %q: %v", n+1, m[1], err)
		}
		if when.Before(prevTime) {
			t.Fatalf("line %d: time goes back from %v to %v", n+1, prevTime, when)
		}
		prevTime = when
		l := line{text: raw, thread: m[2], level: strings.TrimSpace(m[3]), logger: m[4], msg: m[5]}
		if strings.HasPrefix(m[2], "XNIO") && !xnioRE.MatchString(m[2]) {
			t.Fatalf("line %d: thread %q", n+1, m[2])
		}
		if strings.Contains(raw, tokenSuffix+" - ") {
			st.TokenLines++
		}
		switch {
		case l.logger == "AccessLog" && strings.HasPrefix(l.msg, "["):
			a := parseAccess(l.msg)
			if a == nil {
				t.Fatalf("line %d: access line does not parse: %q", n+1, raw)
			}
			l.event, l.url, l.dn, l.ip, l.session = a[1], a[3], a[4], a[6], a[7]
		case l.logger == "AccessLog":
			if !ldapRE.MatchString(l.msg) {
				t.Fatalf("line %d: AccessLog line is neither access nor LDAP: %q", n+1, raw)
			}
		case strings.Contains(l.msg, "ExpiredRefreshTokenUsed"):
			g := graceRE.FindStringSubmatch(l.msg)
			if g == nil || l.logger != "OpenIDConnectIdP" || l.level != "INFO" {
				t.Fatalf("line %d: grace line does not parse: %q", n+1, raw)
			}
			l.event, l.url, l.dn, l.ip, l.session = "ExpiredRefreshTokenUsed", g[1], g[2], g[3], g[4]
		}
		if l.ip != "" {
			if _, err := netip.ParseAddr(l.ip); err != nil {
				t.Fatalf("line %d: IP %q: %v", n+1, l.ip, err)
			}
		}
		if l.url == probeURL && l.ip != "127.0.0.1" {
			t.Fatalf("line %d: probe from %s", n+1, l.ip)
		}
		token := strings.HasSuffix(l.url, tokenSuffix)

		// A grace reuse is written right after its own AzSuccess: that one
		// is not a refresh, so the pending refresh is only learned once
		// the next line shows it was not a reuse.
		if lastSeen.event == "AzSuccess" && strings.HasSuffix(lastSeen.url, tokenSuffix) && l.event != "ExpiredRefreshTokenUsed" {
			lastIP[lastSeen.dn] = lastSeen.ip
			st.Refreshes++
		}
		switch {
		case l.event == "ExpiredRefreshTokenUsed":
			st.GraceReuses++
			if prev.event != "AzSuccess" || !strings.HasSuffix(prev.url, tokenSuffix) || prev.thread != l.thread ||
				prev.dn != l.dn || prev.ip != l.ip || prev.session != l.session {
				t.Fatalf("line %d: grace line does not follow its AzSuccess:\n%s\n%s", n+1, prev.text, raw)
			}
			refreshIP, ok := lastIP[l.dn]
			switch {
			case !ok:
				t.Fatalf("line %d: reuse by %s before any refresh", n+1, l.dn)
			case refreshIP == l.ip:
				st.Races++
			default:
				st.Replays++
			}
		case token && l.event == "AzFail":
			st.Failures++
			if l.dn != anonymousDN {
				t.Fatalf("line %d: AzFail on the token endpoint with a user DN: %q", n+1, raw)
			}
			if prev.logger != "OpenIDConnectIdP" || prev.level != "WARN" || prev.thread != l.thread {
				t.Fatalf("line %d: AzFail does not follow OpenIDConnectIdP's WARN:\n%s\n%s", n+1, prev.text, raw)
			}
		case token && l.event == "AzSuccess" && l.dn == anonymousDN:
			t.Fatalf("line %d: anonymous token grant: %q", n+1, raw)
		}
		prev = l
		if l.event != "" {
			lastSeen = l
		} else {
			lastSeen = line{}
		}
	}
	if lastSeen.event == "AzSuccess" && strings.HasSuffix(lastSeen.url, tokenSuffix) {
		st.Refreshes++
	}
	return st
}

// generate writes a log with cfg into memory. The buffer is sized for it
// at once: grown by doubling, its copies and fresh pages were a good part
// of the package's tests under the race detector.
func generate(t testing.TB, cfg Config) ([]byte, Stats) {
	t.Helper()
	buf := bytes.NewBuffer(make([]byte, 0, cfg.Size+64<<10))
	st, err := Write(buf, cfg)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes(), st
}

// generateStats is generate for a test that needs the Stats alone: the
// log goes nowhere.
func generateStats(t testing.TB, cfg Config) Stats {
	t.Helper()
	st, err := Write(io.Discard, cfg)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return st
}

// sameAs is a writer that compares what is written with want, byte for
// byte, without keeping it: n counts what was written, differs says some
// of it was not want's (or went past want's end).
type sameAs struct {
	want    []byte
	n       int
	differs bool
}

func (w *sameAs) Write(p []byte) (int, error) {
	if !w.differs && (len(p) > len(w.want)-w.n || !bytes.Equal(p, w.want[w.n:w.n+len(p)])) {
		w.differs = true
	}
	w.n += len(p)
	return len(p), nil
}

func TestStatsMatchContent(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = time.FixedZone("CET", 3600)
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{Size: 4 << 20, Seed: 1}},
		{"other seed", Config{Size: 2 << 20, Seed: -7}},
		{"many reuses", Config{Size: 2 << 20, Seed: 3, RaceShare: 0.3, ReplayShare: 0.2, FailShare: 0.2}},
		{"token heavy", Config{Size: 1 << 20, Seed: 4, TokenShare: 0.3, Users: 20}},
		{"one user", Config{Size: 256 << 10, Seed: 5, Users: 1, RaceShare: 0.5, ReplayShare: 0.5}},
		{"no token traffic", Config{Size: 256 << 10, Seed: 6, TokenShare: -1}},
		{"short grace", Config{Size: 1 << 20, Seed: 8, ReplayShare: 0.3, Grace: 300 * time.Millisecond}},
		{"local time", Config{Size: 512 << 10, Seed: 9, Start: time.Date(2027, 3, 28, 1, 59, 0, 0, berlin)}},
		{"tiny", Config{Size: 1, Seed: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, got := generate(t, tt.cfg)
			want := check(t, data, tt.cfg)
			if got != want {
				t.Errorf("Stats do not match the content:\n got  %+v\n text %+v", got, want)
			}
			if got.Races+got.Replays != got.GraceReuses {
				t.Errorf("races %d + replays %d != reuses %d", got.Races, got.Replays, got.GraceReuses)
			}
		})
	}
}

// parseAccess, which check uses, must take a line exactly as accessRE
// does: every access line of logs with every case, and each of them
// spoilt in ways that move, drop or double a separator.
func TestParseAccessIsAccessRE(t *testing.T) {
	t.Parallel()
	var msgs []string
	for _, cfg := range []Config{{Size: 512 << 10, Seed: 3, RaceShare: 0.3, ReplayShare: 0.2, FailShare: 0.2}, {Size: 256 << 10, Seed: 5, Users: 1}} {
		data, _ := generate(t, cfg)
		for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if m := headerRE.FindStringSubmatch(l); m != nil && m[4] == "AccessLog" && strings.HasPrefix(m[5], "[") {
				msgs = append(msgs, m[5])
			}
		}
	}
	// DNs with " - " and brackets in them ([ext] - [contractor]) are in
	// these logs: the split must not take them for the trailer.
	if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "[contractor]") }) {
		t.Fatal("no DN with brackets in the sample")
	}
	for _, m := range msgs[:300] {
		msgs = append(msgs, m+" - x", m+"\n", " "+m, m[:len(m)-1], m[:len(m)-43]+"null]",
			strings.Replace(m, " - NONE", "", 1), strings.Replace(m, " - ", "", 1), strings.Replace(m, " - ", " -  - ", 3),
			strings.Replace(m, "] - [", "] [", 1), strings.Replace(m, " [", "  [", 1), strings.Replace(m, " [", "[", 1),
			strings.Replace(m, "] - [f", "] - [", 1), strings.Replace(m, " - https", " - http", 1),
			strings.Replace(m, " - NONE", " - NO\nNE", 1), strings.Replace(m, "] - ", "] - [", 1))
	}
	// Brackets only in the head: no trailer at all.
	msgs = append(msgs, "[AzSuccess] - [k8sidp - https://k8sou.example/token - [null]")
	for _, m := range msgs {
		if want, got := accessRE.FindStringSubmatch(m), parseAccess(m); !slices.Equal(got, want) {
			t.Errorf("%q:\n parseAccess %q\n accessRE    %q", m, got, want)
		}
	}
}

// TestStatsCoverEveryCase guards the test above: a log without reuses or
// failures would let the content checks pass vacuously.
func TestStatsCoverEveryCase(t *testing.T) {
	t.Parallel()
	st := generateStats(t, Config{Size: 16 << 20, Seed: 1})
	for name, v := range map[string]int64{
		"Refreshes": st.Refreshes, "Races": st.Races, "Replays": st.Replays,
		"Failures": st.Failures, "StackTraces": st.StackTraces,
	} {
		if v == 0 {
			t.Errorf("16 MiB with defaults has no %s: %+v", name, st)
		}
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	cfg := Config{Size: 1 << 20, Seed: 42}
	a, sa := generate(t, cfg)
	b, sb := generate(t, cfg)
	if !bytes.Equal(a, b) || sa != sb {
		t.Fatal("two runs with the same Config differ")
	}
	cfg.Seed = 43
	c, _ := generate(t, cfg)
	if bytes.Equal(a[:4096], c[:4096]) {
		t.Fatal("seeds 42 and 43 give the same log")
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	// The largest record group is a stack trace with its message line.
	var longest int64
	for _, e := range append(errorRecords, errorRecord{stack: refreshStack}) {
		longest = max(longest, int64(len(e.stack.text)))
	}
	longest += 1024
	// The smaller logs are compared with the whole one as they are
	// written, not kept.
	write := func(w io.Writer, cfg Config) Stats {
		st, err := Write(w, cfg)
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		return st
	}
	for _, seed := range []int64{1, 2, 3} {
		whole, _ := generate(t, Config{Size: 6 << 20, Seed: seed})
		for _, size := range []int64{1, 100, 4095, 64 << 10, 1<<20 + 3, 5 << 20} {
			data := &sameAs{want: whole}
			st := write(data, Config{Size: size, Seed: seed})
			n := int64(data.n)
			if st.Bytes != n {
				t.Errorf("size %d seed %d: Stats.Bytes %d, wrote %d", size, seed, st.Bytes, n)
			}
			if n < size || n-size >= longest {
				t.Errorf("size %d seed %d: wrote %d bytes, want [%d, %d)", size, seed, n, size, size+longest)
			}
			// Size only decides where to stop: a smaller log is the start
			// of a larger one, so benchmarks at different sizes agree.
			if data.differs {
				t.Errorf("size %d seed %d: not a prefix of the 6 MiB log", size, seed)
				continue
			}
			// Asking for exactly what was written gives the same log: the
			// stop lands on the first record boundary at or past Size.
			again := &sameAs{want: whole[:n]}
			if write(again, Config{Size: n, Seed: seed}); again.differs || int64(again.n) != n {
				t.Errorf("size %d seed %d: Size %d gives %d bytes, not the same %d", size, seed, n, again.n, n)
			}
		}
	}
}

func TestTokenShare(t *testing.T) {
	t.Parallel()
	for _, share := range []float64{0.005, 0.03, 0.1, 0.3} {
		st := generateStats(t, Config{Size: 8 << 20, Seed: 11, TokenShare: share})
		got := float64(st.TokenLines) / float64(st.Lines)
		if math.Abs(got-share) > 0.05*share+0.0005 {
			t.Errorf("TokenShare %g: %d of %d lines (%.4f)", share, st.TokenLines, st.Lines, got)
		}
	}
}

// TestTrafficMix checks what a busy OpenUnison log must contain besides the
// token endpoint, so a scanner benchmarked on it meets the same clutter.
func TestTrafficMix(t *testing.T) {
	t.Parallel()
	data, st := generate(t, Config{Size: 8 << 20, Seed: 12})
	text := string(data)
	for _, want := range []string{
		"INFO  AccessLog - [AzSuccess] - k8sidp - " + probeURL + " - " + anonymousDN + " - NONE [127.0.0.1] - [f",
		"/auth/idp/k8sIdp/certs - " + anonymousDN,
		"/auth/idp/k8sIdp/.well-known/openid-configuration - " + anonymousDN,
		"INFO  AccessLog - BIND op=", "INFO  AccessLog - SEARCH op=", "INFO  AccessLog - RESULT op=",
		"[AzSuccess] - k8s-dashboard - https://k8sdb.", "[AzSuccess] - k8s-api - https://k8sapi.",
		"[AuSuccess] - k8sidp - ", "[NotFound] - UNKNOWN - ",
		"] DEBUG ", "] WARN  ", "] ERROR ", "\n\tat ", "\nCaused by: ", " more\n",
		"WARN  OpenIDConnectIdP - Session does not exist from refresh_token\n",
		`\, `, "] - [null]\n", ` [ext] - [contractor],ou=shadow`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in 8 MiB", want)
		}
	}
	v6 := regexp.MustCompile(`token - [^\n]* - NONE \[[0-9a-f]+:[0-9a-f:]+\] - `)
	if !v6.MatchString(text) {
		t.Error("no token request from an IPv6 address")
	}
	// Probes run every 10 s per replica, readiness and liveness.
	first, _ := time.Parse("2006-01-02 15:04:05", text[1:20])
	lastLine := text[strings.LastIndex(strings.TrimSuffix(text, "\n"), "\n[")+1:]
	last, _ := time.Parse("2006-01-02 15:04:05", lastLine[1:20])
	probes := strings.Count(text, " - "+probeURL+" - ")
	if want := int(last.Sub(first)/(5*time.Second)) + 1; probes < want-2 || probes > want+2 {
		t.Errorf("%d probes over %v, want about %d", probes, last.Sub(first), want)
	}
	if st.Bytes/st.Lines < 120 || st.Bytes/st.Lines > 260 {
		t.Errorf("%d bytes per line, want a realistic 120..260", st.Bytes/st.Lines)
	}
}

func TestReplicas(t *testing.T) {
	t.Parallel()
	cfg := Config{Size: 3 << 20, Seed: 13, RaceShare: 0.2, ReplayShare: 0.1}
	bufs := make([]bytes.Buffer, 3)
	ws := []io.Writer{&bufs[0], &bufs[1], &bufs[2]}
	st, err := WriteReplicas(ws, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	var reuses int
	for i := range bufs {
		data := bufs[i].Bytes()
		sum += int64(len(data))
		if len(data) < 256<<10 {
			t.Errorf("replica %d got only %d bytes", i, len(data))
		}
		if !bytes.Contains(data, []byte(probeURL)) {
			t.Errorf("replica %d has no probes", i)
		}
		reuses += bytes.Count(data, []byte("[ExpiredRefreshTokenUsed]"))
		// Layout and order per replica; the race/replay split needs all
		// replicas merged, which the single-writer tests cover.
		headerLines := 0
		for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if headerRE.MatchString(l) {
				headerLines++
			}
		}
		if headerLines == 0 {
			t.Errorf("replica %d has no records", i)
		}
	}
	if sum != st.Bytes || sum < cfg.Size {
		t.Errorf("replicas hold %d bytes, Stats %d, Size %d", sum, st.Bytes, cfg.Size)
	}
	if int64(reuses) != st.GraceReuses || reuses == 0 {
		t.Errorf("replicas hold %d reuses, Stats %d", reuses, st.GraceReuses)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg   Config
		field string
	}{
		{Config{}, "Size"},
		{Config{Size: -1}, "Size"},
		{Config{Size: 1, Users: -1}, "Users"},
		{Config{Size: 1, TokenShare: 0.6}, "TokenShare"},
		{Config{Size: 1, RaceShare: 1.5}, "RaceShare"},
		{Config{Size: 1, RaceShare: 0.7, ReplayShare: 0.7}, "RaceShare"},
		{Config{Size: 1, Grace: time.Millisecond}, "Grace"},
		{Config{Size: 1, Rate: -1}, "Rate"},
	}
	for _, tt := range tests {
		_, err := Write(io.Discard, tt.cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.field {
			t.Errorf("%+v: got %v, want a ConfigError for %s", tt.cfg, err, tt.field)
		}
	}
	if _, err := WriteReplicas(nil, Config{Size: 1}); err == nil {
		t.Error("no writers: no error")
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	_, err := Write(&failWriter{n: 1 << 20}, Config{Size: 8 << 20, Seed: 1})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v, want the writer's error", err)
	}
}

func BenchmarkWrite(b *testing.B) {
	const size = 64 << 20
	b.SetBytes(size)
	for b.Loop() {
		if _, err := Write(io.Discard, Config{Size: size, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	var ce *ConfigError
	if err := (Config{Size: 1, TokenShare: 0.9}).Validate(); !errors.As(err, &ce) || ce.Field != "TokenShare" {
		t.Errorf("Validate: got %v, want a TokenShare ConfigError", err)
	}
	if err := (Config{Size: 1}).Validate(); err != nil {
		t.Errorf("Validate of a good Config: %v", err)
	}
}
