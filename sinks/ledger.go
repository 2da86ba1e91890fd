package sinks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/durable"
)

// The Ledger is the one record of which alerts have left this watcher: the
// watcher asks it (Fresh) before an alert goes anywhere, and it answers
// from the ids this and earlier runs recorded and, with a shared store,
// from the claims of the other watchers. A fresh group is written to it
// twice: whole, as leaving (Leaving), BEFORE it goes to any sink, and as
// its ids (Record) once stdout has printed it. A restart hands the groups
// left leaving (Unfinished) to every sink again, so a kill -9 anywhere
// between the two writes loses nothing: the durably queued sinks drop
// what their journal already holds, stdout prints the group (again, if the
// kill came after its write). Both writes are fsynced once for all the
// groups one batch of input raised (Sync), so a backlog full of replays
// costs an fsync a batch, not one an alert group; a kill -9 does not lose
// what write(2) put in the page cache.
//
// What each sink gets from it, across kill -9:
//
//   - the durably queued sinks (file, webhook, Slack, syslog) are handed the
//     group after the ledger wrote it as leaving; their journal holds it
//     from then on (see journal.go), and a restart hands them the groups
//     left leaving again, which their journal's ids filter: never lost, and
//     repeated no more than their journal allows;
//   - stdout is at least once: a kill -9 between its write and the ledger's
//     record of the ids prints that one group again at the restart; a
//     power cut before the batch's fsync may repeat the batch's groups.
//
// When the ledger cannot be written (a full or read-only state directory)
// it keeps the ids in memory, so this run still sends each alert once,
// reports the error through Err for /readyz and metrics, and tries the file
// again with the next group.
//
// The file holds one line per record: a sent id (20 hex digits), or a
// group leaving, "leaving ID[,ID…] JSON" (the JSON an object
// {"alerts":[…],"descriptions":{…}}); a line that is neither (torn by a
// crash) is skipped. A load decodes only the leaving groups not printed
// (one, after a kill -9), and compaction drops the others.
type Ledger struct {
	path   string
	claims Claimer
	log    *slog.Logger

	mu        sync.Mutex
	ids       *durable.RecentIDs
	out       appendFile // the file at path
	lines     int        // records in the file, for compaction
	leaving   int64      // bytes of leaving groups in the file, for compaction
	unwritten []string   // ids recorded while the file could not be written
	torn      bool       // the file ends in half a line: the next write starts a new one
	unsynced  bool       // written since the last fsync
	syncs     int64      // fsyncs done
	err       error
	failed    int64
	// unfinished: the groups an earlier run wrote as leaving and never
	// recorded as printed, in the file's order, until Record finishes them.
	unfinished [][]alert.Alert
}

// Claimer dedups alerts across watchers that share a store (Redis SET NX).
type Claimer interface {
	// Claim marks key as sent for ttl; false when it was claimed before.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Unclaim releases a key whose delivery failed.
	Unclaim(ctx context.Context, key string) error
}

// LedgerOptions configure a Ledger.
type LedgerOptions struct {
	Path     string // the ledger file; empty keeps it in memory
	Capacity int    // ids remembered; 100,000
	Claims   Claimer
	Logger   *slog.Logger
}

// LedgerFile is the ledger's name in the state directory.
const LedgerFile = "delivery.ledger"

// claimTTL is how long a sent alert stays claimed: longer than any watcher
// takes to come back and re-read a line.
const claimTTL = 7 * 24 * time.Hour

// OpenLedger loads the ids an earlier run recorded. A line that is not an
// id (the last one, torn by a crash mid-write) is skipped. Only a file that
// exists and cannot be read is an error.
func OpenLedger(opt LedgerOptions) (*Ledger, error) {
	if opt.Capacity <= 0 {
		opt.Capacity = 100_000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Ledger{path: opt.Path, out: appendFile{path: opt.Path}, claims: opt.Claims, log: opt.Logger, ids: durable.NewRecentIDs(opt.Capacity)}
	if opt.Path == "" {
		return l, nil
	}
	f, err := openIfExists(opt.Path)
	if err != nil {
		return nil, fmt.Errorf("read the delivery ledger: %w", err)
	}
	if f == nil {
		return l, nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			l.torn = true
		}
	}
	if err := l.load(f); err != nil {
		return nil, fmt.Errorf("read the delivery ledger %s: %w", opt.Path, err)
	}
	return l, nil
}

// maxLedgerLine bounds a leaving group's line: a group is one event's
// alerts, a few KiB; a longer line is skipped as damaged.
const maxLedgerLine = 4 << 20

