package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/graceguard/graceguard/alert"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// FileFormat is how a File sink encodes alerts.
type FileFormat string

// The file formats.
const (
	FileJSON FileFormat = "json" // the alert JSON of README, one object per line
	FileECS  FileFormat = "ecs"  // Elastic Common Schema field names, for Elastic and other ECS-aware SIEMs
)

// parseFileFormat checks a file sink's format.
func parseFileFormat(s string) (FileFormat, error) {
	switch FileFormat(s) {
	case "":
		return FileJSON, nil
	case FileJSON, FileECS:
		return FileFormat(s), nil
	}
	return "", fmt.Errorf("unknown file format %q (want json or ecs)", s)
}

// FileOptions configure a File sink.
type FileOptions struct {
	Path   string
	Format FileFormat  // json by default
	Mode   os.FileMode // of a new file; 0640
}

// File appends alerts to a file as JSON lines, one write and one fsync per
// group, so a shipper (Filebeat, Vector, Fluent Bit) tailing it never sees
// half an event's alerts. When logrotate renames or removes the file, the
// next write creates it anew at Path.
type File struct {
	opt FileOptions
	mu  sync.Mutex
	f   *os.File
	fi  os.FileInfo
	// torn: the file ends in half a line (a kill -9 can cut a write to a
	// regular file short) that open could not cut off, so the next write
	// starts a new line rather than run into it.
	torn bool
}

// newFile opens (or creates) the file for appending.
func newFile(opt FileOptions) (*File, error) {
	if opt.Path == "" {
		return nil, errors.New("file sink: needs a path")
	}
	if opt.Format == "" {
		opt.Format = FileJSON
	}
	if _, err := parseFileFormat(string(opt.Format)); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	if opt.Mode == 0 {
		opt.Mode = 0o640
	}
	s := &File{opt: opt}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *File) open() error {
	if err := os.MkdirAll(filepath.Dir(s.opt.Path), 0o750); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	f, err := os.OpenFile(s.opt.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, s.opt.Mode)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file sink: %w", err)
	}
	s.f, s.fi = f, fi
	if keep, torn := wholeLines(s.opt.Path, fi.Size()); torn {
		// Half an alert, cut by a kill -9 mid-write: a reader of JSON lines
		// would choke on it, and the alert is written again whole (the
		// journal still has it queued), so the fragment goes. A shipper
		// tailing the file has read no further than the last newline
		// (they ship whole lines), so it sees no truncation.
		if err := f.Truncate(keep); err != nil {
			s.torn = true // cannot cut it: at least start a line of our own
		}
	}
	return nil
}

// wholeLines returns the size of the file at path without a last line
// that has no newline, and whether there was one.
func wholeLines(path string, size int64) (int64, bool) {
	if size == 0 {
		return 0, false
	}
	f, err := os.Open(path)
	if err != nil {
		return size, false
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		from := max(end-int64(len(buf)), 0)
		chunk := buf[:end-from]
		if _, err := f.ReadAt(chunk, from); err != nil {
			return size, false
		}
		if end == size && chunk[len(chunk)-1] == '\n' {
			return size, false
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return from + int64(i) + 1, true
		}
		end = from
	}
	return 0, true
}

// reopen follows a rotation: the path now names another file, or none.
func (s *File) reopen() error {
	fi, err := os.Stat(s.opt.Path)
	if err == nil && os.SameFile(fi, s.fi) {
		return nil
	}
	s.f.Close()
	return s.open()
}

// String names the sink.
func (s *File) String() string { return "file " + s.opt.Path + " (" + string(s.opt.Format) + ")" }

