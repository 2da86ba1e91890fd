package sinks

import (
	"context"
	"encoding/json"
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
	enc *json.Encoder
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer, opt WriterOptions) *Writer {
	if opt.Format == "" {
		opt.Format = FormatText
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &Writer{w: w, opt: opt, enc: enc}
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
			err = s.enc.Encode(a)
		} else {
			err = alert.WriteText(s.w, a, alert.TextOptions{Color: s.opt.Color})
		}
		if err != nil {
			return fmt.Errorf("write alert: %w", err)
		}
	}
	return nil
}

// Close implements Sink; the Writer does not own w.
func (s *Writer) Close(context.Context) error { return nil }
