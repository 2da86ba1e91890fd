package sinks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/graceguard/graceguard/alert"
)

// deadLetter appends the alerts a sink gave up on to a JSON lines file, one
// alert per line with why, so an operator can read, grep or re-send them:
//
//	{"time":"…","sink":"slack","reason":"max_age","error":"HTTP 503 …","queued":"…","attempts":41,"alert":{…}}
//
// Reasons: permanent (the receiver refused this alert for good), max_age,
// queue_full, sink_removed (queued for a sink no longer configured),
// shutdown (still queued at exit without a state directory).
type deadLetter struct {
	path string
	out  appendFile // at path
	log  *slog.Logger
	now  func() time.Time
}

type deadLetterLine struct {
	Time     string      `json:"time"`
	Sink     string      `json:"sink"`
	Reason   string      `json:"reason"`
	Error    string      `json:"error,omitempty"`
	Queued   string      `json:"queued"`
	Attempts int         `json:"attempts"`
	Alert    alert.Alert `json:"alert"`
}

// write records the item's alerts. When the file cannot be written (or none is
// configured) each line goes to the log at error level instead: an alert
// is never dropped without a trace.
func (dl *deadLetter) write(sink string, it *item, reason, cause string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	now := dl.now().UTC().Format(alert.TimeFormat)
	for _, a := range it.Alerts {
		line := deadLetterLine{Time: now, Sink: sink, Reason: reason, Error: cause,
			Queued: it.Queued.UTC().Format(alert.TimeFormat), Attempts: it.Attempts, Alert: a}
		if err := enc.Encode(line); err != nil {
			dl.log.Error("dead letter (cannot encode)", "sink", sink, "reason", reason, "alert_id", a.ID, "err", err)
		}
	}
	err := dl.append(buf.Bytes())
	if err == nil {
		return
	}
	if dl.path != "" {
		dl.log.Error("cannot write the dead-letter file; logging the alerts instead", "path", dl.path, "err", err)
	}
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		dl.log.Error("dead letter", "sink", sink, "reason", reason, "line", string(line))
	}
}

var errNoDeadLetterFile = errors.New("no dead-letter file configured")

func (dl *deadLetter) append(b []byte) error {
	if dl.path == "" {
		return errNoDeadLetterFile
	}
	if !dl.out.isOpen() {
		if err := os.MkdirAll(filepath.Dir(dl.path), 0o750); err != nil {
			return err
		}
	}
	if _, err := dl.out.write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return dl.out.sync()
}

func (dl *deadLetter) close() error { return dl.out.close() }
