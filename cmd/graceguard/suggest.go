package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// maxSuggestions bounds a hint: more names than this read as a list of
// flags, not an answer.
const maxSuggestions = 3

// meantNames are the names of known a typed name most likely meant, from
// the first of these that has any: the same name in another case (an
// environment's habits reach flags too); those within two edits of it
// (cobra's distance for commands), nearest first; those it abbreviates
// ("state-pass" for state-password-file); those it extends at a word's
// end ("from-start" for from).
func meantNames(typed string, known []string) []string {
	typed = strings.ToLower(typed)
	tiers := make([][]string, 4)
	distance := map[string]int{}
	for _, name := range known {
		lower := strings.ToLower(name)
		switch d := editDistance(typed, lower); {
		case d == 0:
			tiers[0] = append(tiers[0], name)
		case d <= 2:
			tiers[1] = append(tiers[1], name)
			distance[name] = d
		case len(typed) >= 3 && strings.HasPrefix(lower, typed):
			tiers[2] = append(tiers[2], name)
		case len(lower) >= 3 && strings.HasPrefix(typed, lower+"-"):
			tiers[3] = append(tiers[3], name)
		}
	}
	slices.SortStableFunc(tiers[1], func(a, b string) int { return cmp.Compare(distance[a], distance[b]) })
	for _, tier := range tiers {
		if len(tier) > 0 {
			return tier[:min(len(tier), maxSuggestions)]
		}
	}
	return nil
}

// editDistance is the Levenshtein distance of a and b, in bytes: names
// here are ASCII.
func editDistance(a, b string) int {
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		diagonal := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			substitute := diagonal
			if a[i-1] != b[j-1] {
				substitute++
			}
			diagonal = row[j]
			row[j] = min(row[j]+1, row[j-1]+1, substitute)
		}
	}
	return row[len(b)]
}

// unknownFlagHint is what an unknown long flag's error ends with: the
// command's flags it may have meant, or the commands it is a flag of
// ("scan --state": the shared state is watch's). The root, which has no
// flags worth suggesting, gets none: its unknown flag usually belongs
// after a command's name.
func unknownFlagHint(cmd *cobra.Command, err error) string {
	var missing *pflag.NotExistError
	if !errors.As(err, &missing) || missing.GetSpecifiedShortnames() != "" || !cmd.HasParent() {
		return ""
	}
	typed := missing.GetSpecifiedName()
	var own []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Deprecated == "" && f.Name != "help" {
			own = append(own, f.Name)
		}
	})
	if meant := meantNames(typed, own); len(meant) > 0 {
		for i, name := range meant {
			meant[i] = "--" + name
		}
		return " (did you mean " + orList(meant) + "?)"
	}
	if owners := commandsWithFlag(cmd.Root(), typed); len(owners) > 0 {
		return fmt.Sprintf(" (a flag of %s, not of %s)", orList(owners), commandName(cmd))
	}
	return ""
}

// commandsWithFlag names the runnable commands that have the flag name.
func commandsWithFlag(root *cobra.Command, name string) []string {
	var owners []string
	for c := range commandTree(root) {
		if f := c.Flags().Lookup(name); f != nil && c.Runnable() && !f.Hidden && c.IsAvailableCommand() {
			owners = append(owners, commandName(c))
		}
	}
	return owners
}

// otherEnvSettings are the GRACEGUARD_ variables that are no flag's: the
// Redis password (kept out of flags, where ps shows it) and the proxies'
// JSON keys (a config-file setting with no flag).
var otherEnvSettings = []string{redisPasswordEnv, envName(proxyJSONKeys)}

// warnUnknownEnvironment says each GRACEGUARD_ variable that names no
// setting of any command, with the variable it likely meant: a typo there
// left its setting at the default without a word. It is a warning, not a
// usage error as an unknown config key is: one environment serves every
// command and every version of a deployment's image, and a variable a
// newer release reads must not stop an older one. Values are never shown:
// some are secrets.
func warnUnknownEnvironment(root *cobra.Command, w io.Writer) {
	// Most processes have no GRACEGUARD_ variable: they pay one look at
	// the environment, not a walk of every command's flags (scan's
	// start-up is counted in tenths of a millisecond).
	var set []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, envPrefix) {
			set = append(set, name)
		}
	}
	if len(set) == 0 {
		return
	}
	known := envSettings(root)
	var unknown []string
	for _, name := range set {
		if _, ok := slices.BinarySearch(known, name); !ok && !serviceLink().MatchString(name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		fmt.Fprintf(w, "%s: %s names no setting: ignored%s\n", programName, name, didYouMean(meantEnv(name, known)))
	}
}

// envSettings are the variables some command reads, sorted.
func envSettings(root *cobra.Command) []string {
	known := map[string]bool{}
	for _, name := range otherEnvSettings {
		known[name] = true
	}
	for c := range commandTree(root) {
		for _, set := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			set.VisitAll(func(f *pflag.Flag) {
				if f.Name != "help" {
					known[envName(f.Name)] = true
				}
			})
		}
	}
	names := make([]string, 0, len(known))
	for name := range known {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// serviceLink matches the variables Kubernetes sets for each Service of a
// pod's namespace (enableServiceLinks, on by default): NAME_SERVICE_HOST,
// NAME_SERVICE_PORT[_PORTNAME], NAME_PORT and NAME_PORT_N_PROTO[_PROTO|_PORT|_ADDR].
// The chart's Services (graceguard, graceguard-redis) make GRACEGUARD_ ones
// in every pod; a flag of that shape is still told by known first.
// Compiled when asked, not at every start.
var serviceLink = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$`)
})

// meantEnv is meantNames for variables, compared without the prefix every
// one shares (which would make any two look alike).
func meantEnv(name string, known []string) []string {
	stems := make([]string, len(known))
	for i, k := range known {
		stems[i] = strings.TrimPrefix(k, envPrefix)
	}
	meant := meantNames(strings.TrimPrefix(name, envPrefix), stems)
	for i, m := range meant {
		meant[i] = envPrefix + m
	}
	return meant
}
