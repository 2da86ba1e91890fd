package idp

import (
	"fmt"
	"io"
	"log/slog"
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

// WithCopy returns a writer that appends each record to l and then writes
// a copy to w, which name names (idp serve's stdout). The file is the log
// that matters, the one a detector reads: io.MultiWriter would stop at a
// copy that fails (a closed pipe, a full disk) and lose every record from
// the file after it. Here the first failure of the copy is said once on
// diag, and the copy is written no more: a record half written to it
// would leave it torn anyway. Write's result is the file's alone. A nil
// diag is slog.Default(), as in Config.
func (l *LogFile) WithCopy(w io.Writer, name string, diag *slog.Logger) io.Writer {
	if diag == nil {
		diag = slog.Default()
	}
	return &copiedLog{file: l, copy: w, name: name, diag: diag}
}

type copiedLog struct {
	file *LogFile
	name string
	diag *slog.Logger

	mu   sync.Mutex
	copy io.Writer // nil once a write to it failed
}

func (c *copiedLog) Write(p []byte) (int, error) {
	// Under one lock, so that the copy has the file's order; the file
	// first, so that a copy that blocks (a reader that stopped reading
	// without closing) does not keep this record from it. The next
	// record waits for the lock all the same, and the server's requests
	// for their log lines: a stalled stdout stalls the IdP, as it did
	// through io.MultiWriter and as a console appender does. Only a copy
	// that fails is let go.
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.file.Write(p)
	if c.copy == nil {
		return n, err
	}
	if _, cerr := c.copy.Write(p); cerr != nil {
		c.copy = nil
		c.diag.Warn("writing the log's copy failed; the log goes on to its file alone",
			"copy", c.name, "file", c.file.Path(), "err", cerr)
	}
	return n, err
}
