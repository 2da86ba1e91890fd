package idp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDemoUsers(t *testing.T) {
	t.Parallel()
	u := DemoUsers()
	tests := []struct {
		user, password, dn string
		ok                 bool
	}{
		{"mmosley", DemoPassword, "uid=mmosley,ou=shadow,o=Tremolo", true},
		{"jjackson", DemoPassword, "uid=jjackson,ou=shadow,o=Tremolo", true},
		{"sim0001", SimulatedPassword, "uid=sim0001,ou=simulated,o=Tremolo", true},
		{"sim9999", SimulatedPassword, "uid=sim9999,ou=simulated,o=Tremolo", true},
		{"mmosley", "wrong", "", false},
		{"sim10000", SimulatedPassword, "", false},
		{"nobody", DemoPassword, "", false},
	}
	for _, tt := range tests {
		got, ok := u.Authenticate(tt.user, tt.password)
		if ok != tt.ok || (ok && got.DN != tt.dn) {
			t.Errorf("Authenticate(%s) = %v %v, want %v %s", tt.user, got, ok, tt.ok, tt.dn)
		}
	}
	if m, _ := u.Lookup("mmosley"); m.Name != "Matt Mosley" || m.Email != "mmosley@tremolo.dev" {
		t.Errorf("mmosley %+v", m)
	}
	if u.Len() != 3+9999 {
		t.Errorf("%d demo users", u.Len())
	}
}

func TestParseUsersRejects(t *testing.T) {
	t.Parallel()
	const hash = `"$2a$04$QSVesfMScjXM0j9HxqOpr.QhAbkmxBZKDiI3RjshWh7vlpd6y1fs6"`
	tests := map[string]string{
		"empty":          ``,
		"unknown field":  "users:\n  - username: a\n    password_hash: " + hash + "\n    dn: uid=a\n    role: admin\n",
		"no dn":          "users:\n  - username: a\n    password_hash: " + hash + "\n",
		"no username":    "users:\n  - password_hash: " + hash + "\n    dn: uid=a\n",
		"plain password": "users:\n  - username: a\n    password_hash: start123\n    dn: uid=a\n",
		"duplicate":      "users:\n  - {username: a, password_hash: " + hash + ", dn: uid=a}\n  - {username: a, password_hash: " + hash + ", dn: uid=b}\n",
		"line break dn":  "users:\n  - {username: a, password_hash: " + hash + ", dn: \"uid=a\\nINFO forged\"}\n",
		"huge count":     "generated:\n  - {format: u%d, count: 999999999, password_hash: " + hash + ", dn: x}\n",
		"bad format":     "generated:\n  - {format: user, count: 2, password_hash: " + hash + ", dn: x}\n",
		"not yaml":       "users: [",
	}
	for name, doc := range tests {
		if _, err := parseUsers([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLoadUsers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "users.yaml")
	doc := "users:\n  - username: alice\n    password_hash: \"$2a$04$QSVesfMScjXM0j9HxqOpr.QhAbkmxBZKDiI3RjshWh7vlpd6y1fs6\"\n    dn: cn=Alice [Ops],ou=people,o=Example\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := u.Authenticate("alice", SimulatedPassword); !ok || a.Name != "alice" || !strings.Contains(a.DN, "[Ops]") {
		t.Errorf("alice %+v %v", a, ok)
	}
	if _, err := LoadUsers(path + ".missing"); err == nil {
		t.Error("missing file accepted")
	}
}

func TestLatencyQuantiles(t *testing.T) {
	t.Parallel()
	var l latencies
	if l.quantile(0.99) != 0 {
		t.Error("empty histogram has a quantile")
	}
	for i := 1; i <= 1000; i++ {
		l.record(time.Duration(i) * 10 * time.Microsecond) // 10µs … 10ms
	}
	for q, want := range map[float64]time.Duration{0.5: 5 * time.Millisecond, 0.99: 9900 * time.Microsecond, 1: 10 * time.Millisecond} {
		got := l.quantile(q)
		if got < want || float64(got) > float64(want)*1.02 {
			t.Errorf("quantile(%v) = %s, want %s within 2%% above", q, got, want)
		}
	}
	for v := uint64(0); v < 1<<20; v += 7 {
		if i := bucketOf(v); v >= bucketHigh(i) || (i > 0 && v < bucketHigh(i-1)) {
			t.Fatalf("value %d outside bucket %d", v, i)
		}
	}
}