// Send implements Sink.
func (s *File) Send(_ context.Context, group []alert.Alert) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, a := range group {
		var err error
		if s.opt.Format == FileECS {
			err = enc.Encode(alert.ECS(a))
		} else {
			err = appendJSONLine(&buf, a)
		}
		if err != nil {
			return permanent(fmt.Errorf("file sink: encode alert %s: %w", a.ID, err))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("file sink: closed")
	}
	if err := s.reopen(); err != nil {
		return err
	}
	b := buf.Bytes()
	if s.torn {
		b = append([]byte{'\n'}, b...)
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	s.torn = false
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}

// tailWindow is how much of the file's end Holds reads: far more than the
// groups a crash can leave between a write and the journal's "done".
const tailWindow = 4 << 20

// Holds returns the ids among ids that the file already has in its last
// few MiB. The dispatcher asks it at start-up about the groups its journal
// says were being sent when the process died: what the file holds was
// written and is not written again, which makes the file sink
// exactly-once across kill -9 (each write is followed by an fsync, so
// across a power cut too). A file rotated away since is not looked in.
func (s *File) Holds(ids []string) (map[string]bool, error) {
	f, err := os.Open(s.opt.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("file sink: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	from := max(fi.Size()-tailWindow, 0)
	buf := make([]byte, fi.Size()-from)
	if _, err := f.ReadAt(buf, from); err != nil {
		return nil, fmt.Errorf("file sink: read its tail: %w", err)
	}
	// Only whole lines count: a line cut short by a kill holds its id (the
	// first key) but not the alert, which must be written again.
	buf = buf[:bytes.LastIndexByte(buf, '\n')+1]
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	// One pass over the tail, however many ids are asked about: a crash
	// with thousands queued must not cost thousands of scans at start-up.
	held := map[string]bool{}
	key := []byte(`"id":"`)
	for rest := buf; ; {
		i := bytes.Index(rest, key)
		if i < 0 {
			break
		}
		rest = rest[i+len(key):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 && want[string(rest[:j])] {
			held[string(rest[:j])] = true
		}
	}
	return held, nil
}

// sendDigest writes many queued groups with one write and one fsync: when
// alerts come faster than the disk syncs, the dispatcher hands the file a
// batch of groups, and the file keeps up instead of filling its queue.
func (s *File) sendDigest(ctx context.Context, groups [][]alert.Alert) error {
	var all []alert.Alert
	for _, g := range groups {
		all = append(all, g...)
	}
	return s.Send(ctx, all)
}

// Close implements Sink.
func (s *File) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// FileConfig is a file entry of the sinks: list.
type FileConfig struct {
	Path   string
	Format FileFormat
}

func (f *FileConfig) keys(*Config) map[string]setting {
	return map[string]setting{
		"path": strField(&f.Path),
		"format": {set: func(d *decoder, n *yaml.Node, path string) {
			if s, ok := d.str(n, path); ok {
				format, err := parseFileFormat(s)
				if err != nil {
					d.errf(n, path, "%v", err)
					return
				}
				f.Format = format
			}
		}},
	}
}

func (f *FileConfig) validate() []string {
	if f.Path == "" {
		return []string{"needs a path"}
	}
	return nil
}

func (f *FileConfig) newSink() (Sink, error) {
	return newFile(FileOptions{Path: f.Path, Format: f.Format})
}

type fileFlags struct{ path, format string }

func (f *fileFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.path, "alerts-file", "", "append alerts as JSON lines to `FILE`")
	fs.StringVar(&f.format, "alerts-format", "json", "format of --alerts-file: json or ecs (Elastic Common Schema)")
}

func (f *fileFlags) configs(minSev alert.Severity) ([]Config, []string) {
	if f.path == "" {
		return nil, nil
	}
	format, err := parseFileFormat(f.format)
	if err != nil {
		// The format's own flag: --alerts-file was given right.
		return nil, []string{"--alerts-format: " + err.Error()}
	}
	return []Config{{Type: TypeFile, Name: "alerts-file", Origin: "--alerts-file", MinSeverity: minSev,
		Sink: &FileConfig{Path: f.path, Format: format}}}, nil
}
