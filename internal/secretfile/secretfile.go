// Package secretfile reads a secret (a password, token, HMAC key or
// webhook URL) from the file a *_file setting names, with one set of rules
// for every such setting, those Prometheus and Alertmanager follow: the
// value is the file's content with the white space around it trimmed, and
// an empty file is an error. It adds two of its own: a file larger than
// MaxSize is refused unread, and so is anything but a regular file or a
// pipe (a device or a terminal may never end). A pipe is what a shell's
// process substitution (--password-file <(pass show redis)) or /dev/stdin
// from a pipe names, which keeps a secret off the command line, the
// environment and the disk: it is read until its writer closes it, for
// pipeWait at most, so a FIFO nobody finishes writing cannot hang a start
// or a reload.
//
// It owns reading the file and nothing else: it must not print, log or
// interpret the content, and no error it returns holds any byte of it.
// Callers prefix the errors with the flag or key that named the file.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"
)

// MaxSize is the most a secret file may hold, in bytes: far more than any
// token, password, key or URL, and little enough that a mistaken path (a
// log, say) is refused after reading no more than this.
const MaxSize = 64 << 10

var (
	errEmpty      = errors.New("file is empty")
	errTooLarge   = fmt.Errorf("file is larger than %d KiB, the most a secret file may hold", MaxSize>>10)
	errNotRegular = errors.New("not a regular file")
	errPipeOpen   = errors.New("the pipe's writer did not close it")
)

// pipeWait bounds the wait for a pipe's writer to close it; a variable for
// the tests.
var pipeWait = 5 * time.Second

// errMissing does not name the path: where there is no file, the "path"
// may be the secret itself, written where its file's name belongs
// (password_file: hunter2).
var errMissing error = missingError{}

// errNoOpen is a path that names no file and could not be opened for
// another cause than its absence; it does not name the path either.
var errNoOpen = errors.New("cannot open (its path is not shown: it names no file, and may be the secret itself)")

type missingError struct{}

func (missingError) Error() string {
	return "no such file (its path is not shown: it may be the secret itself)"
}

func (missingError) Is(target error) bool { return target == fs.ErrNotExist }

// Read returns the content of the file at path with the white space
// around it trimmed. Errors name the path of a file that exists, and wrap
// the os error; they never hold the content, nor a path that names no
// file.
func Read(path string) (string, error) {
	// O_NONBLOCK: opening a FIFO returns at once instead of waiting for a
	// writer, perhaps forever (one with none reads as empty). Regular files
	// ignore the flag.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return "", errMissing
	}
	if err != nil {
		// Not only a missing file names none: a secret too long for a
		// file's name, or one with a slash whose start is a file, fails
		// otherwise. The os error holds the path: shown only when
		// something is there.
		if _, serr := os.Lstat(path); serr == nil {
			return "", err
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			return "", errNoOpen
		}
		return "", fmt.Errorf("%w: %w", errNoOpen, pe.Err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		// A terminal or a device may never end; Kubernetes Secrets,
		// Docker secrets and systemd credentials are regular files (behind
		// symbolic links, which are followed). A pipe is waited on for a
		// while, where the system can (not macOS's FIFOs: kqueue).
		if fi.Mode()&os.ModeNamedPipe == 0 || f.SetReadDeadline(time.Now().Add(pipeWait)) != nil {
			return "", fmt.Errorf("%s: %w (%s)", path, errNotRegular, kind(fi.Mode()))
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "", fmt.Errorf("%s: %w within %v", path, errPipeOpen, pipeWait)
	}
	if err != nil {
		return "", err
	}
	if len(b) > MaxSize {
		return "", fmt.Errorf("%s: %w", path, errTooLarge)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %w", path, errEmpty)
	}
	return s, nil
}

// kind names what a path that is not a regular file is.
func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.Type().String()
}
