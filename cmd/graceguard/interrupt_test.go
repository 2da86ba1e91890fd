package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// A scan a signal stops says so in words and exits as the shell reports a
// process the signal ended (128 + the signal), not "context canceled" and
// 1, a runtime failure's.
func TestScanStoppedBySignal(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{
		{syscall.SIGINT, 130, "SIGINT (Ctrl-C)"},
		{syscall.SIGTERM, 143, "SIGTERM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "GRACEGUARD_RUN_MAIN=1", "GRACEGUARD_ARGS=scan --format json -")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Written whole only once the scan has read all but a pipe's
			// buffer of it: it is running, its signal handler in place.
			line := "[2026-11-23 10:00:00,000][main] INFO  Startup - a line of noise, long enough to fill a pipe soon\n"
			if _, err := in.Write([]byte(strings.Repeat(line, 4<<20/len(line)))); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			in.Close()
			code := cmd.ProcessState.ExitCode()
			msg := strings.TrimSpace(stderr.String())
			last := msg[strings.LastIndexByte(msg, '\n')+1:]
			if code != tt.code || last != "graceguard: stopped by "+tt.name+" before it was done" {
				t.Errorf("exit %d (%v), last line %q; want exit %d and the signal named", code, err, last, tt.code)
			}
			if strings.Contains(msg, "context canceled") {
				t.Errorf("stderr says %q", msg)
			}
		})
	}
}

// A scan stopped by a signal still says what else went wrong: a file that
// could not be read was dropped with the "context canceled" it was joined
// to, and the run ended as if every file had been read.
func TestStoppedBySignalKeepsOtherErrors(t *testing.T) {
	repoRoot(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interruptedError{syscall.SIGINT})
	var out, errOut bytes.Buffer
	cmd := newRootCmd(strings.NewReader(""), &out, &errOut)
	cmd.SetArgs([]string{"scan", "-q", "does-not-exist.log", "testdata/openunison/sample.log"})
	code := exitCode(&errOut, signalled(ctx, cmd.ExecuteContext(ctx)))
	msg := errOut.String()
	if code != 130 || !strings.Contains(msg, "cannot read does-not-exist.log") ||
		!strings.Contains(msg, "stopped by SIGINT (Ctrl-C) before it was done") || strings.Contains(msg, "context canceled") {
		t.Errorf("exit %d, stderr:\n%s\nwant 130, the unread file and the signal named", code, msg)
	}
	// Nested joins (scan's own error and a failed write of the alerts).
	write := errors.New("write alerts: disk full")
	err := signalled(ctx, errors.Join(fmt.Errorf("read -: %w", context.Canceled), errors.Join(context.Canceled, write)))
	if !errors.Is(err, write) || errors.Is(err, context.Canceled) {
		t.Errorf("signalled: %v; want the write error kept and the cancellation gone", err)
	}
}

// A timeline a signal stops prints what it judged and says what it did
// not, as scan does: it returned at the cancellation and printed nothing,
// not even that nothing was judged, so an interrupted timeline read as a
// user with no history.
func TestTimelineStoppedBySignalSaysWhatItJudged(t *testing.T) {
	repoRoot(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interruptedError{syscall.SIGTERM})
	var out, errOut bytes.Buffer
	cmd := newRootCmd(strings.NewReader(""), &out, &errOut)
	cmd.SetArgs([]string{"timeline", "jjackson", "testdata/openunison/sample.log"})
	code := exitCode(&errOut, signalled(ctx, cmd.ExecuteContext(ctx)))
	msg := errOut.String()
	if code != 143 || !strings.Contains(msg, "graceguard: nothing was judged: interrupted (SIGINT or SIGTERM) before any record was judged") ||
		!strings.Contains(msg, "stopped by SIGTERM before it was done") || strings.Contains(msg, "context canceled") {
		t.Errorf("exit %d, stderr:\n%s\nwant 143, nothing judged said and the signal named", code, msg)
	}
	if !strings.Contains(out.String(), "no refresh, reuse, refusal or login of jjackson") {
		t.Errorf("stdout %q: want the (empty) timeline printed", out.String())
	}
}
