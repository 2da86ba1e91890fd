package loggen

import (
	"strconv"
)

// user is one person with a kubeconfig.
type user struct {
	dn  string
	uid string // for LDAP filters
	// ips are the addresses the user's requests come from: one, or two for
	// someone who works from a laptop and a jump host.
	ips []string
	// lastIP is the address of the user's latest legitimate refresh: what a
	// reuse is compared with to tell a race from a replay.
	lastIP string
	// busy is set while a reuse of the user's latest refresh is scheduled,
	// so no newer refresh slips in between and changes what it follows.
	busy bool
	// web is the user's browser session id for the dashboard and portal:
	// unlike kubectl, browsers keep a cookie, so it repeats until rotated.
	web     string
	webLeft int
}

var firstNames = []string{
	"matt", "anna", "james", "li", "sofia", "omar", "priya", "lucas", "emma", "noah",
	"mia", "arjun", "chloe", "diego", "fatima", "hiro", "ingrid", "jonas", "kemal", "lena",
	"marco", "nadia", "olga", "pedro", "quinn", "rosa", "sven", "tara", "umar", "vera",
	"wei", "yara", "zoe", "ahmed", "bella", "chen", "dmitri", "elif", "felix", "gita",
}

var lastNames = []string{
	"mosley", "smith", "garcia", "nguyen", "muller", "rossi", "kowalski", "tanaka", "silva", "kim",
	"okafor", "jensen", "dubois", "novak", "haddad", "patel", "olsen", "moreau", "weber", "costa",
	"ivanova", "yilmaz", "santos", "fischer", "larsen", "romano", "berg", "chen", "singh", "lopez",
}

// newUsers builds the user population. Most DNs are the plain shadow DNs
// OpenUnison's orchestra creates; a few carry escaped commas and spaces,
// brackets, or come from an Active Directory, because parsers break on
// exactly those.
func newUsers(r *rng, n int) []user {
	users := make([]user, n)
	seen := make(map[string]bool, n)
	// Offices put many people behind one NAT address, so addresses repeat
	// across users without meaning anything.
	offices := []string{publicV4(r), publicV4(r), publicV4(r)}
	for i := range users {
		first := firstNames[r.intn(len(firstNames))]
		last := lastNames[r.intn(len(lastNames))]
		uid := first[:1] + last
		if i%97 == 13 {
			uid = "svc-" + []string{"ci", "argo", "backup", "monitor"}[r.intn(4)]
		}
		for k := 2; seen[uid]; k++ {
			uid = first[:1] + last + strconv.Itoa(k)
		}
		seen[uid] = true
		u := &users[i]
		u.uid = uid
		if uid[:4] == "svc-" {
			u.dn = "uid=" + uid + ",ou=shadow,o=Tremolo"
		} else {
			u.dn = dnFor(r, uid, first, last)
		}
		u.ips = []string{userIP(r, offices)}
		if r.chance(0.2) {
			u.ips = append(u.ips, userIP(r, offices))
		}
	}
	return users
}

func dnFor(r *rng, uid, first, last string) string {
	shadow := ",ou=shadow,o=Tremolo"
	first = title(first)
	last = title(last)
	switch x := r.intn(100); {
	case x < 84:
		return "uid=" + uid + shadow
	case x < 90:
		return "cn=" + last + `\, ` + first + shadow
	case x < 93:
		return "cn=" + first + " " + last + " [ops]" + shadow
	case x < 95:
		// An escaped leading space and a bracket pair that looks like the
		// trailing "[ip] - [session]" of an access line.
		return `cn=\ ` + first + " " + last + " [ext] - [contractor]" + shadow
	default:
		return "CN=" + last + `\, ` + first + ",OU=Users,OU=Corp,DC=corp,DC=example,DC=com"
	}
}

func title(s string) string { return string(s[0]-'a'+'A') + s[1:] }

// userIP picks where a user's requests come from: VPN and office ranges,
// office NAT addresses shared by many, home connections, and IPv6.
func userIP(r *rng, offices []string) string {
	switch x := r.intn(100); {
	case x < 35:
		return "10." + strconv.Itoa(r.between(8, 12)) + "." + strconv.Itoa(r.intn(256)) + "." + strconv.Itoa(r.between(2, 255))
	case x < 45:
		return "172." + strconv.Itoa(r.between(16, 32)) + "." + strconv.Itoa(r.intn(256)) + "." + strconv.Itoa(r.between(2, 255))
	case x < 60:
		return offices[r.intn(len(offices))]
	case x < 85:
		return publicV4(r)
	default:
		return javaV6(r, 0x2a01)
	}
}

// Users' public addresses and attackers' come from disjoint first octets
// (and IPv6 prefixes), so a replay's address can never be a user's own.
var userOctets = []int{24, 31, 37, 62, 81, 88, 91, 109, 151, 178, 188, 212}
var attackerOctets = []int{45, 77, 95, 103, 141, 176, 185, 193, 195, 217}

func publicV4(r *rng) string {
	return strconv.Itoa(userOctets[r.intn(len(userOctets))]) + "." + strconv.Itoa(r.intn(256)) + "." +
		strconv.Itoa(r.intn(256)) + "." + strconv.Itoa(r.between(1, 255))
}

func attackerIPs(r *rng, n int) []string {
	ips := make([]string, n)
	for i := range ips {
		if i%4 == 3 {
			ips[i] = javaV6(r, 0x2a0d)
			continue
		}
		ips[i] = strconv.Itoa(attackerOctets[r.intn(len(attackerOctets))]) + "." + strconv.Itoa(r.intn(256)) + "." +
			strconv.Itoa(r.intn(256)) + "." + strconv.Itoa(r.between(1, 255))
	}
	return ips
}

// javaV6 formats an IPv6 address as Java's getHostAddress does, which is
// what OpenUnison logs: eight groups, no leading zeros and no "::".
func javaV6(r *rng, prefix int) string {
	groups := [8]int{prefix, r.intn(0x10000), r.intn(0x10000), r.intn(0x100), 0, 0, r.intn(0x10000), r.between(1, 0x10000)}
	if r.chance(0.5) {
		// SLAAC-style interface ids fill the lower half.
		groups[4], groups[5] = r.intn(0x10000), r.intn(0x10000)
	}
	b := make([]byte, 0, 40)
	for i, g := range groups {
		if i > 0 {
			b = append(b, ':')
		}
		b = strconv.AppendInt(b, int64(g), 16)
	}
	return string(b)
}
