package idptest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/graceguard/graceguard/idp"
)

// fastUsersYAML is idp's demo users with idp.DemoPassword hashed at
// bcrypt's least cost (4) instead of the demo file's 10. A cost-10 compare
// takes 1.6 s under -race alone and past the clients' timeouts (10 s, and
// the servers' 30 s write timeout) on two loaded cores with the tests'
// other logins queued behind it: TestRoundTrip, the kubectl races and the
// logs under traffic failed on it, not on anything they check. What those
// tests check (the IdP's answers and its log) is the same at any cost;
// idp's TestDemoUsers checks the demo file's own hashes, and an unknown
// user still pays the decoy's cost 10.
const fastUsersYAML = `users:
  - username: mmosley
    password_hash: "$2a$04$LbGfV9YTO8E3wMmIlpsq/Ob5NVfiRpXkApbswPgpPZxQyBnJyAi9W"
    dn: uid=mmosley,ou=shadow,o=Tremolo
    name: Matt Mosley
    email: mmosley@tremolo.dev
  - username: jjackson
    password_hash: "$2a$04$LbGfV9YTO8E3wMmIlpsq/Ob5NVfiRpXkApbswPgpPZxQyBnJyAi9W"
    dn: uid=jjackson,ou=shadow,o=Tremolo
    name: Jennifer Jackson
    email: jjackson@tremolo.dev
  - username: kalexander
    password_hash: "$2a$04$LbGfV9YTO8E3wMmIlpsq/Ob5NVfiRpXkApbswPgpPZxQyBnJyAi9W"
    dn: uid=kalexander,ou=shadow,o=Tremolo
    name: Kim Alexander
    email: kalexander@tremolo.dev
generated:
  - format: sim%04d
    count: 9999
    password_hash: "$2a$04$QSVesfMScjXM0j9HxqOpr.QhAbkmxBZKDiI3RjshWh7vlpd6y1fs6"
    dn: uid={username},ou=simulated,o=Tremolo
    name: Simulated {username}
    email: "{username}@simulated.tremolo.dev"
`

// FastUsersFile writes the demo users, their password hashed at bcrypt's
// least cost, to a users file for `idp serve --users` and returns its path.
func FastUsersFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fast-users.yaml")
	if err := os.WriteFile(path, []byte(fastUsersYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// FastUsers is the demo users, their password hashed at bcrypt's least
// cost, for an idp.Config. It fails t if they are no longer the demo users
// (a name, DN or the password changed in the demo file).
func FastUsers(t testing.TB) *idp.Users {
	t.Helper()
	fast, err := idp.LoadUsers(FastUsersFile(t))
	if err != nil {
		t.Fatal(err)
	}
	demo := idp.DemoUsers()
	if fast.Len() != demo.Len() {
		t.Fatalf("fast users: %d, the demo users %d", fast.Len(), demo.Len())
	}
	for _, name := range []string{"mmosley", "jjackson", "kalexander", "sim0001"} {
		f, fok := fast.Lookup(name)
		d, dok := demo.Lookup(name)
		if !fok || !dok || f.DN != d.DN || f.Name != d.Name || f.Email != d.Email {
			t.Fatalf("fast user %s is not the demo user %s", name, name)
		}
	}
	if _, ok := fast.Authenticate("mmosley", idp.DemoPassword); !ok {
		t.Fatal("the fast users' password is not idp.DemoPassword")
	}
	return fast
}
