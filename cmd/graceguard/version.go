package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; a plain
// `go build` or `go install` falls back to the module version Go recorded.
var version = ""

type versionOptions struct {
	io streams
}

func newVersionCmd(io streams, runF func(context.Context, *versionOptions) error) *cobra.Command {
	o := &versionOptions{io: io}
	if runF == nil {
		runF = runVersion
	}
	return &cobra.Command{
		Use:   "version",
		Short: "Print graceguard's version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runF(cmd.Context(), o)
		},
	}
}

func runVersion(_ context.Context, o *versionOptions) error {
	_, err := fmt.Fprintf(o.io.out, "graceguard %s %s %s/%s\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}

func buildVersion() string {
	info, _ := debug.ReadBuildInfo()
	return versionOf(version, info)
}

// versionOf names a build: the stamped version, else the module version Go
// recorded (`go install …@v1.2.3`, or a pseudo-version from git for `go
// build`), then the commit when Go recorded one the version does not
// already carry, marked +dirty for a modified work tree.
func versionOf(stamped string, info *debug.BuildInfo) string {
	v := stamped
	if v == "" && info != nil {
		v = info.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	if info == nil {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && !strings.Contains(v, rev) {
		v += " commit " + rev
		if dirty {
			v += "+dirty"
		}
	}
	return v
}

// noArgs is cobra.NoArgs with a usage error, so a stray argument exits 2.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", commandName(cmd), args)
	}
	return nil
}
