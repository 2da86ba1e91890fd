package idp

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

//go:embed demo-users.yaml
var demoUsersYAML []byte

// DemoPassword is the password of the embedded named demo users (mmosley,
// jjackson, kalexander); SimulatedPassword is that of the generated sim users.
const (
	DemoPassword      = "start123"
	SimulatedPassword = "simulate"
	// SimulatedUserFormat names the embedded generated users, counting from 1.
	SimulatedUserFormat = "sim%04d"
)

// maxUsers bounds what a users file may expand to, so a typo in a generated
// block's count cannot exhaust memory.
const maxUsers = 200_000

// User is one account of the IdP.
type User struct {
	Username string
	DN       string
	Name     string
	Email    string
	hash     []byte
}

// Users is an immutable set of accounts, safe for concurrent use.
type Users struct {
	byName map[string]*User
}

type usersFile struct {
	Users     []userEntry     `yaml:"users"`
	Generated []generateEntry `yaml:"generated"`
}

type userEntry struct {
	Username     string `yaml:"username"`
	PasswordHash string `yaml:"password_hash"`
	DN           string `yaml:"dn"`
	Name         string `yaml:"name"`
	Email        string `yaml:"email"`
}

// generateEntry expands to count users named fmt.Sprintf(format, i) for
// i = 1..count; {username} in dn, name and email is replaced by the name.
type generateEntry struct {
	Format       string `yaml:"format"`
	Count        int    `yaml:"count"`
	PasswordHash string `yaml:"password_hash"`
	DN           string `yaml:"dn"`
	Name         string `yaml:"name"`
	Email        string `yaml:"email"`
}

var demoUsers = sync.OnceValues(func() (*Users, error) { return parseUsers(demoUsersYAML) })

// DemoUsers returns the embedded demo users.
func DemoUsers() *Users {
	u, err := demoUsers()
	if err != nil {
		// The embedded file is tested; failing here is a build defect.
		panic(fmt.Sprintf("idp: embedded demo users: %v", err))
	}
	return u
}

// LoadUsers reads a users YAML file.
func LoadUsers(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	u, err := parseUsers(data)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return u, nil
}

// parseUsers parses a users YAML document:
//
//	users:
//	  - username: mmosley
//	    password_hash: "$2a$10$…"        # bcrypt
//	    dn: uid=mmosley,ou=shadow,o=Tremolo
//	    name: Matt Mosley                # optional
//	    email: mmosley@tremolo.dev       # optional
//	generated:                           # optional
//	  - format: sim%04d
//	    count: 100
//	    password_hash: "$2a$04$…"
//	    dn: uid={username},ou=simulated,o=Tremolo
func parseUsers(data []byte) (*Users, error) {
	var f usersFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse users: %w", err)
	}
	u := &Users{byName: make(map[string]*User, len(f.Users))}
	for i, e := range f.Users {
		if err := u.add(e); err != nil {
			return nil, fmt.Errorf("users[%d]: %w", i, err)
		}
	}
	for i, g := range f.Generated {
		if err := u.generate(g); err != nil {
			return nil, fmt.Errorf("generated[%d]: %w", i, err)
		}
	}
	if len(u.byName) == 0 {
		return nil, errors.New("no users")
	}
	return u, nil
}

func (u *Users) generate(g generateEntry) error {
	if g.Count < 1 || len(u.byName)+g.Count > maxUsers {
		return fmt.Errorf("count %d: want 1..%d users in all", g.Count, maxUsers)
	}
	if strings.Count(g.Format, "%") != 1 || !strings.Contains(g.Format, "d") {
		return fmt.Errorf("format %q: want one integer verb such as sim%%04d", g.Format)
	}
	hash := g.PasswordHash
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("password_hash: %w", err)
	}
	for i := 1; i <= g.Count; i++ {
		name := fmt.Sprintf(g.Format, i)
		expand := func(s string) string { return strings.ReplaceAll(s, "{username}", name) }
		if err := u.add(userEntry{Username: name, PasswordHash: hash, DN: expand(g.DN), Name: expand(g.Name), Email: expand(g.Email)}); err != nil {
			return err
		}
	}
	return nil
}

func (u *Users) add(e userEntry) error {
	switch {
	case e.Username == "":
		return errors.New("username is empty")
	case strings.TrimSpace(e.DN) == "":
		return fmt.Errorf("user %q: dn is empty", e.Username)
	case strings.ContainsAny(e.DN, "\r\n") || strings.ContainsAny(e.Username, "\r\n"):
		return fmt.Errorf("user %q: line break in username or dn", e.Username)
	}
	if _, dup := u.byName[e.Username]; dup {
		return fmt.Errorf("user %q: defined twice", e.Username)
	}
	if _, err := bcrypt.Cost([]byte(e.PasswordHash)); err != nil {
		return fmt.Errorf("user %q: password_hash is not bcrypt: %w", e.Username, err)
	}
	name := e.Name
	if name == "" {
		name = e.Username
	}
	u.byName[e.Username] = &User{Username: e.Username, DN: e.DN, Name: name, Email: e.Email, hash: []byte(e.PasswordHash)}
	return nil
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.byName) }

// Lookup returns the user with that username.
func (u *Users) Lookup(username string) (*User, bool) {
	usr, ok := u.byName[username]
	return usr, ok
}

// decoyHash is compared against when the username is unknown, so that a
// wrong username costs as much as a wrong password.
var decoyHash = []byte("$2a$10$a35OICrcpCeJzF3pvJ7IyOnUT0TJ88fuQeYrB5MlrTG3qLuSmNP8a")

// Authenticate checks a username and password.
func (u *Users) Authenticate(username, password string) (*User, bool) {
	usr, ok := u.byName[username]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(decoyHash, []byte(password))
		return nil, false
	}
	if bcrypt.CompareHashAndPassword(usr.hash, []byte(password)) != nil {
		return nil, false
	}
	return usr, true
}
