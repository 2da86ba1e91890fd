package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/pipeline"
)

// writeSummary writes what a scan read and judged; unjudged is what an
// interrupted scan read from streams beyond s.Bytes and never judged
// (streamBytesUnjudged); unwritten says writing the alerts failed, so that
// their count is not read as alerts delivered.
func writeSummary(w io.Writer, files int, s pipeline.Summary, unjudged int64, unwritten bool) {
	read := s.Bytes + unjudged
	var b strings.Builder
	fmt.Fprintf(&b, "graceguard: scanned %d %s, %s in %s%s\n", files, plural(files, "file", "files"),
		humanBytes(read), roundElapsed(s.Elapsed), rateOf(read, s.Elapsed))
	if line := decompressedLine(s); line != "" {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	fmt.Fprintf(&b, "  lines %s, records %s, parse errors %s, cut %s", commas(s.Lines), commas(s.Records),
		commas(s.ParseErrors), commas(s.Cut))
	if s.FramingErrors > 0 {
		fmt.Fprintf(&b, ", framing errors %s", commas(s.FramingErrors))
	}
	b.WriteString("\n  events")
	for _, k := range parser.Kinds() {
		// Refusals and proxy records exist only in some deployments' logs:
		// named when seen, not as a 0 that reads like a finding.
		if (k == parser.KindRefusal || k == parser.KindProxy) && s.Events[k] == 0 {
			continue
		}
		fmt.Fprintf(&b, " %s %s", k, commas(s.Events[k]))
	}
	summaryAlerts(&b, s, unjudged, unwritten)
	summaryNotes(&b, s, unjudged)
	io.WriteString(w, b.String())
}

// decompressedLine names the inputs that were decompressed, with what was
// read of each file and the log it gave: the bytes and rate on the line
// before count the log, and a 4 MB generation read as 40 MB must not look
// like a miscount. "" when none was.
func decompressedLine(s pipeline.Summary) string {
	var each []string
	for _, in := range s.Inputs {
		if in.Decompressed {
			each = append(each, fmt.Sprintf("%s (%s, %s of file, %s of log)", in.Name, in.Compression, humanBytes(in.CompressedBytes), humanBytes(in.Bytes)))
		}
	}
	if len(each) == 0 {
		return ""
	}
	return fmt.Sprintf("decompressed %d %s: %s; the bytes and rate above count the log, decompressed",
		len(each), plural(len(each), "file", "files"), strings.Join(each, ", "))
}

// summaryAlerts writes the alerts line, what the rules held back or failed
// at, and where to look next.
func summaryAlerts(b *strings.Builder, s pipeline.Summary, unjudged int64, unwritten bool) {
	b.WriteString("\n  alerts")
	if len(s.Alerts) == 0 {
		b.WriteString(" none")
		if !s.RulesJudged() {
			b.WriteString(": nothing was judged: " + nothingJudgedWhy(s, unjudged))
		}
	}
	for _, rule := range slices.Sorted(maps.Keys(s.Alerts)) {
		fmt.Fprintf(b, " %s %s", rule, commas(s.Alerts[rule]))
	}
	var throttled int64
	for _, n := range s.Throttled {
		throttled += n
	}
	if throttled > 0 {
		fmt.Fprintf(b, " (%s more held back by the rules' throttle: one alert per rule and user per window)", commas(throttled))
	}
	if unwritten && len(s.Alerts) > 0 {
		b.WriteString("; judged, not all written: writing them failed (below)")
	}
	b.WriteByte('\n')
	if len(s.Alerts) > 0 {
		b.WriteString("  next: graceguard timeline '<user DN>' FILE... shows a user's refreshes, reuses and refusals around an alert\n")
	}
	if line := ruleErrorsLine(s); line != "" {
		fmt.Fprintf(b, "  %s\n", line)
	}
}

// ruleErrorsLine counts the rules' failures at run time by rule; "" when
// none failed. An event a rule failed on raised none of its alerts.
func ruleErrorsLine(s pipeline.Summary) string {
	var ruleErrs int64
	var by []string
	for _, rule := range slices.Sorted(maps.Keys(s.RuleErrors)) {
		ruleErrs += s.RuleErrors[rule]
		by = append(by, fmt.Sprintf("%s %s", rule, commas(s.RuleErrors[rule])))
	}
	if ruleErrs == 0 {
		return ""
	}
	return fmt.Sprintf("rule errors %s: %s (a rule failed at run time; check it guards against nil)", commas(ruleErrs), strings.Join(by, ", "))
}

// summaryNotes writes what the history forgot and what the input suggests
// (attribution, proxies).
func summaryNotes(b *strings.Builder, s pipeline.Summary, unjudged int64) {
	if n := s.Correlation.RefusalsJudgedEarly; n > 0 {
		fmt.Fprintf(b, "  refusals judged early %s: more than 1,024 refused refreshes waited at once for the other logs' refreshes before them, the oldest judged against the chain moves known then (README, Bounded resources)\n", commas(n))
	}
	if ev := s.Store.UsersEvicted + s.Store.IPsEvicted + s.Store.SessionsEvicted; ev > 0 {
		// Sessions apart: the table is direct-mapped, so two ids share a
		// slot at times in a log of ten users, which read as the history
		// running out of room (helper-152's run-through).
		fmt.Fprintf(b, "  history evictions %s: users %s, addresses %s (the least recently seen, forgotten to stay within the history's caps), sessions %s (a new session id took an older one's slot in the direct-mapped session table: at times even in a small log) (README, Bounded resources)\n", commas(ev),
			commas(s.Store.UsersEvicted), commas(s.Store.IPsEvicted), commas(s.Store.SessionsEvicted))
	}
	if at := s.Attribution; at.Outcomes[parser.AttrJoined]+at.Outcomes[parser.AttrAmbiguous]+at.Outcomes[parser.AttrUnattributed] > 0 {
		fmt.Fprintf(b, "  clients: joined %s, ambiguous %s, unattributed %s, direct %s (proxy records unmatched %s)\n",
			commas(at.Outcomes[parser.AttrJoined]), commas(at.Outcomes[parser.AttrAmbiguous]), commas(at.Outcomes[parser.AttrUnattributed]),
			commas(at.Outcomes[parser.AttrDirect]), commas(at.RecordsUnmatched))
	}
	if s.FramingErrors > 0 {
		fmt.Fprintf(b, "  note: %s %s not in the format of the file it was in (logs of two formats joined into one file?): read as text of the record before it, its own record was not judged; give each format's logs as a file of its own\n",
			commas(s.FramingErrors), plural(int(s.FramingErrors), "line was", "lines were"))
	}
	switch {
	case s.Interrupted && s.RulesJudged():
		b.WriteString("  note: interrupted (SIGINT or SIGTERM) before the input ended: what was read last, and the rest, was not judged" + unjudgedNote(unjudged) + "\n")
	case s.Interrupted: // the alerts line says so
	default:
		for _, note := range inputNotes(s) {
			fmt.Fprintf(b, "  note: %s\n", note)
		}
	}
	if note := pipeline.UnattributedNote(s.Attribution); note != "" {
		fmt.Fprintf(b, "  note: %s\n", note)
	} else if s.TokenAddrs.BehindProxy() && s.Attribution.Outcomes[parser.AttrJoined] == 0 {
		fmt.Fprintf(b, "  note: %s\n", s.TokenAddrs.ProxyDiagnosis())
	}
}

// rateMinBytes is the input from which the summary gives a rate: below it
// the figure is graceguard's start-up, not its reading (the 9 kB sample
// "read at 0 MB/s").
const rateMinBytes = 1e6

// rateOf is " (RATE)" for n bytes read in d, with two or more significant
// digits: a stream that came slowly (kubectl logs over minutes) reads in
// kB/s, not "0 MB/s". "" below rateMinBytes.
func rateOf(n int64, d time.Duration) string {
	if n < rateMinBytes || d <= 0 {
		return ""
	}
	// Each precision is tried as printed, as humanBytes does, so a rate
	// that rounds up to the next step's figure is said in that step's
	// ("10.0 MB/s" as "10 MB/s", "1000 kB/s" as "1.0 MB/s").
	return " (" + stepped(float64(n)/d.Seconds(), rateSteps) + ")"
}

// unitStep is one way of saying a figure: in units of size, with decimals
// (none: grouped by thousands), kept while the figure as printed is under
// below.
type unitStep struct {
	name     string
	size     float64
	decimals int
	below    float64
}

// stepped says v in the first of steps whose figure, as printed, is under
// its below; the last step whatever the figure. Trying each as printed
// keeps a figure that rounds up to the next step's out of this one's.
func stepped(v float64, steps []unitStep) string {
	var s string
	for _, st := range steps {
		num := strconv.FormatFloat(v/st.size, 'f', st.decimals, 64)
		x, _ := strconv.ParseFloat(num, 64)
		if st.decimals == 0 && x < math.MaxInt64 {
			num = commas(int64(x))
		}
		s = num + " " + st.name
		if x < st.below {
			break
		}
	}
	return s
}

// rateSteps are the rate's precisions.
var rateSteps = []unitStep{{"kB/s", 1e3, 1, 10}, {"kB/s", 1e3, 0, 1e3}, {"MB/s", 1e6, 1, 10}, {"MB/s", 1e6, 0, math.Inf(1)}}

// roundElapsed keeps three significant digits or so: 1.23s, 45ms, 870µs.
func roundElapsed(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// commas groups digits as alerts do.
func commas(n int64) string { return alert.GroupThousands(n) }

func humanBytes(n int64) string {
	if n < 1e3 {
		return fmt.Sprintf("%d B", n)
	}
	// Each unit is tried as printed, so a size that rounds up to 1000 of
	// one unit (999,999 bytes, "1000.0 kB") is said in the next ("1.0 MB").
	// EB is the last: an int64 holds 9.2 of them.
	return stepped(float64(n), byteUnits)
}

var byteUnits = []unitStep{{"kB", 1e3, 1, 1e3}, {"MB", 1e6, 1, 1e3}, {"GB", 1e9, 2, 1e3}, {"TB", 1e12, 2, 1e3}, {"PB", 1e15, 2, 1e3}, {"EB", 1e18, 2, math.Inf(1)}}

// progressMinBytes is the input size from which a progress bar is worth drawing.
const progressMinBytes = 64 << 20

// progressBar redraws one line on a terminal's stderr while a scan runs.
type progressBar struct {
	w        io.Writer
	analysed *atomic.Int64
	total    int64
	start    time.Time
	done     chan struct{}
	wg       sync.WaitGroup
}

// startProgress draws a bar when stderr is a terminal and the input is
// large; otherwise it returns nil, whose stop does nothing.
func startProgress(w io.Writer, done *atomic.Int64, total int64) *progressBar {
	if total < progressMinBytes || !isTerminal(w) {
		return nil
	}
	p := &progressBar{w: w, analysed: done, total: total, start: time.Now(), done: make(chan struct{})}
	p.wg.Add(1)
	go p.run()
	return p
}

func (p *progressBar) run() {
	defer p.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			fmt.Fprint(p.w, "\r\x1b[K")
			return
		case <-t.C:
			p.draw()
		}
	}
}

