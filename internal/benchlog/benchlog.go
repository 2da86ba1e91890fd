// Package benchlog turns a generated OpenUnison log (internal/loggen) into
// the events a scan of it judges, parsed as a scan parses a plain log, for
// the benchmarks of the stages after the parser (correlate, attribute,
// pipeline's Detect). It is for benchmarks only and owns nothing else.
package benchlog

import "github.com/graceguard/graceguard/parser"

// Events are the records of the plain log data that are not other, parsed
// in UTC, each with Source "x" and its offset in data. A record that does
// not parse is left out, as a scan counts it and goes on.
func Events(data []byte) []parser.Event {
	var evs []parser.Event
	parser.SplitCandidates(data, func(rec []byte, _ parser.Kind, off int, _ int64) {
		if ev, err := parser.Parse(rec, nil); err == nil && ev.Kind != parser.KindOther {
			ev.Source, ev.Offset = "x", int64(off)
			evs = append(evs, ev)
		}
	})
	return evs
}