// load reads the file's ids and the groups left leaving.
func (l *Ledger) load(r io.Reader) error {
	type group struct {
		all, ids []string // its ids, and those not printed
		json     []byte   // kept while some id is not printed
	}
	var leaving []*group
	open := map[string][]*group{} // id → its groups not yet printed
	err := eachLine(r, maxLedgerLine, func(line []byte) {
		line = bytes.TrimSpace(line)
		if rest, ok := bytes.CutPrefix(line, []byte(leavingPrefix)); ok {
			ids, js, ok := splitLeaving(rest)
			if !ok {
				return
			}
			// Its ids count as sent once printed, or handed out again
			// below: a line torn by a crash did not leave.
			g := &group{all: ids, ids: slices.Clone(ids), json: bytes.Clone(js)}
			leaving = append(leaving, g)
			for _, id := range ids {
				open[id] = append(open[id], g)
			}
			l.lines++
			l.leaving += int64(len(line))
			return
		}
		if id := string(line); validID(id) {
			l.ids.Add(id)
			l.lines++
			for _, g := range open[id] {
				g.ids = slices.DeleteFunc(g.ids, func(x string) bool { return x == id })
				if len(g.ids) == 0 {
					g.json = nil
				}
			}
			delete(open, id)
		}
	})
	if err != nil {
		return err
	}
	for _, g := range leaving {
		if len(g.ids) == 0 {
			continue
		}
		if alerts, ok := decodeLeaving(g.json, g.all); ok {
			l.unfinished = append(l.unfinished, alerts)
			for _, id := range g.all {
				l.ids.Add(id)
			}
		}
	}
	return nil
}

// eachLine calls f with each line of r, without its newline; a line longer
// than limit (damage) is skipped, not an error.
func eachLine(r io.Reader, limit int, f func([]byte)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	skipping := false
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !skipping && len(long)+len(chunk) <= limit {
				long = append(long, chunk...)
			} else {
				long, skipping = long[:0], true
			}
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return err
		}
		if !skipping {
			if len(long) > 0 {
				chunk = append(long, chunk...)
			}
			if len(chunk) > 0 && len(chunk) <= limit+1 {
				f(bytes.TrimSuffix(chunk, []byte{'\n'}))
			}
		}
		long, skipping = long[:0], false
		if err != nil {
			return nil // io.EOF
		}
	}
}

// leavingPrefix starts a leaving group's line.
const leavingPrefix = "leaving "

// splitLeaving splits what follows the prefix into the ids and the JSON.
func splitLeaving(rest []byte) ([]string, []byte, bool) {
	list, js, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return nil, nil, false
	}
	ids := strings.Split(string(list), ",")
	for _, id := range ids {
		if !validID(id) {
			return nil, nil, false
		}
	}
	return ids, js, true
}

// leavingRecord is a group written before it leaves. Descriptions keeps
// the rules' descriptions, which the alert JSON leaves out and a sink
// (Slack) shows.
type leavingRecord struct {
	Alerts       []alert.Alert     `json:"alerts"`
	Descriptions map[string]string `json:"descriptions,omitempty"`
}

// encodeLeaving makes a group's line, newline included.
func encodeLeaving(group []alert.Alert) ([]byte, error) {
	var rec leavingRecord
	var b bytes.Buffer
	b.WriteString(leavingPrefix)
	for i, a := range group {
		if !validID(a.ID) {
			return nil, fmt.Errorf("alert id %q", a.ID)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.ID)
		if a.Description != "" {
			if rec.Descriptions == nil {
				rec.Descriptions = map[string]string{}
			}
			rec.Descriptions[a.Rule] = a.Description
		}
	}
	// leavingRecord's JSON, spelled out: json.Marshal would check and
	// compact each alert's MarshalJSON output again, a third of the cost.
	b.WriteString(` {"alerts":[`)
	for i, a := range group {
		if i > 0 {
			b.WriteByte(',')
		}
		js, err := a.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b.Write(js)
	}
	b.WriteByte(']')
	if rec.Descriptions != nil {
		js, err := json.Marshal(rec.Descriptions)
		if err != nil {
			return nil, err
		}
		b.WriteString(`,"descriptions":`)
		b.Write(js)
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// decodeLeaving reads a leaving group's JSON, which must name the ids its
// line begins with: anything else is a damaged line.
func decodeLeaving(js []byte, ids []string) ([]alert.Alert, bool) {
	var rec leavingRecord
	if json.Unmarshal(js, &rec) != nil || len(rec.Alerts) != len(ids) {
		return nil, false
	}
	for i := range rec.Alerts {
		a := &rec.Alerts[i]
		if a.ID != ids[i] {
			return nil, false
		}
		a.Description = rec.Descriptions[a.Rule]
	}
	return rec.Alerts, true
}

// Unfinished returns the groups an earlier run wrote as leaving and did
// not record as printed: a kill -9 came between. The watcher hands them to
// every sink again at start, then calls Record.
func (l *Ledger) Unfinished() [][]alert.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.unfinished)
}

