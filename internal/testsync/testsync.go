// Package testsync holds what tests need to watch concurrent code from the
// outside: a buffer a goroutine may write while the test reads it, and a
// wait for a condition to come true. It is for tests only; it must not grow
// into a grab-bag of helpers.
package testsync

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe to read while another goroutine writes it
// (a command's stdout, a logger's destination).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Patience is how long WaitFor waits: long enough for a loaded CI machine,
// short enough that a hung test says so. 15 s was exceeded by tests that
// pass alone in a second or two with the machine's load at 17-20 (several
// full suites at once on two cores); a passing test never waits it out.
const Patience = 30 * time.Second

// WaitFor polls cond until it holds, failing the test after Patience.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
