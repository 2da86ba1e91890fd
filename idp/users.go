package idp

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/graceguard/graceguard/internal/yamlpos"
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

type userEntry struct {
	Username     string
	PasswordHash string
	DN           string
	Name         string
	Email        string
}

// generateEntry expands to count users named fmt.Sprintf(format, i) for
// i = 1..count; {username} in dn, name and email is replaced by the name.
type generateEntry struct {
	Format       string
	Count        int
	PasswordHash string
	DN           string
	Name         string
	Email        string
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

// LoadUsers reads a users YAML file. Its errors name the file, the line
// and the column: "users file PATH:LINE:COLUMN: message".
func LoadUsers(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	u, err := parseUsers(data)
	if err != nil {
		return nil, fmt.Errorf("users file %s:%w", path, err)
	}
	return u, nil
}

// usersError is a problem at a place in a users file, from 1.
type usersError struct {
	Line, Column int
	Msg          string // names the problem, never a password hash
}

func (e *usersError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg) }

func errorAt(n *yaml.Node, format string, a ...any) error {
	return &usersError{Line: max(n.Line, 1), Column: max(n.Column, 1), Msg: fmt.Sprintf(format, a...)}
}

// fieldError says which field of an entry is wrong, so that the error
// points at its value (or at the entry when the field is missing).
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }

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
//
// It walks the document's nodes rather than decoding it into structs, so
// that every error, a semantic one included, says where it is.
func parseUsers(data []byte) (*Users, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		pos, msg := yamlpos.Locate(data, err)
		return nil, &usersError{Line: pos.Line, Column: pos.Column, Msg: msg}
	}
	u := &Users{byName: make(map[string]*User)}
	if len(doc.Content) > 0 {
		root := deref(doc.Content[0])
		if root.Kind != yaml.MappingNode && !isNull(root) {
			return nil, errorAt(root, "want a mapping with users and generated")
		}
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], deref(root.Content[i+1])
			var err error
			switch k.Value {
			case "users":
				err = eachEntry(v, "users", func(item *yaml.Node, name string) error {
					var e userEntry
					fields := map[string]*yaml.Node{}
					if err := readFields(item, name, fields, map[string]any{
						"username": &e.Username, "password_hash": &e.PasswordHash, "dn": &e.DN, "name": &e.Name, "email": &e.Email,
					}); err != nil {
						return err
					}
					return placed(item, fields, name, u.add(e))
				})
			case "generated":
				err = eachEntry(v, "generated", func(item *yaml.Node, name string) error {
					var g generateEntry
					fields := map[string]*yaml.Node{}
					if err := readFields(item, name, fields, map[string]any{
						"format": &g.Format, "count": &g.Count, "password_hash": &g.PasswordHash, "dn": &g.DN, "name": &g.Name, "email": &g.Email,
					}); err != nil {
						return err
					}
					return placed(item, fields, name, u.generate(g))
				})
			default:
				err = errorAt(k, "unknown key %q (want users or generated)", k.Value)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if len(u.byName) == 0 {
		return nil, &usersError{Line: 1, Column: 1, Msg: "no users"}
	}
	return u, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// eachEntry calls f for every mapping in the list v (named list), with the
// entry's name for messages, list[i].
func eachEntry(v *yaml.Node, list string, f func(item *yaml.Node, name string) error) error {
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return errorAt(v, "%s: want a list", list)
	}
	for i, item := range v.Content {
		item = deref(item)
		name := fmt.Sprintf("%s[%d]", list, i)
		if item.Kind != yaml.MappingNode {
			return errorAt(item, "%s: want a mapping", name)
		}
		if err := f(item, name); err != nil {
			return err
		}
	}
	return nil
}

// readFields decodes the entry's keys into dst (*string or *int), noting
// each key's value node in fields; a key dst does not name is an error.
func readFields(item *yaml.Node, name string, fields map[string]*yaml.Node, dst map[string]any) error {
	for i := 0; i+1 < len(item.Content); i += 2 {
		k, v := item.Content[i], deref(item.Content[i+1])
		p, ok := dst[k.Value]
		if !ok {
			return errorAt(k, "%s: unknown field %q", name, k.Value)
		}
		if _, dup := fields[k.Value]; dup {
			return errorAt(k, "%s: field %q given twice", name, k.Value)
		}
		fields[k.Value] = v
		if isNull(v) {
			continue
		}
		switch p := p.(type) {
		case *string:
			if v.Kind != yaml.ScalarNode {
				return errorAt(v, "%s: %s: want a string", name, k.Value)
			}
			*p = v.Value
		case *int:
			if v.Kind != yaml.ScalarNode || v.Decode(p) != nil {
				return errorAt(v, "%s: %s: want a whole number", name, k.Value)
			}
		}
	}
	return nil
}

// placed puts err where it belongs: at the value of the field it is about,
// or at the entry.
func placed(item *yaml.Node, fields map[string]*yaml.Node, name string, err error) error {
	if err == nil {
		return nil
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		if v, ok := fields[fe.field]; ok {
			return errorAt(v, "%s: %v", name, err)
		}
	}
	return errorAt(item, "%s: %v", name, err)
}

func (u *Users) generate(g generateEntry) error {
	if g.Count < 1 || len(u.byName)+g.Count > maxUsers {
		return &fieldError{"count", fmt.Errorf("count %d: want 1..%d users in all", g.Count, maxUsers)}
	}
	if strings.Count(g.Format, "%") != 1 || !strings.Contains(g.Format, "d") {
		return &fieldError{"format", fmt.Errorf("format %q: want one integer verb such as sim%%04d", g.Format)}
	}
	hash := g.PasswordHash
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return &fieldError{"password_hash", fmt.Errorf("password_hash: %w", err)}
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
		return &fieldError{"username", errors.New("username is empty")}
	case strings.TrimSpace(e.DN) == "":
		return &fieldError{"dn", fmt.Errorf("user %q: dn is empty", e.Username)}
	case strings.ContainsAny(e.DN, "\r\n"):
		return &fieldError{"dn", fmt.Errorf("user %q: line break in dn", e.Username)}
	case strings.ContainsAny(e.Username, "\r\n"):
		return &fieldError{"username", fmt.Errorf("user %q: line break in username", e.Username)}
	}
	if _, dup := u.byName[e.Username]; dup {
		return fmt.Errorf("user %q: defined twice", e.Username)
	}
	if _, err := bcrypt.Cost([]byte(e.PasswordHash)); err != nil {
		return &fieldError{"password_hash", fmt.Errorf("user %q: password_hash is not bcrypt: %w", e.Username, err)}
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
