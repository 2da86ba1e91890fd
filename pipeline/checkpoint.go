package pipeline

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/durable"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// The state directory holds two files:
//
//   - checkpoint.gob: positions, history, waiting events, throttles and sent
//     alert ids, written together (temp file, fsync, rename) every few
//     seconds and on shutdown, so they always agree with each other;
//   - sent.log: alert ids appended (and synced) the moment a sink took
//     them, so a kill -9 between two checkpoints does not send them again
//     when the lines after the checkpoint are read once more.
const (
	checkpointFile    = "checkpoint.gob"
	sentLogFile       = "sent.log"
	checkpointVersion = 1
)

// checkpoint is the file's first gob value; Users user records follow it,
// streamed one by one so a large history is never copied whole.
type checkpoint struct {
	Version    int
	Written    time.Time
	Positions  []source.Position
	Store      correlate.MemorySnapshot // without its users
	Users      int
	Correlator correlate.CorrelatorSnapshot
	Held       []parser.Event
	Throttle   rules.ThrottleSnapshot
	Sent       []string
	// Attribution is what waits for a proxy record and what was learned;
	// absent from checkpoints older than attribution (gob leaves it zero).
	Attribution attribute.Snapshot
}

// load restores the checkpoint and the sent-id log, if any.
func (w *Watcher) load() error {
	if err := os.MkdirAll(w.opt.StateDir, 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(w.opt.StateDir, checkpointFile)
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read checkpoint: %w", err)
	default:
		var cp checkpoint
		dec := gob.NewDecoder(bufio.NewReader(f))
		err := dec.Decode(&cp)
		if err == nil && cp.Version != checkpointVersion {
			err = fmt.Errorf("version %d, want %d", cp.Version, checkpointVersion)
		}
		if err == nil {
			err = w.restoreHistory(cp, dec)
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("checkpoint %s is damaged (move it away to start afresh): %w", path, err)
		}
		w.restored = cp.Positions
		w.det.correlator.Restore(cp.Correlator)
		w.det.engine.Restore(cp.Throttle)
		w.attr.Restore(cp.Attribution, w.opt.now())
		for _, ev := range cp.Held {
			w.held = append(w.held, heldEvent{ev: ev, arrived: w.opt.now()})
			if u := correlate.UserOf(&ev); ev.Kind == parser.KindGraceReuse {
				if t, ok := w.heldFrom[u]; !ok || ev.Time.Before(t) {
					w.heldFrom[u] = ev.Time
				}
			}
		}
		for _, id := range cp.Sent {
			w.sent.Add(id)
		}
		w.log.Info("checkpoint loaded", "written", cp.Written, "files", len(cp.Positions), "users", len(cp.Store.Users))
	}
	return w.loadSentLog()
}

// restoreHistory reads the users that follow the checkpoint's first value
// into the local history; without one (a store that is all shared) they
// are read and dropped.
func (w *Watcher) restoreHistory(cp checkpoint, dec *gob.Decoder) error {
	if w.local != nil {
		w.local.Restore(cp.Store)
	}
	for range cp.Users {
		var us correlate.UserSnapshot
		if err := dec.Decode(&us); err != nil {
			return err
		}
		if w.local != nil {
			w.local.AddUser(us)
		}
	}
	return nil
}

func (w *Watcher) loadSentLog() error {
	data, err := os.ReadFile(filepath.Join(w.opt.StateDir, sentLogFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read sent alert ids: %w", err)
	}
	for _, id := range strings.Fields(string(data)) {
		w.sent.Add(id)
	}
	return nil
}

// logSent appends delivered ids to the sent log and syncs it.
func (w *Watcher) logSent(group []alert.Alert) error {
	if w.opt.StateDir == "" {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(w.opt.StateDir, sentLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("record sent alerts: %w", err)
	}
	var b strings.Builder
	for _, a := range group {
		b.WriteString(a.ID)
		b.WriteByte('\n')
	}
	_, err = f.WriteString(b.String())
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// checkpoint writes positions and state atomically, then empties the sent
// log, whose ids the checkpoint now holds.
func (w *Watcher) checkpoint() error {
	if w.opt.StateDir == "" {
		return nil
	}
	w.lastCP = w.opt.now()
	cp := checkpoint{
		Version: checkpointVersion, Written: w.lastCP,
		Correlator: w.det.correlator.Snapshot(), Throttle: w.det.engine.Snapshot(), Sent: w.sent.List(),
		Attribution: w.attr.Snapshot(),
	}
	if w.local != nil {
		cp.Store, cp.Users = w.local.SnapshotWithoutUsers(), w.local.Stats().Users
	}
	for _, h := range w.held {
		cp.Held = append(cp.Held, h.ev)
	}
	for _, s := range w.streams {
		if s.id.Ino == 0 && s.id.Fingerprint == "" {
			continue // stdin cannot be resumed
		}
		cp.Positions = append(cp.Positions, s.resumePosition())
	}
	// Files not seen this run keep their old positions until they are.
	for _, p := range w.restored {
		if !w.following(p) {
			cp.Positions = append(cp.Positions, p)
		}
	}
	err := durable.WriteFile(filepath.Join(w.opt.StateDir, checkpointFile), 0o640, func(f io.Writer) error {
		bw := bufio.NewWriter(f)
		enc := gob.NewEncoder(bw)
		if err := enc.Encode(&cp); err != nil {
			return err
		}
		n := 0
		var err error
		if w.local != nil {
			err = w.local.EachUser(func(us correlate.UserSnapshot) error {
				n++
				return enc.Encode(&us)
			})
		}
		if err == nil && n != cp.Users {
			err = fmt.Errorf("the history changed while it was written (%d users, %d announced)", n, cp.Users)
		}
		if err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		err = fmt.Errorf("checkpoint: %w", err)
	} else {
		err = os.Truncate(filepath.Join(w.opt.StateDir, sentLogFile), 0)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	if m := w.opt.Metrics; m != nil {
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.Checkpoints.WithLabelValues(result).Inc()
	}
	return err
}

func (w *Watcher) following(p source.Position) bool {
	for _, s := range w.streams {
		if sameStream(s.id, p.ID) {
			return true
		}
	}
	return false
}
