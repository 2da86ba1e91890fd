package pipeline

import "github.com/graceguard/graceguard/rules"

// lateRules is a rule set compiled on a goroutine of its own while a scan
// reads its first blocks (ScanOptions.LoadRules). Start-up is the one part
// of a scan that runs on a single core; the rules were most of it.
type lateRules struct {
	done chan struct{}
	set  *rules.Set
	err  error
}

// loadRulesLate starts load on its own goroutine; nil when load is nil.
func loadRulesLate(load func() (*rules.Set, error)) *lateRules {
	if load == nil {
		return nil
	}
	l := &lateRules{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.set, l.err = load()
	}()
	return l
}

// install waits for the set and hands it to det, or returns load's error.
// A nil l has nothing to install. Called by whoever judges first, before
// the first event.
func (l *lateRules) install(det *Detector) error {
	if l == nil {
		return nil
	}
	<-l.done
	if l.err != nil {
		return l.err
	}
	det.SetRules(l.set)
	return nil
}

// failed waits for the set and returns load's error, nil for a nil l. A
// rule error is the scan's error whatever else ended it (a cancel, a
// failed delivery): it is a configuration error, which stopped the scan
// before anything was read when rules were compiled up front.
func (l *lateRules) failed() error {
	if l == nil {
		return nil
	}
	<-l.done
	return l.err
}
