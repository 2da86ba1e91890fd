package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

// A command that only groups others is a usage error without one of them,
// or with a word that is none of them: exit 2 and one graceguard: line, as
// the README's exit-status table says, never its help with exit 0.
func TestGroupCommandsNeedASubcommand(t *testing.T) {
	t.Parallel()
	type group struct {
		cmd  string
		want string // on the line for no subcommand: the ones there are
	}
	groups := []group{
		{"completion", "bash, fish, powershell or zsh"},
		{"geo", "lookup"},
		{"idp", "login or serve"},
		{"rules", "check or test"},
	}
	// Every group the command tree has is in the table, so one added later
	// is tested too (completion is cobra's, made as graceguard starts).
	root := newRootCmd(strings.NewReader(""), io.Discard, io.Discard)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.HasAvailableSubCommands() && !slices.ContainsFunc(groups, func(g group) bool { return g.cmd == c.Name() }) {
			t.Errorf("%s groups subcommands and is not in the table", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			if sub.HasAvailableSubCommands() {
				t.Errorf("%s groups subcommands and is not in the table", sub.CommandPath())
			}
		}
	}
	for _, g := range groups {
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"none", []string{g.cmd}, "graceguard: " + g.cmd + " needs a subcommand: " + g.want + "\n"},
			{"unknown", []string{g.cmd, "tcsh"}, `graceguard: unknown command "tcsh" for ` + g.cmd},
		} {
			t.Run(g.cmd+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				stdout, stderr, code := run(t, nil, tc.args...)
				if code != exitUsage {
					t.Errorf("exit %d, want %d", code, exitUsage)
				}
				if stdout != "" {
					t.Errorf("stdout %q, want nothing (no help)", stdout)
				}
				if !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
					t.Errorf("stderr %q, want one line starting %q", stderr, tc.want)
				}
			})
		}
	}
}

// A command called without what it needs says so naming the command once,
// as scan's and timeline's words always did: the groups, rules check and
// watch said "graceguard: graceguard rules needs …".
func TestMissingArgumentsNameTheCommandOnce(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string // the whole of stderr
	}{
		{[]string{"rules"}, "graceguard: rules needs a subcommand: check or test\n"},
		{[]string{"rules", "check"}, "graceguard: rules check needs at least 1 FILE\n"},
		{[]string{"watch", "--state-dir", ""}, "graceguard: watch needs at least one PATH, GLOB or - for stdin, or --kube-selector or --kube-pod\n"},
		{[]string{"scan"}, "graceguard: scan needs at least one FILE (or - for stdin)\n"},
		{[]string{"timeline"}, "graceguard: timeline needs a USER (the DN an alert names, or a uid)\n"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			wantUsageError(t, tt.args, tt.want)
		})
	}
}

// A misspelt subcommand is named with the one meant, on the same line.
func TestGroupCommandSuggestsTheSubcommandMeant(t *testing.T) {
	t.Parallel()
	_, stderr, code := run(t, nil, "geo", "lokup")
	want := `graceguard: unknown command "lokup" for geo (did you mean lookup?)` + "\n"
	if code != exitUsage || stderr != want {
		t.Errorf("exit %d, stderr %q; want %d, %q", code, stderr, exitUsage, want)
	}
}