// validID accepts what alert.ID makes: 20 lowercase hex digits; a torn
// line is shorter.
func validID(id string) bool {
	if len(id) != 20 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Remember adds ids known sent from elsewhere (an older checkpoint's list)
// without writing them.
func (l *Ledger) Remember(ids ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.ids.Add(id)
	}
}

// Has reports whether id was admitted before.
func (l *Ledger) Has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids.Has(id)
}

// Fresh returns the alerts of group that neither this ledger nor another
// watcher's claim has seen, claiming them for this watcher. When the shared
// store cannot answer, the alert counts as fresh: a duplicate beats a loss.
// Nothing is recorded yet: Record does that.
func (l *Ledger) Fresh(ctx context.Context, group []alert.Alert) []alert.Alert {
	fresh := make([]alert.Alert, 0, len(group))
	for _, a := range group {
		if l.Has(a.ID) || !l.claim(ctx, a) {
			continue
		}
		fresh = append(fresh, a)
	}
	return fresh
}

func (l *Ledger) claim(ctx context.Context, a alert.Alert) bool {
	if l.claims == nil {
		return true
	}
	ok, err := l.claims.Claim(ctx, claimKey(a), claimTTL)
	if err != nil {
		l.log.Warn("could not claim an alert; sending it anyway", "id", a.ID, "err", err)
		return true
	}
	return ok
}

// Leaving writes group whole, with one write, before it goes to any sink:
// until Record follows, a restart hands it out again (Unfinished). The ids
// count as sent from now on. On failure they are kept in memory all the
// same (this run sends nothing twice) and the error is kept for Err; it is
// returned so the caller can count it. A group a failed write left out is
// not written later: its lines are read again after a restart (no
// checkpoint can be written either), which judges them anew.
func (l *Ledger) Leaving(group []alert.Alert) error {
	if len(group) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range group {
		l.ids.Add(a.ID)
	}
	if l.path == "" {
		return nil
	}
	line, err := encodeLeaving(group)
	if err != nil {
		return fmt.Errorf("delivery ledger: %w", err)
	}
	if l.torn {
		line = append([]byte{'\n'}, line...)
	}
	err = l.appendLocked(line)
	l.noteLocked(err)
	if err != nil {
		return err
	}
	l.lines++
	l.leaving += int64(len(line))
	l.torn = false
	return nil
}

// Record writes group's ids with one write: every sink has it (stdout has
// printed it, the queued sinks' journal holds it). On failure the ids are
// kept in memory all the same (this run sends nothing twice), written
// again by Retry, and the error is kept for Err; it is returned so the
// caller can count it.
func (l *Ledger) Record(group []alert.Alert) error {
	if len(group) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range group {
		l.ids.Add(a.ID)
		if l.path != "" {
			l.unwritten = append(l.unwritten, a.ID)
		}
	}
	l.forgetUnfinishedLocked(group)
	return l.flushLocked()
}

// forgetUnfinishedLocked drops the loaded groups group finishes.
func (l *Ledger) forgetUnfinishedLocked(group []alert.Alert) {
	if len(l.unfinished) == 0 {
		return
	}
	done := map[string]bool{}
	for _, a := range group {
		done[a.ID] = true
	}
	l.unfinished = slices.DeleteFunc(l.unfinished, func(g []alert.Alert) bool {
		return !slices.ContainsFunc(g, func(a alert.Alert) bool { return !done[a.ID] })
	})
}

// Retry writes what earlier failures left in memory only; the watcher
// calls it on its checkpoint tick, so the ledger heals (and /readyz turns
// ready) once the directory takes writes again, whether or not alerts come.
func (l *Ledger) Retry() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.unwritten) == 0 {
		return nil
	}
	return l.flushLocked()
}

