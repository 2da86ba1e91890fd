package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// numberFlag is one float or duration flag of one command.
type numberFlag struct {
	path []string // the command's words after graceguard
	flag *pflag.Flag
}

// numberFlags walks the command tree for its float and duration flags, so
// a flag added later is in the table below without a word.
func numberFlags(root *cobra.Command) []numberFlag {
	var out []numberFlag
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			switch f.Value.Type() {
			case "float32", "float64", "duration":
				out = append(out, numberFlag{path, f})
			}
		})
		for _, sub := range c.Commands() {
			walk(sub, append(slices.Clip(path), sub.Name()))
		}
	}
	walk(root, nil)
	return out
}

// Every float and duration flag of every command refuses a value no
// setting can mean (NaN, an infinity, a negative amount) as a usage error:
// exit 2 and one line naming the flag, in words, before the command runs.
// simulate --rate NaN exited 1 with the simulator's "NaN operations a
// second", and --every Inf spoke Go ("time: invalid duration").
func TestNumberFlagsRefuseWhatNoSettingMeans(t *testing.T) {
	t.Parallel()
	// What each command needs besides the flag to get as far as running.
	args := map[string][]string{"scan": {"x.log"}, "timeline": {"mmosley", "x.log"}, "watch": {"x.log"}}
	bad := map[string][]string{
		"float64":  {"NaN", "nan", "+Inf", "-Inf", "inf", "1e400", "-1", "-0.5"},
		"duration": {"NaN", "+Inf", "Inf", "-1s", "-1ns"},
	}
	bad["float32"] = bad["float64"]
	flags := numberFlags(newRootCmd(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}))
	// The table is not empty by accident: the flags of the defect reported.
	for _, want := range []string{"simulate --rate", "simulate --race", "simulate --every", "watch --poll", "idp serve --grace"} {
		if !slices.ContainsFunc(flags, func(f numberFlag) bool { return strings.Join(f.path, " ")+" --"+f.flag.Name == want }) {
			t.Errorf("%s is not among the flags walked", want)
		}
	}
	for _, f := range flags {
		for _, v := range bad[f.flag.Value.Type()] {
			words := append(append(slices.Clone(f.path), "--"+f.flag.Name+"="+v), args[strings.Join(f.path, " ")]...)
			t.Run(strings.Join(words, " "), func(t *testing.T) {
				t.Parallel()
				stderr, code, ran := runStubbed(t, words...)
				want := "graceguard: --" + f.flag.Name + ": "
				if code != exitUsage || ran || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
					t.Errorf("exit %d (ran: %v), stderr %q; want exit %d before running and one line starting %q",
						code, ran, stderr, exitUsage, want)
				}
				for _, goSpeak := range []string{"strconv.", "time: ", "invalid argument", "invalid syntax", "out of range"} {
					if strings.Contains(stderr, goSpeak) {
						t.Errorf("stderr speaks Go (%q): %s", goSpeak, stderr)
					}
				}
			})
		}
	}
}

// Values at the edge of what the float flags take are still taken.
func TestNumberFlagsTakeTheirRange(t *testing.T) {
	t.Parallel()
	for _, words := range [][]string{
		{"simulate", "--rate", "0"},
		{"simulate", "--rate", "-0"},
		{"simulate", "--rate", "2.5e3"},
		{"simulate", "--race", "0", "--replay", "0", "--outside-grace", "1"},
		{"watch", "--proxy-clock-skew", "0s", "x.log"},
	} {
		t.Run(strings.Join(words, " "), func(t *testing.T) {
			t.Parallel()
			if stderr, code, ran := runStubbed(t, words...); code != exitOK || !ran {
				t.Errorf("exit %d (ran: %v), stderr %q; want the command run", code, ran, stderr)
			}
		})
	}
}

// runStubbed runs args through the whole command tree with every command
// that serves, dials or reads replaced by a stub, and says whether a stub
// ran.
func runStubbed(t *testing.T, args ...string) (stderr string, code int, ran bool) {
	t.Helper()
	stub := func(context.Context) error { ran = true; return nil }
	var out, errOut bytes.Buffer
	root := newRootCmdWith(strings.NewReader(""), &out, &errOut, runners{
		scan:     func(ctx context.Context, _ *scanOptions) error { return stub(ctx) },
		watch:    func(ctx context.Context, _ *watchOptions) error { return stub(ctx) },
		timeline: func(ctx context.Context, _ *timelineOptions) error { return stub(ctx) },
		demo:     func(ctx context.Context, _ *demoOptions) error { return stub(ctx) },
		simulate: func(ctx context.Context, _ *simulateOptions) error { return stub(ctx) },
		idpServe: func(ctx context.Context, _ *idpServeOptions) error { return stub(ctx) },
	})
	root.SetArgs(args)
	code = exitCode(&errOut, root.ExecuteContext(context.Background()))
	return errOut.String(), code, ran
}
