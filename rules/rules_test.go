package rules

import (
	"bytes"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	exprparser "github.com/expr-lang/expr/parser"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/parser"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func load(t *testing.T, yaml string) *Set {
	t.Helper()
	set, err := Load(File{Name: "test.yaml", Data: []byte(yaml)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return set
}

func names(set *Set) string {
	var out []string
	for _, r := range set.Enabled() {
		out = append(out, r.Name+":"+r.Severity.String())
	}
	return strings.Join(out, " ")
}

func TestBuiltinSet(t *testing.T) {
	got := names(Builtin())
	if got != "reuse-ip-mismatch:high reuse-new-ip:medium reuse-burst:low reuse-burst-clients:medium reuse-geo-jump:critical reuse-new-asn:high reuse-agent-mismatch:medium chain-takeover:high refresh-travel:medium" {
		t.Errorf("built-in rules %q", got)
	}
}

func TestLoadOverrideDisableAdd(t *testing.T) {
	set := load(t, `
rules:
  - name: reuse-new-ip
    severity: low
    when: event.kind == "grace_reuse" && !user.ip_seen
  - name: reuse-burst
    enabled: false
  - name: mine
    severity: info
    when: event.kind == "token_fail"
`)
	if got := names(set); got != "reuse-ip-mismatch:high reuse-new-ip:low reuse-burst-clients:medium reuse-geo-jump:critical reuse-new-asn:high reuse-agent-mismatch:medium chain-takeover:high refresh-travel:medium mine:info" {
		t.Errorf("effective rules %q", got)
	}
	if r, _ := set.Lookup("reuse-new-ip"); r.File != "test.yaml" || len(r.Tests) != 0 {
		t.Errorf("an override replaces the whole rule, tests included: file %s, %d tests", r.File, len(r.Tests))
	}
}

func TestLoadReportsEveryProblemWithItsPlace(t *testing.T) {
	data, err := os.ReadFile("../testdata/rules/bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(File{Name: "bad.yaml", Data: data})
	ps, ok := err.(Problems)
	if !ok {
		t.Fatalf("error %T, want Problems", err)
	}
	want := []string{
		`bad.yaml:2:11: rule name "Bad Name"`,
		`bad.yaml:5:5: rule "no-severity" has no "severity"`,
		`bad.yaml:8:15: unknown severity "urgent"`,
		`bad.yaml:12:51: when: unexpected token EOF`,
		`bad.yaml:15:48: when: event has no field country`,
		`bad.yaml:18:48: when: user has no field reuses`,
		`bad.yaml:23:19: when: travel has no field speed`,
		`bad.yaml:26:25: when: event.kind == "replay" can never be true`,
		`bad.yaml:30:15: "throttle" must be a duration`,
		`bad.yaml:31:5: unknown key "colour"`,
		`bad.yaml:32:11: when: expected bool, but got string`,
		`bad.yaml:39:9: test "both" needs exactly one of "log"`,
		`bad.yaml:43:9: test has no "name"`,
		`bad.yaml:43:9: test has no "expect"`,
		`bad.yaml:44:20: unknown event kind "replay"`,
		`bad.yaml:44:34: time "yesterday" is not RFC 3339`,
		`bad.yaml:44:49: ip "999.0.0.1" is not an IP address`,
		`bad.yaml:45:5: rule "bad-expr" is defined twice`,
	}
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(ps), len(want), ps)
	}
	for i := range min(len(ps), len(want)) {
		if !strings.HasPrefix(ps[i].Error(), want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, ps[i].Error(), want[i])
		}
	}
}

// testHead is a rule file up to its one test's name.
const testHead = "rules:\n  - name: r\n    severity: low\n    when: event.kind == \"login\"\n    tests:\n      - name: t\n"

func TestLoadYAMLErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"syntax", "rules:\n  - name: [unclosed\n", "test.yaml:2:11: YAML: sequence end token ']' not found"},
		{"empty", "", "test.yaml:1:1: empty rule file"},
		{"no rules key", "other: 1\n", `test.yaml:1:1: unknown key "other"`},
		{"rules not a list", "rules: 3\n", `test.yaml:1:8: "rules" must be a list`},
		{"rule not a mapping", "rules:\n  - 3\n", "test.yaml:2:5: each rule must be a mapping"},
		{"tab indentation", "rules:\n\t- name: x\n", `test.yaml:2:1: YAML: found character '\t' that cannot start any token`},
		// Switching a rule off removes it, tests and all: they would pass
		// without running.
		{"tests of an entry that only disables", "rules:\n  - name: reuse-burst\n    enabled: false\n    tests:\n      - name: t\n        events: [{kind: grace_reuse, time: \"2026-11-23T10:00:00Z\"}]\n        expect: [{severity: low}]\n",
			`test.yaml:4:5: rule "reuse-burst" only switches a rule off (enabled: false, no when), so its tests would never run`},
		// A throttle_key names what a throttle counts by; alone it was
		// taken and did nothing.
		{"a throttle key without a throttle", "rules:\n  - name: a\n    severity: high\n    when: event.kind == \"login\"\n    throttle_key: event.user\n",
			`test.yaml:5:19: "throttle_key" has no effect without a "throttle"`},
		{"a throttle key with a zero throttle", "rules:\n  - name: a\n    severity: high\n    when: event.kind == \"login\"\n    throttle: 0s\n    throttle_key: event.user\n",
			`test.yaml:6:19: "throttle_key" has no effect without a "throttle"`},
		// Read as values, aliases were "must be a single value"; followed,
		// a few lines of them would multiply a file's work many times.
		{"an alias", "rules:\n  - name: a\n    severity: &s high\n    when: event.kind == \"login\"\n  - name: b\n    severity: *s\n    when: event.kind == \"login\"\n",
			"test.yaml:6:15: YAML alias *s: rule files take no anchors and aliases; write the value out"},
		// A test with nothing to judge passes expecting no alerts; a log
		// excerpt the parser refuses only failed under rules test, placed
		// by the test, not by the line.
		{"a test without events", testHead + "        events: []\n        expect: []\n",
			`test.yaml:7:17: test "t" has no events: it would pass without judging anything`},
		{"a test with an empty log", testHead + "        log: \"\"\n        expect: []\n",
			`test.yaml:7:14: test "t" has an empty log: it would pass without judging anything`},
		{"a log line that is no record", testHead + "        log: |\n          [2026-11-23 10:01:00,100][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=a,o=T - NONE [203.0.113.7] - [f1]\n          [2026-11-23 10:01:00,100][XNIO-1 task-1] INFO\n        expect: []\n",
			`test.yaml:9:52: test "t": log: missing level`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(File{Name: "test.yaml", Data: []byte(tt.yaml)})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %v, want prefix %q", err, tt.want)
			}
		})
	}
}