func (l *Ledger) flushLocked() error {
	if len(l.unwritten) == 0 {
		return nil
	}
	var b strings.Builder
	if l.torn {
		b.WriteByte('\n')
	}
	for _, id := range l.unwritten {
		b.WriteString(id)
		b.WriteByte('\n')
	}
	err := l.appendLocked([]byte(b.String()))
	l.noteLocked(err)
	if err != nil {
		// Bounded like the set: ids beyond it would be forgotten anyway.
		if over := len(l.unwritten) - l.ids.Cap(); over > 0 {
			l.unwritten = l.unwritten[over:]
		}
		return err
	}
	l.lines += len(l.unwritten)
	l.unwritten = l.unwritten[:0]
	l.torn = false
	return nil
}

func (l *Ledger) appendLocked(b []byte) error {
	if n, err := l.out.write(b); err != nil {
		// A short write may have left half a line: the next one starts on
		// a line of its own, and loading skips the torn one.
		l.torn = l.torn || n > 0
		return fmt.Errorf("delivery ledger: %w", err)
	}
	l.unsynced = true
	return nil
}

// Sync makes what Leaving and Record wrote durable: one fsync for every
// group written since the last, called once a batch's groups are out. The
// records are in the page cache from their write on, which a kill -9 does
// not lose; only a power cut before this sync can, and then the group is
// sent again (at least once: its lines are read again) rather than lost.
func (l *Ledger) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.out.isOpen() || !l.unsynced {
		return nil
	}
	err := l.out.sync()
	if err != nil {
		err = fmt.Errorf("delivery ledger: %w", err)
		l.noteLocked(err)
		return err
	}
	l.unsynced = false
	l.syncs++
	return nil
}

// Syncs counts the fsyncs Sync did.
func (l *Ledger) Syncs() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncs
}

// noteLocked logs the ledger's health when it changes, not at every group.
func (l *Ledger) noteLocked(err error) {
	switch {
	case err != nil && l.err == nil:
		l.log.Error("cannot record sent alerts in the state directory; alerts keep flowing, but a restart may send them again", "path", l.path, "err", err)
	case err == nil && l.err != nil:
		l.log.Info("the delivery ledger is written again", "path", l.path)
	}
	if err != nil {
		l.failed++
		l.out.close() // reopened at the next group: the directory may be back
	}
	l.err = err
}

// Release forgets the claims of alerts that were not delivered, so a later
// read of their lines can send them. The local record stays: the durable
// sinks hold those alerts in their journal.
func (l *Ledger) Release(ctx context.Context, group []alert.Alert) {
	if l.claims == nil {
		return
	}
	for _, a := range group {
		if err := l.claims.Unclaim(ctx, claimKey(a)); err != nil {
			l.log.Warn("could not release an alert's claim", "id", a.ID, "err", err)
		}
	}
}

// Err is the last write's error, nil when the ledger is written.
func (l *Ledger) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Failures counts the writes that failed since the start.
func (l *Ledger) Failures() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// compactLeaving is how many bytes of leaving groups make the file due for
// compaction: each is written once and needed only until its ids follow.
const compactLeaving = 16 << 20

// Compact rewrites the file as the ids remembered (and the groups still to
// hand out) once it holds twice as many lines, or 16 MiB of groups that
// left: the file stays bounded like the set.
func (l *Ledger) Compact() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := l.ids.List()
	if l.path == "" || (l.lines < 2*max(len(ids), 1024) && l.leaving < compactLeaving) {
		return nil
	}
	l.out.close()
	err := durable.WriteFile(l.path, 0o640, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		// A group still to hand out stays leaving, and its ids unprinted.
		unprinted := map[string]bool{}
		for _, g := range l.unfinished {
			line, err := encodeLeaving(g)
			if err != nil {
				return err
			}
			bw.Write(line)
			for _, a := range g {
				unprinted[a.ID] = true
			}
		}
		for _, id := range ids {
			if !unprinted[id] {
				bw.WriteString(id)
				bw.WriteByte('\n')
			}
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("compact the delivery ledger: %w", err)
	}
	l.lines, l.leaving = len(ids)+len(l.unfinished), 0
	return nil
}

// Close closes the file.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.close()
}

// claimKey names an alert across watchers by the request it is about, not
// by where it was read: a sidecar reading the pod's log file (alert ids
// from device and inode) and a central watcher reading the same lines
// through the API (ids from the container) must claim the same key.
// OpenUnison's bracketed request id and the millisecond make the request
// unique; rule, user and address keep the key honest where it is "null".
func claimKey(a alert.Alert) string {
	h := sha256.New()
	for _, part := range []string{a.Rule, a.IdP, a.User, a.Time.UTC().Format(time.RFC3339Nano), a.IP, a.Session} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
