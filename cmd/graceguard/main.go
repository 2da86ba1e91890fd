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
	ctx, stop := stopOnSignal(context.Background())
	err := newRootCmd(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(os.Stderr, signalled(ctx, err)))
}

// stopOnSignal returns a context cancelled by the first SIGINT or SIGTERM,
// with an interruptedError as its cause. The signal is then let go: a
// second Ctrl-C ends the process at once, as a user pressing it again
// means (watch's checkpoints survive a kill; see README).
func stopOnSignal(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			sig, _ := s.(syscall.Signal)
			cancel(interruptedError{sig})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// interruptedError is a run a signal stopped before it was done (a scan, a
// timeline): what it had judged was printed, the rest was not. Its exit
// status is the shell's for a process a signal ended, 128 + the signal.
type interruptedError struct{ sig syscall.Signal }

func (e interruptedError) Error() string {
	return fmt.Sprintf("stopped by %s before it was done", signalName(e.sig))
}

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT (Ctrl-C)"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// signalled turns the context's cancellation that err reports into the
// signal that caused it: "context canceled" means nothing to a user. The
// run's other failures joined to it (a file that could not be read, alerts
// that could not be written) are still said: replacing the whole error
// would hide them.
func signalled(ctx context.Context, err error) error {
	var in interruptedError
	if !errors.Is(err, context.Canceled) || !errors.As(context.Cause(ctx), &in) {
		return err
	}
	return errors.Join(append(notCanceled(err), in)...)
}

// notCanceled flattens err's joined errors, leaving out those that are the
// context's cancellation.
func notCanceled(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, notCanceled(e)...)
		}
		return out
	}
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return []error{err}
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
	fmt.Fprintln(stderr, programName+":", inlineSuggestions(err.Error()))
	var in interruptedError
	if errors.As(err, &in) {
		return 128 + int(in.sig)
	}
	var usage usageError
	// cobra reports an unknown command or subcommand as a plain error.
	if errors.As(err, &usage) || strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage
	}
	return exitRuntime
}
