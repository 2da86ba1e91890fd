package idp

import (
	"fmt"
	"os"
	"sync"
)

// LogFile is a log the IdP or its proxy appends to, which can be reopened
// at its path. A server that holds its log open keeps writing into it after
// logrotate renames it away; nginx, and OpenUnison's appenders, reopen on a
// signal, and Reopen is what the bundled stand-ins do on theirs.
//
// Logger and the proxy's access log hand it one whole record per Write, and
// Write and the swap in Reopen take the same lock: a record is written to
// the old file or to the new one, whole, never to both.
type LogFile struct {
	path string

	mu     sync.Mutex
	f      *os.File
	closed bool
}

// logFileFlags and logFilePerm are how a log is opened, first and again:
// appended to, made when missing.
const (
	logFileFlags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	logFilePerm  = 0o644
)

// OpenLogFile opens path for appending, making it when missing.
func OpenLogFile(path string) (*LogFile, error) {
	f, err := os.OpenFile(path, logFileFlags, logFilePerm)
	if err != nil {
		return nil, err
	}
	return &LogFile{path: path, f: f}, nil
}

// Path is the name the file was opened by, which Reopen opens again.
func (l *LogFile) Path() string { return l.path }

// Write appends p to the file currently open.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen opens the path again (made when missing, appended to when
// present) and writes go there from then on. When that fails (the
// directory is gone, permission) the file it had stays in use, so that no
// record is lost for a failed rotation, and the error names the path.
func (l *LogFile) Reopen() error {
	// Opened outside the lock: a slow filesystem must not hold the
	// requests that are logging meanwhile.
	f, err := os.OpenFile(l.path, logFileFlags, logFilePerm)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = f.Close()
		return fmt.Errorf("reopen %s: %w", l.path, os.ErrClosed)
	}
	old := l.f
	l.f = f
	l.mu.Unlock()
	if err := old.Close(); err != nil {
		return fmt.Errorf("close the log before %s was reopened: %w", l.path, err)
	}
	return nil
}

// Close closes the file; a Reopen after it fails.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return l.f.Close()
}