// YAML folds a ">" block and a plain value over several lines into one
// line of text: an error in it is placed on the file's line, not past the
// end of the first.
func TestExpressionErrorsOverSeveralLinesArePlaced(t *testing.T) {
	const head = "rules:\n  - name: r\n    severity: low\n"
	tests := []struct{ name, when, want string }{
		{"folded", "    when: >-\n      event.kind == \"grace_reuse\" && prev != nil\n      && event.country == \"NZ\"\n",
			"r.yaml:6:16: when: event has no field country"},
		{"folded, a blank line", "    when: >\n      event.kind == \"grace_reuse\"\n\n      && travel.speed > 900\n",
			"r.yaml:7:17: when: travel has no field speed"},
		{"folded, a line indented deeper", "    when: >\n      event.kind == \"grace_reuse\"\n        && (true)\n      && travel.speed > 900\n",
			"r.yaml:7:17: when: travel has no field speed"},
		{"plain", "    when: event.kind == \"grace_reuse\"\n      && user.reuses > 3\n",
			"r.yaml:5:15: when: user has no field reuses"},
		{"plain, cut short", "    when: event.kind == \"grace_reuse\" &&\n      prev.ip ==\n",
			"r.yaml:5:16: when: unexpected token EOF"},
		{"plain, one line", "    when: event.kind == \"grace_reuse\" && prev.ip ==\n",
			"r.yaml:4:51: when: unexpected token EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(File{Name: "r.yaml", Data: []byte(head + tt.when)})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestKindsOf(t *testing.T) {
	tests := []struct {
		when string
		want kindSet
	}{
		{`event.kind == "grace_reuse" && prev != nil`, 1 << parser.KindGraceReuse},
		{`prev != nil and "token_ok" == event.kind`, 1 << parser.KindTokenOK},
		{`event.kind in ["token_fail", "login"]`, 1<<parser.KindTokenFail | 1<<parser.KindLogin},
		{`prev != nil && event.kind in ["login"] && user.ip_seen`, 1 << parser.KindLogin},
		{`event.kind in []`, 0},
		{`event.kind == "grace_reuse" || event.kind == "token_ok"`, allKinds},
		{`is_private(event.ip)`, allKinds},
		{`event.kind == "nonsense"`, 0},
		{`not a valid expression ((`, allKinds},
	}
	for _, tt := range tests {
		if got, _ := shapeOf(tt.when); got != tt.want {
			t.Errorf("shape of %q: kinds = %b, want %b", tt.when, got, tt.want)
		}
	}
}

// shapeOf is whenShape of when compiled as a rule's is.
func shapeOf(when string) (kindSet, bool) {
	p, _ := expr.Compile(when, exprOptions(reflect.Bool)...)
	return whenShape(p)
}

// The shape is read from the compiled tree, which expr's optimizer has
// rewritten (a list is a set there): it must be what the expression as
// written says, for every rule shipped.
func TestShapeOfTheCompiledTreeIsTheTexts(t *testing.T) {
	custom, err := os.ReadFile("../testdata/rules/custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(File{Name: "custom.yaml", Data: custom})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range set.Rules {
		tree, err := exprparser.Parse(r.When)
		if err != nil {
			t.Fatal(err)
		}
		kinds, geo := conjunctKinds(tree.Node), conjunctNeedsGeo(tree.Node)
		if r.kinds != kinds || r.needsGeo != geo {
			t.Errorf("rule %s: compiled, kinds %b and geo %t; as written, %b and %t", r.Name, r.kinds, r.needsGeo, kinds, geo)
		}
	}
}

func TestHelpers(t *testing.T) {
	tests := []struct {
		ip, cidr      string
		inCIDR, isPri bool
	}{
		{"10.1.2.3", "10.0.0.0/8", true, true},
		{"192.0.2.1", "10.0.0.0/8", false, false},
		{"192.0.2.1", "192.0.2.1", true, false},
		{"100.64.1.1", "0.0.0.0/0", true, true},
		{"fe80::1", "fe80::/10", true, true},
		{"2001:db8::1", "2001:db8::/32", true, false},
		{"::1", "::/0", true, true},
		{"not-an-ip", "10.0.0.0/8", false, false},
		{"10.1.2.3", "not-a-cidr", false, true},
	}
	for _, tt := range tests {
		if got := inCIDR(tt.ip, tt.cidr); got != tt.inCIDR {
			t.Errorf("in_cidr(%s, %s) = %v", tt.ip, tt.cidr, got)
		}
		if got := isPrivate(tt.ip); got != tt.isPri {
			t.Errorf("is_private(%s) = %v", tt.ip, got)
		}
	}
}

func reuseContext(at time.Duration, ip, prevIP string) *correlate.Context {
	c := &correlate.Context{Event: &parser.Event{
		Kind: parser.KindGraceReuse, Time: t0.Add(at), User: "uid=a,o=T", IdP: "k8sIdp",
		IP: netip.MustParseAddr(ip), Source: "pod-a.log", Offset: int64(at), Session: "f1",
	}}
	if prevIP != "" {
		c.Prev = &correlate.RefreshFact{Time: t0.Add(at - time.Second), IP: netip.MustParseAddr(prevIP)}
		c.UserIPs = []netip.Addr{netip.MustParseAddr(prevIP)}
		c.IPSeen = prevIP == ip
	}
	return c
}

func TestEngineThrottle(t *testing.T) {
	e := NewEngine(load(t, `
rules:
  - name: reuse-new-ip
    enabled: false
  - name: per-user
    severity: high
    when: event.kind == "grace_reuse"
    throttle: 10m
    throttle_key: event.user
`))
	var got []alert.Alert
	for _, step := range []struct {
		at time.Duration
		ip string
	}{{0, "192.0.2.1"}, {time.Minute, "192.0.2.2"}, {11 * time.Minute, "192.0.2.3"}} {
		got = e.Evaluate(got, reuseContext(step.at, step.ip, "198.51.100.1"))
	}
	var perUser, mismatch int
	for _, a := range got {
		switch a.Rule {
		case "per-user":
			perUser++
		case "reuse-ip-mismatch":
			mismatch++
		}
	}
	// per-user: keyed on the user, the second reuse is inside the window.
	// reuse-ip-mismatch: keyed on user and IP by default, each address alerts.
	if perUser != 2 || mismatch != 3 {
		t.Errorf("per-user %d alerts (want 2), reuse-ip-mismatch %d (want 3)", perUser, mismatch)
	}
	if st := e.Stats(); st.Throttled["per-user"] != 1 {
		t.Errorf("throttled %v", st.Throttled)
	}
}

func TestEngineRuntimeErrorIsCountedNotFatal(t *testing.T) {
	e := NewEngine(load(t, `
rules:
  - name: careless
    severity: low
    when: event.kind == "grace_reuse" && prev.ip != event.ip
`))
	got := e.Evaluate(nil, reuseContext(0, "192.0.2.1", ""))
	if len(got) != 0 || e.Stats().Errors["careless"] != 1 || e.Stats().LastError == nil {
		t.Errorf("alerts %d, errors %v", len(got), e.Stats().Errors)
	}
	got = e.Evaluate(nil, reuseContext(time.Hour, "192.0.2.1", "198.51.100.1"))
	if len(got) != 3 {
		t.Errorf("with prev known all three rules fire: %d alerts", len(got))
	}
}

func TestAlertFields(t *testing.T) {
	e := NewEngine(Builtin())
	got := e.Evaluate(nil, reuseContext(2*time.Second, "192.0.2.66", "198.51.100.23"))
	if len(got) != 2 {
		t.Fatalf("%d alerts, want 2", len(got))
	}
	a := got[0]
	if a.Rule != "reuse-ip-mismatch" || a.Severity != alert.High || a.IP != "192.0.2.66" || a.PrevIP != "198.51.100.23" ||
		*a.IntervalMs != 1000 || a.ID != alert.ID("reuse-ip-mismatch", "pod-a.log", int64(2*time.Second), a.Raw) ||
		!strings.Contains(a.Summary, "uid=a,o=T from 192.0.2.66, 1s after a refresh from 198.51.100.23") {
		t.Errorf("alert %+v", a)
	}
}

// A previous refresh whose client attribution could not tell has no
// prev_ip, but it happened: the built summary still says when, and names
// it by what OpenUnison logged, not as the user's client.
func TestBuiltSummaryNamesAnUnknownPreviousClient(t *testing.T) {
	e := NewEngine(load(t, `
rules:
  - name: s
    severity: low
    when: event.kind == "grace_reuse"
`))
	c := reuseContext(time.Hour, "192.0.2.66", "10.1.67.12")
	c.Prev.Attribution, c.Prev.Peer, c.Prev.Agent = parser.AttrAmbiguous, netip.MustParseAddr("10.1.67.12"), "kubectl/v1.32.0"
	got := e.Evaluate(nil, c)
	i := slices.IndexFunc(got, func(a alert.Alert) bool { return a.Rule == "s" })
	if i < 0 {
		t.Fatalf("no alert of rule s among %d", len(got))
	}
	if a := got[i]; a.PrevIP != "" || !strings.HasSuffix(a.Summary, "from 192.0.2.66, 1s after a refresh from an unknown client via proxy 10.1.67.12, kubectl/v1.32.0") {
		t.Errorf("prev_ip %q, summary %q", a.PrevIP, a.Summary)
	}
}

func TestSummaryExpression(t *testing.T) {
	e := NewEngine(load(t, `
rules:
  - name: s
    severity: low
    when: event.kind == "grace_reuse"
    summary: '"replay by " + event.user + " from " + event.ip'
`))
	for _, a := range e.Evaluate(nil, reuseContext(0, "192.0.2.1", "")) {
		if a.Rule == "s" && a.Summary != "replay by uid=a,o=T from 192.0.2.1" {
			t.Errorf("summary %q", a.Summary)
		}
	}
}

// Rule evaluation must stay well under 2µs per grace reuse with the
// built-in set (the README quotes the figure). A benign race raises nothing;
// a replay also builds its alerts (ids, summaries).
func BenchmarkEvaluateGraceReuse(b *testing.B) {
	for _, bc := range []struct {
		name, ip string
		alerts   int
	}{{"race", "198.51.100.23", 0}, {"replay", "192.0.2.66", 2}} {
		b.Run(bc.name, func(b *testing.B) {
			e := NewEngine(Builtin())
			c := reuseContext(0, bc.ip, "198.51.100.23")
			c.UserIPs = append(c.UserIPs, netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::1"))
			var buf []alert.Alert
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// Move in time so throttles never hide the work.
				c.Event.Time = t0.Add(time.Duration(i) * time.Hour)
				if buf = e.Evaluate(buf[:0], c); len(buf) != bc.alerts {
					b.Fatalf("%d alerts, want %d", len(buf), bc.alerts)
				}
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	for _, name := range []string{"../testdata/rules/bad.yaml", "../testdata/rules/custom.yaml", "builtin.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("rules:\n  - name: x\n    severity: low\n    when: |\n      1 +\n"))
	f.Add([]byte("rules:\n  - name: x\n    severity: low\n    when: >-\n      event.kind == \"login\"\n      && in_cidr(event.ip, \"10.0.0.0/33\")\n  - name: reuse-brust\n    enabled: false\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Load(File{Name: "f.yaml", Data: data})
		if err == nil && set == nil {
			t.Fatal("nil set without an error")
		}
		if ps, ok := err.(Problems); ok {
			for _, p := range ps {
				if p.Line < 1 || p.Column < 1 || p.File == "" {
					t.Fatalf("problem without a place: %+v", p)
				}
				// The place is in the file: a line of it (or just past its
				// end, a document cut short), a column of that line. YAML
				// also ends lines at a CR, NEL, LS or PS: those files are
				// left out.
				if bytes.ContainsAny(data, "\r\u0085\u2028\u2029") {
					continue
				}
				lines := strings.Split(string(data), "\n")
				if p.Line > len(lines)+1 || p.Line <= len(lines) && p.Column > utf8.RuneCountInString(lines[p.Line-1])+2 {
					t.Fatalf("problem placed outside the file: %v\nin %q", p, data)
				}
			}
		}
	})
}
