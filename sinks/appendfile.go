package sinks

import (
	"errors"
	"io/fs"
	"os"
)

// appendFile is a state file written by appending, as the sink journal
// and the delivery ledger are: opened at the first write, and again at the
// first write after close, so a state directory that failed (full,
// read-only) is written again once it is back.
type appendFile struct {
	path string
	f    *os.File
}

func (a *appendFile) write(b []byte) (int, error) {
	if a.f == nil {
		f, err := os.OpenFile(a.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return 0, err
		}
		a.f = f
	}
	return a.f.Write(b)
}

// isOpen reports whether something was written since the last close.
func (a *appendFile) isOpen() bool { return a.f != nil }

func (a *appendFile) sync() error { return a.f.Sync() }

func (a *appendFile) close() error {
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

// openIfExists opens path to read what an earlier run wrote; nil, nil
// when there is none yet.
func openIfExists(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return f, err
}
