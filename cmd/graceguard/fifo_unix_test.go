//go:build unix

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A named pipe no writer opens: opening it waits in open(2), and SIGTERM
// (the context) must end the wait, where only SIGKILL did. The other
// inputs are still opened.
func TestOpenInputsGivesUpAPipeWithNoWriter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pod.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	other := filepath.Join(dir, "other.log")
	if err := os.WriteFile(other, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		inputs []*input
		errs   []error
	}
	done := make(chan result, 1)
	go func() {
		inputs, _, _, errs := openInputs(ctx, []string{fifo, other}, streams{})
		done <- result{inputs, errs}
	}()
	cancel()
	select {
	case r := <-done:
		closeInputs(r.inputs)
		if len(r.inputs) != 1 || r.inputs[0].name != other {
			t.Errorf("opened %d inputs, want %s", len(r.inputs), other)
		}
		if len(r.errs) != 1 || !errors.Is(r.errs[0], context.Canceled) || !strings.Contains(r.errs[0].Error(), fifo) {
			t.Errorf("errors %v: want one naming %s, with the context's", r.errs, fifo)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("opening a pipe with no writer did not end when the context did")
	}
}
