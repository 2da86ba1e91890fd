// Command graceguard catches refresh-token replay in identity-provider logs.
//
// This package only parses flags and wires packages together: every command is
// an options struct, a constructor that binds flags to it, and a run function
// that can be tested without cobra. Detection logic lives in the packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	// OpenUnison's zone is named with --timezone; a sidecar image may have
	// no zoneinfo files, so carry the database in the binary.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(os.Stderr, err))
}

// Exit statuses, as DESIGN.md and the README promise.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// usageError marks a problem with how graceguard was called or configured
// (flags, arguments, configuration or rule files): exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// silentError carries an exit status for a failure that has already been
// reported to the user in full (for example by a summary), so main prints
// nothing more.
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var silent silentError
	if errors.As(err, &silent) {
		return silent.code
	}
	fmt.Fprintln(stderr, "graceguard:", err)
	var usage usageError
	// cobra reports an unknown command or subcommand as a plain error.
	if errors.As(err, &usage) || strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage
	}
	return exitRuntime
}
