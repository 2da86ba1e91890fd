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
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/durable"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/sinks"
	"github.com/graceguard/graceguard/source"
)

// The state directory holds:
//
//   - checkpoint.gob: positions, history, waiting events and throttles,
//     written together (temp file, fsync, rename) every few seconds and on
//     shutdown, so they always agree with each other;
//   - checkpoint.gob.prev: the one before it, the fall-back when the newest
//     is damaged (a disk that lies about fsync, a hand edit);
//   - delivery.ledger: the ids of alerts sent (sinks.Ledger), written before
//     an alert leaves and kept apart from the checkpoint, so losing a
//     checkpoint never sends an alert again.
//
// A state directory that cannot be written (full, read-only) stops nothing:
// alerts keep flowing, the checkpoint is retried with a growing wait, the
// failures are counted, and /readyz says why it is not ready.
const (
	checkpointFile     = "checkpoint.gob"
	prevCheckpointFile = checkpointFile + ".prev"
	legacySentLogFile  = "sent.log" // ids before the ledger; read once, then removed
	checkpointVersion  = 1
)

// checkpointState is how the checkpoint's writes are going.
type checkpointState struct {
	err      error     // the last write's error
	failures int       // consecutive
	retryAt  time.Time // no write before
	// why is err's text for /readyz, read from the ops server's goroutine;
	// "" when the last write succeeded.
	why atomic.Pointer[string]
}

// checkpointBackoffMax caps the wait between failing checkpoint writes.
const checkpointBackoffMax = time.Minute

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

// openLedger opens the delivery ledger in the state directory (or in
// memory without one) and reads the ids an older version left in sent.log.
func (w *Watcher) openLedger() error {
	path := ""
	if w.opt.StateDir != "" {
		if err := os.MkdirAll(w.opt.StateDir, 0o750); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		path = filepath.Join(w.opt.StateDir, sinks.LedgerFile)
		// What a kill -9 mid-replacement left: as large as the file each.
		if n := durable.RemoveTemps(path) + durable.RemoveTemps(filepath.Join(w.opt.StateDir, checkpointFile)); n > 0 {
			w.log.Info("removed temporary files a stop mid-write left in the state directory", "files", n)
		}
	}
	l, err := sinks.OpenLedger(sinks.LedgerOptions{Path: path, Capacity: w.opt.MaxSentIDs, Claims: w.opt.Claims, Logger: w.log})
	if err != nil {
		return err
	}
	w.ledger = l
	if path == "" {
		return nil
	}
	legacy := filepath.Join(w.opt.StateDir, legacySentLogFile)
	if data, err := os.ReadFile(legacy); err == nil {
		ids := strings.Fields(string(data))
		l.Remember(ids...)
		if l.Record(idsAsAlerts(ids)) == nil && l.Sync() == nil {
			os.Remove(legacy)
		}
	}
	return nil
}

func idsAsAlerts(ids []string) []alert.Alert {
	out := make([]alert.Alert, len(ids))
	for i, id := range ids {
		out[i].ID = id
	}
	return out
}

// loaded is a checkpoint read whole, before any of it is applied, so a
// damaged file leaves nothing half restored for the fall-back to inherit.
type loaded struct {
	cp    checkpoint
	users []correlate.UserSnapshot
}

// load restores the newest checkpoint that reads whole: checkpoint.gob, or
// the one before it when that is damaged, or none (logged) when both are.
// Only a directory that cannot be read at all is an error; a damaged file
// never stops the watcher, and the ledger still keeps it from sending an
// alert twice.
func (w *Watcher) load() error {
	var damaged []error
	for _, name := range []string{checkpointFile, prevCheckpointFile} {
		path := filepath.Join(w.opt.StateDir, name)
		l, err := readCheckpoint(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			// Set aside, for a person to look at, and so the next checkpoint
			// does not make it the previous one in place of a good one.
			aside := path + ".damaged"
			w.log.Error("checkpoint is damaged; trying the one before it", "path", path, "moved_to", aside, "err", err)
			os.Rename(path, aside)
			damaged = append(damaged, err)
			continue
		}
		if len(damaged) > 0 {
			w.log.Warn("resuming from the previous checkpoint: lines after it are read again, alerts already sent are not sent again", "path", path)
		}
		w.apply(l)
		return nil
	}
	if len(damaged) > 0 {
		w.log.Error("no checkpoint could be read; starting afresh (the delivery ledger still holds the alerts sent)", "err", errors.Join(damaged...))
	}
	return nil
}

