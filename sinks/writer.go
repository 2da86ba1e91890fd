package sinks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/graceguard/graceguard/alert"
)

// Format is how a Writer encodes alerts.
type Format string

// The formats.
const (
	FormatText Format = "text" // one line a person reads
	FormatJSON Format = "json" // one JSON object per line, DESIGN.md's keys
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case FormatText, FormatJSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown format %q (want text or json)", s)
}

// WriterOptions configure a Writer.
type WriterOptions struct {
	Format      Format
	Color       bool           // ANSI colours in the text format
	MinSeverity alert.Severity // alerts below it are not written
}

// Writer writes alerts to an io.Writer: stdout for scan and watch, or a file.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	opt WriterOptions
	buf []byte // a JSON line, reused
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer, opt WriterOptions) *Writer {
	if opt.Format == "" {
		opt.Format = FormatText
	}
	return &Writer{w: w, opt: opt}
}

// Send implements Sink.
func (s *Writer) Send(_ context.Context, group []alert.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range group {
		if a.Severity < s.opt.MinSeverity {
			continue
		}
		var err error
		if s.opt.Format == FormatJSON {
			err = s.writeJSON(a)
		} else {
			err = alert.WriteText(s.w, a, alert.TextOptions{Color: s.opt.Color})
		}
		if err != nil {
			return fmt.Errorf("write alert: %w", err)
		}
	}
	return nil
}

// writeJSON writes a's JSON line in one write.
func (s *Writer) writeJSON(a alert.Alert) error {
	buf := bytes.NewBuffer(s.buf[:0])
	if err := appendJSONLine(buf, a); err != nil {
		return err
	}
	s.buf = buf.Bytes()
	_, err := s.w.Write(s.buf)
	return err
}

// appendJSONLine appends a's JSON object and a newline to buf: the bytes a
// json.Encoder with HTML left unescaped writes, without its second pass.
// An Encoder re-reads what a MarshalJSON method returns (it compacts it):
// on a log with a replay in every third line that pass was 14% of a
// scan's CPU (README, Performance).
func appendJSONLine(buf *bytes.Buffer, a alert.Alert) error {
	b, err := a.AppendJSON(buf.AvailableBuffer())
	if err != nil {
		return err
	}
	buf.Write(append(b, '\n'))
	return nil
}

// Close implements Sink; the Writer does not own w.
func (s *Writer) Close(context.Context) error { return nil }