// A mistyped command is one graceguard: line, as every other usage error
// is, with the command meant on it: the root's was cobra's four lines
// ("\n\nDid you mean this?\n\tscan\n"), unlike the groups' one.
func TestUnknownCommandIsOneLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"scna"}, `graceguard: unknown command "scna" (did you mean scan?)`},
		{[]string{"scna", "--poll", "1s", "x.log"}, `graceguard: unknown command "scna" (did you mean scan?)`},
		{[]string{"--config", "", "wacth", "x.log"}, `graceguard: unknown command "wacth" (did you mean watch?)`},
		{[]string{"tim"}, `graceguard: unknown command "tim" (did you mean timeline?)`},
		{[]string{"s"}, `graceguard: unknown command "s" (did you mean scan or simulate?)`},
		{[]string{"frobnicate"}, `graceguard: unknown command "frobnicate"`},
		{[]string{"idp", "srve"}, `graceguard: unknown command "srve" for idp (did you mean serve?)`},
		{[]string{"rules", "chek", "x.yaml"}, `graceguard: unknown command "chek" for rules (did you mean check?)`},
		{[]string{"completion", "bsh"}, `graceguard: unknown command "bsh" for completion (did you mean bash, fish or zsh?)`},
		// A flag after the mistyped word was said to be unknown
		// ("unknown flag: --addr"): the group has none of the flags its
		// subcommands have; the word is what is wrong.
		{[]string{"idp", "srve", "--addr", "x"}, `graceguard: unknown command "srve" for idp (did you mean serve?)`},
		{[]string{"rules", "tset", "--foo"}, `graceguard: unknown command "tset" for rules (did you mean test?)`},
		{[]string{"geo", "lokup", "-x", "1.2.3.4"}, `graceguard: unknown command "lokup" for geo (did you mean lookup?)`},
		{[]string{"completion", "bsh", "--no-descriptions=maybe"}, `graceguard: unknown command "bsh" for completion (did you mean bash, fish or zsh?)`},
		{[]string{"idp", "frobnicate", "--config"}, `graceguard: unknown command "frobnicate" for idp`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			wantUsageError(t, tt.args, tt.want+"\n")
		})
	}
}

// A flag that is unknown where it is given is still said to be: on a real
// command, and on a group before any word.
func TestUnknownFlagIsStillNamed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "--nope", "x.log"}, "graceguard: unknown flag: --nope"},
		{[]string{"idp", "serve", "--nope"}, "graceguard: unknown flag: --nope"},
		{[]string{"rules", "test", "-z"}, "graceguard: unknown shorthand flag: 'z' in -z"},
		// A subcommand's arguments before the flag are not subcommands.
		{[]string{"rules", "test", "x.yaml", "--nope"}, "graceguard: unknown flag: --nope"},
		{[]string{"geo", "lookup", "1.2.3.4", "-x"}, "graceguard: unknown shorthand flag: 'x' in -x"},
		{[]string{"idp", "--nope", "serve"}, "graceguard: unknown flag: --nope"},
		{[]string{"--bogus", "scan"}, "graceguard: unknown flag: --bogus"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			wantUsageError(t, tt.args, tt.want+"\n")
		})
	}
}

// A stray argument is one graceguard: line naming the command once, the
// program's name only in the prefix: cobra's words quoted the whole path
// ("graceguard: \"graceguard version\" takes no arguments").
func TestStrayArgumentsNameTheCommandOnce(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string // the whole of stderr
	}{
		{[]string{"version", "x"}, `graceguard: version takes no arguments, got ["x"]` + "\n"},
		{[]string{"demo", "x", "y"}, `graceguard: demo takes no arguments, got ["x" "y"]` + "\n"},
		{[]string{"idp", "serve", "x"}, `graceguard: idp serve takes no arguments, got ["x"]` + "\n"},
		{[]string{"simulate", "x"}, `graceguard: simulate takes no arguments, got ["x"]` + "\n"},
		{[]string{"completion", "bash", "x"}, `graceguard: completion bash takes no arguments, got ["x"]` + "\n"},
		{[]string{"completion", "zsh", "x"}, `graceguard: completion zsh takes no arguments, got ["x"]` + "\n"},
		// cobra printed its help with "Unknown help topic" and exit 0.
		{[]string{"help", "scna"}, `graceguard: unknown help topic "scna" (did you mean scan?)` + "\n"},
		{[]string{"help", "idp", "srve"}, `graceguard: unknown help topic "idp srve" (did you mean idp serve?)` + "\n"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			wantUsageError(t, tt.args, tt.want)
		})
	}
	// A topic there is still gets its help.
	stdout, stderr, code := run(t, nil, "help", "idp", "serve")
	if code != exitOK || !strings.Contains(stdout, "graceguard idp serve") || stderr != "" {
		t.Errorf("help idp serve: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