func readCheckpoint(path string) (loaded, error) {
	f, err := os.Open(path)
	if err != nil {
		return loaded{}, err
	}
	defer f.Close()
	var l loaded
	dec := gob.NewDecoder(bufio.NewReader(f))
	if err := dec.Decode(&l.cp); err != nil {
		return loaded{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if l.cp.Version != checkpointVersion {
		return loaded{}, fmt.Errorf("checkpoint %s: version %d, want %d", path, l.cp.Version, checkpointVersion)
	}
	if l.cp.Users < 0 {
		return loaded{}, fmt.Errorf("checkpoint %s: %d users follow, a count below zero", path, l.cp.Users)
	}
	l.users = make([]correlate.UserSnapshot, 0, min(l.cp.Users, 1<<16))
	for range l.cp.Users {
		var us correlate.UserSnapshot
		if err := dec.Decode(&us); err != nil {
			return loaded{}, fmt.Errorf("checkpoint %s: user %d of %d: %w", path, len(l.users)+1, l.cp.Users, err)
		}
		l.users = append(l.users, us)
	}
	return l, nil
}

func (w *Watcher) apply(l loaded) {
	cp := l.cp
	if w.local != nil {
		w.local.Restore(cp.Store)
		for _, us := range l.users {
			w.local.AddUser(us)
		}
	}
	w.restored, w.restoredAt = cp.Positions, cp.Written
	w.noteUnseen(cp.Positions, cp.Correlator.Pending, cp.Held)
	w.det.correlator.Restore(cp.Correlator)
	w.det.engine.Restore(cp.Throttle)
	w.detCounted = w.detectorCountsNow()
	w.attr.Restore(cp.Attribution, w.opt.now())
	w.restoreUnjudged(cp.Held)
	w.ledger.Remember(cp.Sent...) // a checkpoint from before the ledger
	w.log.Info("checkpoint loaded", "written", cp.Written, "files", len(cp.Positions), "users", len(cp.Store.Users)+len(l.users))
}

// restoreUnjudged puts back the events a checkpoint holds that were read
// and not yet judged (held for a shared store, or waiting in the merge) as
// a source of their own that has ended: the merge judges them in log order
// with what this run reads again from the saved positions, which can be
// their own replay's next line. Put aside to be judged after it, a reuse
// read again met none of the refreshes read before it and raised nothing
// (single replays lost in the rotation torture).
func (w *Watcher) restoreUnjudged(evs []parser.Event) {
	if len(evs) == 0 {
		return
	}
	evs = slices.Clone(evs)
	slices.SortStableFunc(evs, func(a, b parser.Event) int { return eventOrder(&a, &b) })
	w.ending = append(w.ending, &stream{key: "checkpoint", queue: evs})
	w.queued += len(evs)
}

// maxDrained bounds the drained files' positions a checkpoint keeps.
const maxDrained = 16

// noteDrained keeps where a file that ended was read to. The follower reads
// rotated generations one after the other and opens the next only once the
// one before has drained; a checkpoint taken in between, without the
// drained one's position, named no file before the one at the path, and
// the next start skipped the generations still to read. Kept, it tells the
// next start that every generation newer than it is unfinished; a
// generation older than a newer position is skipped as finished all the
// same, so keeping a few more is harmless.
func (w *Watcher) noteDrained(s *stream) {
	if s.id.Ino == 0 || s.cursors.last.cur != "" {
		return // not a file resumed by offset (stdin, a container's log)
	}
	if !s.read {
		// A file gone before this start, said once: its position kept
		// would make the next start say it again.
		return
	}
	w.drained = append(w.drained, s.resumePosition())
	if over := len(w.drained) - maxDrained; over > 0 {
		w.drained = w.drained[over:]
	}
}

// drainedPositions are the drained files' positions that the positions
// already in have not (sameCopy). A stream that is not saved (announced,
// not read) does not stand in for one: a copytruncate's copy is read under
// the inode of the file now at the path, which waits unread behind the
// copies after it.
func (w *Watcher) drainedPositions(have []source.Position) []source.Position {
	var out []source.Position
	for _, p := range w.drained {
		if slices.ContainsFunc(have, func(q source.Position) bool { return sameCopy(q.ID, p.ID) }) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// noteSent counts a failed write of the ledger (Leaving, Record).
func (w *Watcher) noteSent(err error) {
	if err != nil {
		w.changed = true // so the checkpoint tick retries the ledger too
		if m := w.opt.Metrics; m != nil {
			m.StateFailures.WithLabelValues("ledger").Inc()
		}
	}
}

// syncSent makes the ledger's record of the group durable, counting a
// failure.
func (w *Watcher) syncSent() {
	if err := w.ledger.Sync(); err != nil {
		w.changed = true
		if m := w.opt.Metrics; m != nil {
			m.StateFailures.WithLabelValues("ledger").Inc()
		}
	}
}

// checkpointDue says whether the next checkpoint may be written: the
// interval has passed, and after a failure the backoff too.
func (w *Watcher) checkpointDue() bool {
	now := w.opt.now()
	return now.Sub(w.lastCP) >= w.opt.CheckpointEvery && !now.Before(w.cpState.retryAt)
}

// retryableCheckpoint writes a checkpoint from the loop; a failure waits
// twice as long as the last before the next try (up to a minute) and is
// logged when it starts, changes or ends, not at every try.
func (w *Watcher) retryableCheckpoint() {
	if w.ledger.Retry() != nil {
		if m := w.opt.Metrics; m != nil {
			m.StateFailures.WithLabelValues("ledger").Inc()
		}
	}
	err := w.checkpoint()
	st := &w.cpState
	if err == nil {
		if st.err != nil {
			w.log.Info("checkpoint written again", "after_failures", st.failures)
		}
		st.err, st.failures, st.retryAt = nil, 0, time.Time{}
		st.why.Store(nil)
		w.changed = w.ledger.Err() != nil // retried at the next tick
		return
	}
	if m := w.opt.Metrics; m != nil {
		m.StateFailures.WithLabelValues("checkpoint").Inc()
	}
	st.failures++
	wait := min(w.opt.CheckpointEvery<<min(st.failures, 16), checkpointBackoffMax)
	st.retryAt = w.opt.now().Add(wait)
	if st.err == nil || st.err.Error() != err.Error() {
		w.log.Error("checkpoint failed; alerts keep flowing, will retry", "err", err, "retry_in", wait)
	}
	st.err = err
	why := fmt.Sprintf("state directory: %v", err)
	st.why.Store(&why)
}

// stateUnready says why the state directory makes the watcher unready.
func (w *Watcher) stateUnready() string {
	var why []string
	if cp := w.cpState.why.Load(); cp != nil {
		why = append(why, *cp)
	}
	if err := w.ledger.Err(); err != nil {
		why = append(why, fmt.Sprintf("state directory: %v", err))
	}
	return strings.Join(why, "; ")
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
		Correlator: w.det.correlator.Snapshot(), Throttle: w.det.engine.Snapshot(),
		Attribution: w.attr.Snapshot(),
	}
	if w.local != nil {
		cp.Store, cp.Users = w.local.SnapshotWithoutUsers(), w.local.Stats().Users
	}
	for _, h := range w.held {
		cp.Held = append(cp.Held, h.ev)
	}
	cp.Held = append(cp.Held, w.queuedEvents()...) // read, so past the saved positions
	cp.Positions = w.positions()
	path := filepath.Join(w.opt.StateDir, checkpointFile)
	keepPrevious(path)
	err := durable.WriteFile(path, 0o640, func(f io.Writer) error {
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
	} else if cerr := w.ledger.Compact(); cerr != nil {
		w.log.Warn("cannot compact the delivery ledger", "err", cerr)
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

// keepPrevious makes the current checkpoint the previous one (a hard link,
// so the current stays in place until the new one is renamed over it).
func keepPrevious(path string) {
	prev := path + ".prev"
	if _, err := os.Stat(path); err != nil {
		return
	}
	os.Remove(prev)
	os.Link(path, prev)
}

// following says whether a stream reads the file p names (sameCopy: one
// copy read must not stand in for another not read yet).
func (w *Watcher) following(p source.Position) bool {
	for _, s := range w.streams {
		if sameCopy(s.id, p.ID) {
			return true
		}
	}
	return false
}

// positions says where each file is to be resumed from: the files followed,
// those not seen this run, and generations drained but still needed.
func (w *Watcher) positions() []source.Position {
	var ps, unread []source.Position
	for _, s := range w.streams {
		if !s.resumable() {
			continue // stdin
		}
		if s.waitingUnread() {
			// A position to resume from would tell the next start that
			// every generation before it was finished; it is read from
			// its start all the same, after them. Marked unread, it only
			// lets the next start say so if it is gone by then.
			unread = append(unread, source.Position{Path: s.path, ID: s.id, Size: s.size, Unread: true})
			continue
		}
		ps = append(ps, s.resumePosition())
	}
	// Files not seen this run keep their old positions until they are.
	for _, p := range w.restored {
		if !w.following(p) {
			ps = append(ps, p)
		}
	}
	ps = append(ps, w.drainedPositions(ps)...)
	return append(ps, unread...)
}

// resumable says whether the stream is a file a checkpoint can resume:
// stdin has no identity.
func (s *stream) resumable() bool { return s.id.Ino != 0 || s.id.Fingerprint != "" }

// waitingUnread says whether the stream is a file announced and not read
// yet: the file now at a path, waiting for an older generation to drain.
func (s *stream) waitingUnread() bool { return !s.read && s.end == 0 }