func (p *progressBar) draw() {
	read := p.analysed.Load()
	const width = 30
	frac := min(float64(read)/float64(p.total), 1)
	filled := int(frac * width)
	rate := float64(read) / 1e6 / max(time.Since(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %s / %s  %s MB/s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		frac*100, humanBytes(read), humanBytes(p.total), commas(int64(rate)))
}

func (p *progressBar) stop() {
	if p == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
}

// inputNotes names the inputs that held nothing graceguard judges: a
// scan of them must not read like a clean bill of health.
func inputNotes(s pipeline.Summary) []string {
	var notes []string
	judged := s.Judged()
	for _, in := range s.Inputs {
		switch {
		case in.OpenUnison > 0:
		case in.Proxy && !judged:
			notes = append(notes, fmt.Sprintf("%s is a proxy's access log (%s token requests): it names the clients of OpenUnison's token requests, "+
				"but nothing is judged without OpenUnison's own log: give both", in.Name, commas(in.ProxyRecords)))
		case !in.Proxy:
			if in.Compression != "" && !in.Decompressed {
				file := in.Name
				if file == "-" {
					file = "FILE"
				}
				notes = append(notes, fmt.Sprintf("%s: compressed (%s), which graceguard does not decompress: decompress it first (%s %s | graceguard … -)",
					in.Name, in.Compression, catOf[in.Compression], file))
				continue
			}
			name := in.Name
			if in.Decompressed {
				name += " (decompressed " + in.Compression + ")"
			}
			notes = append(notes, fmt.Sprintf("%s: no OpenUnison record and no proxy access-log line found in it (empty, or not a log graceguard reads)", name))
		}
	}
	return notes
}

// writeNothingJudged is the one line a quiet scan still prints when there
// was nothing to judge; unjudged as for writeSummary.
func writeNothingJudged(w io.Writer, s pipeline.Summary, unjudged int64) {
	if s.RulesJudged() {
		return
	}
	fmt.Fprintln(w, "graceguard: nothing was judged: "+nothingJudgedWhy(s, unjudged))
	if s.Interrupted {
		return
	}
	for _, note := range inputNotes(s) {
		fmt.Fprintf(w, "graceguard: note: %s\n", note)
	}
}

// nothingJudgedWhy says why a scan judged nothing. An interrupted one may
// have read records it had not judged yet: the input said nothing then.
// The words are watch's (watchNothingJudged), so one script reads both.
func nothingJudgedWhy(s pipeline.Summary, unjudged int64) string {
	if s.Interrupted {
		return "interrupted (SIGINT or SIGTERM) before any record was judged" + unjudgedNote(unjudged)
	}
	if !s.Judged() {
		return "no OpenUnison record in the input"
	}
	var n int64
	for _, in := range s.Inputs {
		n += in.OpenUnison
	}
	return fmt.Sprintf("no OpenUnison record the rules judge in the input (a token request, refusal or login): %s %s read, none of them",
		commas(n), plural(int(n), "record", "records"))
}

// unjudgedNote says what an interrupted scan read from a stream and did
// not judge, "" for nothing.
func unjudgedNote(unjudged int64) string {
	if unjudged <= 0 {
		return ""
	}
	return ": " + humanBytes(unjudged) + " read from a stream was waiting for the rest of its block, not judged"
}

// catOf is the command that decompresses each compression the pipeline
// names and does not decompress itself (pipeline.InputKind.Compression).
// logrotate's compresscmd may be any of them.
var catOf = map[string]string{"xz": "xzcat", "lz4": "lz4cat", "compress (.Z)": "zcat"}
