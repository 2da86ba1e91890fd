package main

import (
	"context"
	"errors"
	"io"
	"iter"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// programName starts every error line ("graceguard: ") and is the root
// command's name.
const programName = "graceguard"

// streams are the standard streams a command talks to; tests pass buffers.
type streams struct {
	in     io.Reader
	out    io.Writer
	errOut io.Writer
}

// runners replace commands' run functions (cli/cli's runF): tests check
// what the flags, environment and config file resolve to without running
// the command. A nil field runs the real one.
type runners struct {
	scan     func(context.Context, *scanOptions) error
	watch    func(context.Context, *watchOptions) error
	timeline func(context.Context, *timelineOptions) error
	demo     func(context.Context, *demoOptions) error
	simulate func(context.Context, *simulateOptions) error
	idpServe func(context.Context, *idpServeOptions) error
}

func newRootCmd(in io.Reader, out, errOut io.Writer) *cobra.Command {
	return newRootCmdWith(in, out, errOut, runners{})
}

func newRootCmdWith(in io.Reader, out, errOut io.Writer, run runners) *cobra.Command {
	io := streams{in: in, out: out, errOut: errOut}
	root := &cobra.Command{
		Use:   programName,
		Short: "Catch refresh-token replay in identity-provider logs",
		Long: `graceguard reads OpenUnison's logs and tells the benign client-go refresh race
(same machine, milliseconds apart) from a replay of a stolen refresh token inside
the grace period (another address, network or continent), and alerts on it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetFlagErrorFunc(flagUsageError)
	var configPath string
	origins := settingOrigins{}
	root.PersistentFlags().StringVar(&configPath, "config", "", "YAML `FILE` of settings: any flag's name as a key (GRACEGUARD_<FLAG> environment variables work too)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		warnUnknownEnvironment(cmd.Root(), cmd.ErrOrStderr())
		if err := configFromEnv(cmd, &configPath); err != nil {
			return err
		}
		file, err := readConfigFile(configPath)
		if err != nil {
			return err
		}
		// Asked before applySettings marks the flags it fills as changed.
		cmd.SetContext(withCommandLine(withConfigFile(cmd.Context(), file), cmd.Flags()))
		return applySettings(cmd, file, origins)
	}
	root.AddCommand(
		newIdpCmd(io, run.idpServe),
		newSimulateCmd(io, run.simulate),
		newDemoCmd(io, run.demo),
		newScanCmd(io, run.scan),
		newTimelineCmd(io, run.timeline),
		newWatchCmd(io, run.watch),
		newRulesCmd(io),
		newGeoCmd(io),
		newVersionCmd(io, nil),
	)
	// cobra makes its completion command as it executes; made now, it is
	// in the tree requireSubcommand walks.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		requireSubcommand(c)
	}
	for _, c := range completionCmd(root).Commands() {
		// cobra's NoArgs words its error with the whole path quoted.
		c.Args = noArgs
	}
	strictHelp(root)
	registerChoices(root)
	blameOrigins(root, origins)
	return root
}

// commandTree yields root and every command under it, parents first.
func commandTree(root *cobra.Command) iter.Seq[*cobra.Command] {
	return func(yield func(*cobra.Command) bool) {
		var walk func(c *cobra.Command) bool
		walk = func(c *cobra.Command) bool {
			if !yield(c) {
				return false
			}
			for _, sub := range c.Commands() {
				if !walk(sub) {
					return false
				}
			}
			return true
		}
		walk(root)
	}
}

// requireSubcommand makes a command that only groups others (idp, geo, rules,
// completion) a usage error when called without one of them or with a word
// that is none of them. cobra would print the group's help and exit 0 (a
// script's typo would pass for success), or call a stray word "arguments".
func requireSubcommand(c *cobra.Command) {
	for _, sub := range c.Commands() {
		requireSubcommand(sub)
	}
	if !c.HasAvailableSubCommands() || c.Run != nil || c.RunE != nil {
		return
	}
	c.Args = cobra.ArbitraryArgs
	// cobra sets this default only on the root, where it suggests.
	c.SuggestionsMinimumDistance = 2
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownSubcommand(cmd, args[0])
		}
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return usageErrorf("%s needs a subcommand: %s", commandName(cmd), orList(names))
	}
	// cobra parses the group's flags before RunE sees a mistyped word: a
	// flag meant for the subcommand after it ("idp srve --addr x") is
	// unknown to the group and was blamed instead of the word. The words
	// pflag had passed before the flag it refused are in Args. The
	// subcommands inherit this func: their words are arguments.
	c.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if words := cmd.Flags().Args(); cmd == c && len(words) > 0 {
			return unknownSubcommand(cmd, words[0])
		}
		return flagUsageError(cmd, err)
	})
}

// commandName is cmd's path without the program's name ("rules check"):
// every error already starts "graceguard: ", and "graceguard: graceguard
// rules needs …" read as a stutter. scan's and timeline's words name
// themselves so.
func commandName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// unknownSubcommand is the error for a word after a group that is none of
// its subcommands.
func unknownSubcommand(group *cobra.Command, word string) error {
	return usageErrorf("unknown command %q for %s%s", word, commandName(group), didYouMean(group.SuggestionsFor(word)))
}

// completionCmd is cobra's completion command, made by
// InitDefaultCompletionCmd.
func completionCmd(root *cobra.Command) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			return c
		}
	}
	return &cobra.Command{}
}

// strictHelp makes "help" with a topic that is no command a usage error.
// cobra printed "Unknown help topic" and the root's usage on stdout and
// exited 0, so "graceguard help scna | less" looked like an answer, and
// a topic with a mistyped subcommand ("help idp srve") silently got its
// group's help.
func strictHelp(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	help, _, err := root.Find([]string{"help"})
	if err != nil || help.Run == nil {
		return
	}
	show := help.Run
	help.Run = nil
	help.RunE = func(c *cobra.Command, args []string) error {
		found, rest, err := c.Root().Find(args)
		if found == nil || err != nil || len(rest) > 0 {
			var meant []string
			if found != nil && len(rest) > 0 {
				for _, s := range found.SuggestionsFor(rest[0]) {
					meant = append(meant, strings.TrimPrefix(found.CommandPath()+" "+s, programName+" "))
				}
			}
			return usageErrorf("unknown help topic %q%s", strings.Join(args, " "), didYouMean(meant))
		}
		show(c, args)
		return nil
	}
}

// didYouMean is the hint an unknown command's error ends with: " (did you
// mean scan?)", or "" with no command to suggest.
func didYouMean(commands []string) string {
	if len(commands) == 0 {
		return ""
	}
	return " (did you mean " + orList(commands) + "?)"
}

// cobraSuggestions starts the lines cobra appends to its error for an
// unknown command of the root, one suggested command on each after it.
const cobraSuggestions = "\n\nDid you mean this?\n"

// inlineSuggestions puts the commands cobra suggests for a mistyped command
// on its error's line, as the groups' own errors have them: every error is
// one graceguard: line. cobra makes the root's error itself, before any of
// graceguard's code runs, so it is reworded here, where it is printed.
func inlineSuggestions(msg string) string {
	if !strings.HasPrefix(msg, "unknown command") {
		return msg
	}
	// cobra quotes the program's name, which the prefix already says.
	msg = strings.Replace(msg, " for "+strconv.Quote(programName), "", 1)
	head, list, ok := strings.Cut(msg, cobraSuggestions)
	if !ok {
		return msg
	}
	return head + didYouMean(strings.Fields(list))
}

// orList joins words as a sentence does: "a", "a or b", "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// flagUsageError makes flag parsing problems usage errors (exit 2), not
// runtime failures. A value the flag's type refuses is said in the words
// the environment and config file get ("--every: want a duration …"), not
// pflag's, which quote the parser ("time: invalid duration").
func flagUsageError(cmd *cobra.Command, err error) error {
	var bad *pflag.InvalidValueError
	if errors.As(err, &bad) {
		if words := valueError(bad.GetFlag(), bad.GetValue(), bad.Unwrap()); words != nil {
			return usageErrorf("--%s: %w", bad.GetFlag().Name, words)
		}
	}
	if hint := unknownFlagHint(cmd, err); hint != "" {
		return usageErrorf("%w%s", err, hint)
	}
	return usageError{err}
}

// blameOrigins has every command's usage errors about a flag's value name
// where the value was set (settingOrigins.blame).
func blameOrigins(c *cobra.Command, origins settingOrigins) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error { return origins.blame(run(cmd, args)) }
	}
	for _, sub := range c.Commands() {
		blameOrigins(sub, origins)
	}
}
