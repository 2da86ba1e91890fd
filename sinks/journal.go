package sinks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/graceguard/graceguard/alert"

	"github.com/graceguard/graceguard/internal/durable"
)

// The journal is one JSON lines file in the state directory holding every
// sink's queue and delivered ids. A group is journalled ("add", synced)
// before Send returns and marked "done" or "dead" when its worker is
// through with it, so what was queued survives SIGTERM, kill -9 and a
// crash alike; Close and start-up rewrite it as just the live state. One
// file for all sinks means one fsync per Send, however many sinks there
// are.
//
//	{"op":"journal","version":1}
//	{"op":"delivered","sink":"slack","ids":["3f2a…",…]}
//	{"op":"add","sink":"slack","seq":12,"queued":"…","alerts":[…],"descriptions":{"reuse-ip-mismatch":"…"}}
//	{"op":"done","sink":"slack","seq":12,"ids":["…"]}
//	{"op":"dead","sink":"slack","seq":13}
const journalVersion = 1

const (
	opHeader    = "journal"
	opAdd       = "add"
	opDone      = "done"
	opDead      = "dead"
	opDelivered = "delivered"
)

type journalRecord struct {
	Op       string        `json:"op"`
	Version  int           `json:"version,omitempty"`
	Sink     string        `json:"sink,omitempty"`
	Seq      uint64        `json:"seq,omitempty"`
	Queued   *time.Time    `json:"queued,omitempty"`
	Attempts int           `json:"attempts,omitempty"`
	Alerts   []alert.Alert `json:"alerts,omitempty"`
	// Descriptions keeps the rules' descriptions, which the alert JSON
	// leaves out and a Slack message shows.
	Descriptions map[string]string `json:"descriptions,omitempty"`
	IDs          []string          `json:"ids,omitempty"`
}

func addRecord(sink string, it *item) journalRecord {
	q := it.Queued.UTC()
	rec := journalRecord{Op: opAdd, Sink: sink, Seq: it.Seq, Queued: &q, Attempts: it.Attempts, Alerts: it.Alerts}
	for _, a := range it.Alerts {
		if a.Description != "" {
			if rec.Descriptions == nil {
				rec.Descriptions = map[string]string{}
			}
			rec.Descriptions[a.Rule] = a.Description
		}
	}
	return rec
}

type journal struct {
	path    string
	out     appendFile
	written int64 // bytes appended since the last rewrite
	base    int64 // size right after the last rewrite
}

// sinkState is what the journal says of one sink.
type sinkState struct {
	pending   []*item // by seq
	delivered []string
}

func openJournal(path string) (*journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	durable.RemoveTemps(path) // a rewrite a kill -9 cut short
	return &journal{path: path, out: appendFile{path: path}}, nil
}

// replayRecord applies one journal record to its sink's state and the groups
// still pending.
func replayRecord(st *sinkState, pending map[uint64]*item, rec *journalRecord) {
	switch rec.Op {
	case opAdd:
		it := &item{Seq: rec.Seq, Alerts: rec.Alerts, Attempts: rec.Attempts}
		if rec.Queued != nil {
			it.Queued = *rec.Queued
		}
		for i := range it.Alerts {
			it.Alerts[i].Description = rec.Descriptions[it.Alerts[i].Rule]
		}
		pending[rec.Seq] = it
	case opDone:
		delete(pending, rec.Seq)
		st.delivered = append(st.delivered, rec.IDs...)
	case opDead:
		delete(pending, rec.Seq)
	case opDelivered:
		st.delivered = append(st.delivered, rec.IDs...)
	}
}

// load reads the journal. A line that does not parse (the last one, torn
// by a crash mid-write) is skipped and logged.
func (j *journal) load(log *slog.Logger) (map[string]*sinkState, error) {
	state := map[string]*sinkState{}
	f, err := openIfExists(j.path)
	if err != nil {
		return nil, fmt.Errorf("read sink journal: %w", err)
	}
	if f == nil {
		return state, nil
	}
	defer f.Close()
	pending := map[string]map[uint64]*item{}
	get := func(sink string) *sinkState {
		if state[sink] == nil {
			state[sink] = &sinkState{}
			pending[sink] = map[uint64]*item{}
		}
		return state[sink]
	}
	br := bufio.NewReader(f)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			var rec journalRecord
			if jerr := json.Unmarshal(b, &rec); jerr != nil {
				log.Warn("skipping a damaged line of the sink journal", "path", j.path, "line", line, "err", jerr)
			} else if rec.Op == opHeader && rec.Version != journalVersion {
				return nil, fmt.Errorf("sink journal %s has version %d, want %d (move it away to start afresh)", j.path, rec.Version, journalVersion)
			} else if rec.Sink != "" {
				st := get(rec.Sink) // makes pending[rec.Sink] too
				replayRecord(st, pending[rec.Sink], &rec)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read sink journal: %w", err)
		}
	}
	for sink, items := range pending {
		for _, it := range items {
			state[sink].pending = append(state[sink].pending, it)
		}
		slices.SortFunc(state[sink].pending, func(a, b *item) int { return cmpUint(a.Seq, b.Seq) })
	}
	return state, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func encodeRecords(recs []journalRecord) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// append writes records in one write, synced when sync is set.
func (j *journal) append(recs []journalRecord, sync bool) error {
	if len(recs) == 0 {
		return nil
	}
	b, err := encodeRecords(recs)
	if err != nil {
		return fmt.Errorf("encode journal: %w", err)
	}
	if _, err := j.out.write(b); err != nil {
		return fmt.Errorf("write sink journal: %w", err)
	}
	j.written += int64(len(b))
	if sync {
		if err := j.out.sync(); err != nil {
			return fmt.Errorf("sync sink journal: %w", err)
		}
	}
	return nil
}

// wantsCompaction reports that the appended records outweigh the live
// state enough to rewrite the file.
func (j *journal) wantsCompaction() bool {
	return j.written > 4<<20 && j.written > 2*j.base
}

// rewrite replaces the journal with recs atomically (temporary file,
// fsync, rename), so a crash leaves the old journal or the new, whole.
func (j *journal) rewrite(recs []journalRecord) error {
	recs = append([]journalRecord{{Op: opHeader, Version: journalVersion}}, recs...)
	b, err := encodeRecords(recs)
	if err != nil {
		return fmt.Errorf("encode journal: %w", err)
	}
	j.out.close()
	if err := durable.WriteFile(j.path, 0o640, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("rewrite sink journal: %w", err)
	}
	j.written, j.base = 0, int64(len(b))
	return nil
}

func (j *journal) close() error { return j.out.close() }
