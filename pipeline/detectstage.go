package pipeline

import (
	"context"
	"sync/atomic"

	"github.com/graceguard/graceguard/parser"
)

// A scan's correlation and rules run on a goroutine of their own, behind
// the merge and attribution: the two then share the cores with the block
// workers instead of taking turns on one. The events go over in batches,
// in merge order, so the Detector sees exactly the sequence it saw when it
// ran inline, and the alerts and the summary are the same bytes.

// detectBatch is how many events go over at a time: enough that the
// hand-off costs nothing per event and the goroutines wake each other
// rarely (a wake-up is slow on a loaded machine), few enough (~280 KB).
const detectBatch = 1024

// detectDepth is how many batches may wait for the Detector: a cap on the
// memory of a merge running ahead.
const detectDepth = 4

// detectStage feeds a Detector on its own goroutine.
type detectStage struct {
	det   *Detector
	full  chan []parser.Event
	free  chan []parser.Event
	batch []parser.Event
	size  int // events per batch
	// failed is closed when the Detector returned an error, err; from then
	// on the goroutine only returns batches.
	failed   chan struct{}
	err      error
	finished chan struct{}
	// abandon says the merge failed: what is queued is dropped unjudged,
	// as it was never judged when the Detector ran inline.
	abandon atomic.Bool
}

// startDetect starts det's goroutine, handing it batches of size events
// (detectBatch when size <= 0); stop must be called to end it. The
// goroutine calls ready first, when not nil (the rules compiled late,
// ScanOptions.LoadRules); its error is the stage's, before any event.
func startDetect(ctx context.Context, det *Detector, size int, ready func() error) *detectStage {
	if size <= 0 {
		size = detectBatch
	}
	s := &detectStage{det: det, full: make(chan []parser.Event, detectDepth), free: make(chan []parser.Event, detectDepth+1),
		failed: make(chan struct{}), finished: make(chan struct{}), size: size}
	for range detectDepth + 1 {
		s.free <- make([]parser.Event, 0, size)
	}
	s.batch = <-s.free
	go s.run(ctx, ready)
	return s
}

func (s *detectStage) run(ctx context.Context, ready func() error) {
	defer close(s.finished)
	ok := true
	if ready != nil {
		if err := ready(); err != nil {
			s.err, ok = err, false
			close(s.failed)
		}
	}
	for b := range s.full {
		for i := 0; ok && !s.abandon.Load() && i < len(b); i++ {
			if err := s.det.Observe(ctx, &b[i]); err != nil {
				s.err, ok = err, false
				close(s.failed)
			}
		}
		// Not cleared: the batch is written over when it is filled again.
		// Clearing it (~340 KB) cost the Detector, whose goroutine bounds
		// a scan's wall time, ~0.3% of a scan's CPU. Until it is refilled
		// its events keep their records alive for the collector: at most
		// detectDepth+1 batches' worth (~1.3 MB), and only while the scan
		// runs.
		s.free <- b[:0]
	}
}

// observe queues a copy of ev for the Detector; an error is the
// Detector's, from an earlier batch.
func (s *detectStage) observe(ev *parser.Event) error {
	s.batch = append(s.batch, *ev)
	if len(s.batch) < s.size {
		return nil
	}
	return s.send()
}

func (s *detectStage) send() error {
	select {
	case s.full <- s.batch:
	case <-s.failed:
		return s.err
	}
	s.batch = <-s.free // the goroutine returns every batch, failed or not
	return nil
}

// stop hands over what is queued, waits for the Detector to judge it and
// returns its error; with judge false (the merge failed) it drops what is
// queued instead. Called once.
func (s *detectStage) stop(judge bool) error {
	var err error
	if !judge {
		s.abandon.Store(true)
	} else if len(s.batch) > 0 {
		err = s.send()
	}
	close(s.full)
	<-s.finished
	if s.err != nil {
		return s.err
	}
	return err
}
