package idp

import (
	"errors"
	"fmt"
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

// TestLoadusersErrorsNameLineAndColumn: `idp serve --users FILE` refuses a
// bad users file with exit status 2; its message must say where in the file
// the problem is, as every other file graceguard reads does, not only which
// entry (users[3] in a long file is a count to make by hand).
func TestLoadusersErrorsNameLineAndColumn(t *testing.T) {
	t.Parallel()
	const hash = `"$2a$04$QSVesfMScjXM0j9HxqOpr.QhAbkmxBZKDiI3RjshWh7vlpd6y1fs6"`
	ok := "  - username: a\n    password_hash: " + hash + "\n    dn: uid=a\n"
	tests := []struct {
		name, doc, want string
	}{
		{"plain password in the second user", "users:\n" + ok + "  - username: b\n    password_hash: start123\n    dn: uid=b\n",
			`:6:20: users[1]: user "b": password_hash is not bcrypt`},
		{"no dn", "users:\n" + ok + "  - username: b\n    password_hash: " + hash + "\n",
			`:5:5: users[1]: user "b": dn is empty`},
		{"duplicate", "users:\n" + ok + ok, `:5:5: users[1]: user "a": defined twice`},
		{"unknown field", "users:\n" + ok + "    role: admin\n", `:5:5: users[0]: unknown field "role"`},
		{"unknown top-level key", "user:\n" + ok, `:1:1: unknown key "user" (want users or generated)`},
		{"a count that is no number", "generated:\n  - {format: u%d, count: many, password_hash: " + hash + ", dn: x}\n",
			`:2:26: generated[0]: count: want a whole number`},
		{"bad format", "generated:\n  - {format: user, count: 2, password_hash: " + hash + ", dn: x}\n",
			`:2:14: generated[0]: format "user": want one integer verb`},
		{"users not a list", "users: alice\n", `:1:8: users: want a list`},
		{"syntax", "users:\n  - username: a\n   dn: x\n", `:3:`},
		{"empty", "", `:1:1: no users`},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		path := filepath.Join(dir, fmt.Sprintf("users-%d.yaml", i))
		if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadUsers(path)
		if err == nil || !strings.Contains(err.Error(), path+tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, path+tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "QSVesfMScjXM0j9") {
			t.Errorf("%s: the error quotes a password hash: %v", tt.name, err)
		}
	}
}

// FuzzParseUsers: any users file is read or refused with a placed error,
// never a panic, and an accepted one has users.
func FuzzParseUsers(f *testing.F) {
	f.Add(string(demoUsersYAML[:min(len(demoUsersYAML), 600)]))
	for _, s := range []string{"", "users:\n", "users: [", "users: &a [*a]", "generated:\n  - {format: u%d, count: 3, password_hash: x, dn: y}\n",
		"users:\n  - &u {username: a, dn: b}\n  - *u\n", "? [a]\n: b\n", "users:\n  - username: [a]\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		u, err := parseUsers([]byte(doc))
		if err != nil {
			var ue *usersError
			if !errors.As(err, &ue) || ue.Line < 1 || ue.Column < 1 {
				t.Fatalf("error without a place: %v", err)
			}
			return
		}
		if u.Len() == 0 {
			t.Fatal("accepted a file without users")
		}
	})
}
