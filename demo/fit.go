package demo

import (
	"regexp"
	"sync"

	"github.com/graceguard/graceguard/alert"
)

// DefaultWidth is the narration's width when the output is no terminal:
// wide enough for an alert line, narrow enough for a laptop's terminal.
const DefaultWidth = 160

// indent is the narration's left margin under a step's clock.
const indent = "           "

// shortening's patterns are compiled when the demo first narrates, not at
// the start of every command the binary runs.
var shortening = sync.OnceValue(func() (p struct{ loopbackOrigin, requestID, recordDate, idpPath *regexp.Regexp }) {
	// The IdP's URLs all start with its loopback address: the path says it.
	p.loopbackOrigin = regexp.MustCompile(`https?://127\.0\.0\.1:\d+`)
	// OpenUnison's per-request ids are 41 characters of noise to a reader.
	p.requestID = regexp.MustCompile(`\[(f[0-9a-f]{7})[0-9a-f]{33}\]`)
	// The step's clock says the day: the record's time of day is enough.
	p.recordDate = regexp.MustCompile(`^\[\d{4}-\d\d-\d\d `)
	// The path up to the endpoint is the same on every line.
	p.idpPath = regexp.MustCompile(`/auth/idp/[^/ ]+/`)
	return p
})

// shorten drops what a reader of the demo does not need from a log line:
// the date (the step's clock has it), the IdP's origin and path up to the
// endpoint, and most of each request id. The demo's log file keeps them.
func shorten(line string) string {
	p := shortening()
	line = p.recordDate.ReplaceAllString(line, "[")
	line = p.loopbackOrigin.ReplaceAllString(line, "")
	line = p.idpPath.ReplaceAllString(line, "…/")
	return p.requestID.ReplaceAllString(line, "[$1…]")
}

// fitMiddle cuts s to width columns in its middle, keeping its last tail
// runes: a log line's end holds the address it is about.
func fitMiddle(s string, width, tail int) string {
	rs := []rune(s)
	if width <= tail+2 || len(rs) <= width {
		return alert.Cut(s, width)
	}
	return string(rs[:width-tail-1]) + "…" + string(rs[len(rs)-tail:])
}
