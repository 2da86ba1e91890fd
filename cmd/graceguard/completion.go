package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagChoices are the values of flags that take one of a few words, for
// shell completion: without them a shell offers file names.
var flagChoices = map[string][]string{
	"format":        {"text", "json"},
	"from":          {"start", "end"},
	"min-severity":  {"info", "low", "medium", "high", "critical"},
	"color":         {"auto", "always", "never"},
	"log-format":    {"text", "json"},
	"log-level":     {"debug", "info", "warn", "error"},
	"session-id":    {"request", "oidc"},
	"state":         {"memory", "redis://", "rediss://"},
	"revoke":        {"high", "critical", "rules", "off"},
	"alerts-format": {"json", "ecs"},
	"session-store": {"memory", "kube"},
}

// commandChoices are where a command's flag of the same name takes other
// words (by the command's path).
var commandChoices = map[string]map[string][]string{
	"graceguard geo lookup": {"format": {"table", "json"}},
	"graceguard simulate":   {"source": {"auto", "bind", "xff"}},
}

// registerChoices gives every command's word-valued flags their values, and
// keeps file-name completion for the rest.
func registerChoices(root *cobra.Command) {
	for c := range commandTree(root) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			choices, ok := commandChoices[c.CommandPath()][f.Name]
			if !ok {
				choices, ok = flagChoices[f.Name]
			}
			if !ok {
				return
			}
			directive := cobra.ShellCompDirectiveNoFileComp
			if f.Name == "state" {
				directive |= cobra.ShellCompDirectiveNoSpace
			}
			// Registering twice is an error cobra reports; a command built
			// from shared flag sets may meet a flag again.
			_ = c.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(choices, directive))
		})
	}
}
