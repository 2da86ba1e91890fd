package sinks

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Two sinks of one destination. YAML anchors make them easily: an entry
// copied with - *base, or with <<: *base and a key forgotten, is a second
// sink (named type-1, type-2, so no name clash stops it) with the first's
// path or URL.
//
// Two file sinks writing one file are refused (sameFileProblems): each
// appends its own groups with its own write and fsync, so their groups
// interleave, an alert both take is in the file twice with one id (a SIEM
// reading the file counts it twice), a json and an ecs sink mix two
// schemas in one file, and where appends are not atomic (NFS) their
// writes can cut into each other's lines. No setting makes sharing a file
// useful, so it is an error, not a warning. A file sink on the
// dispatcher's own files (the dead-letter file, the sink journal, the
// delivery ledger) would mix alerts into them and is refused too.
//
// Two webhook, Slack or syslog sinks of one destination are allowed, with
// a warning when an alert can reach it twice (warnSameDestination). Each
// delivery is one whole request or message, so nothing is corrupted, and
// an operator may mean it: one endpoint with other rules, severities or
// throttles per entry. A webhook receiver can drop the repeat by its
// X-Graceguard-Alert-Id; Slack and most syslog collectors cannot, so it is
// said, at start and at each reload, not silently allowed. The
// destination compared is the receiver as far as graceguard can tell: a
// webhook's URL and headers (the same URL with another X-Tenant or
// Authorization is another receiver), a Slack webhook's URL or a bot's
// API and channel, a syslog collector with its facility and app name
// (collectors route on those). Warned about only when the two filters
// share a rule (severities always overlap: both take critical). The log
// shows the destination as the sink's String does, redacted.

// sameFileWhy is the consequence a same-file problem states.
const sameFileWhy = "; two writers would interleave and double its alerts: give each file sink its own path"

// ownFile is a file the dispatcher writes itself.
type ownFile struct{ what, path string }

// ownFiles are the files a dispatcher made with opt writes.
func (opt DispatcherOptions) ownFiles() []ownFile {
	var out []ownFile
	dead := opt.DeadLetterPath
	if dead == "" && opt.StateDir != "" {
		dead = filepath.Join(opt.StateDir, DeadLetterFile)
	}
	if dead != "" {
		out = append(out, ownFile{"dead-letter file", dead})
	}
	if opt.StateDir != "" {
		out = append(out, ownFile{"sink journal", filepath.Join(opt.StateDir, JournalFile)},
			ownFile{"delivery ledger", filepath.Join(opt.StateDir, LedgerFile)})
	}
	return out
}

// sameFileProblems lists the file sinks of cfgs that write a file an
// earlier one does, or one of own, each as "ORIGIN: writes …". A file is
// the same when its cleaned absolute path is, with the symlinks of the
// part that exists resolved, or when both exist and are one file
// (os.SameFile: a hard link, a bind mount).
func sameFileProblems(cfgs []Config, own []ownFile) []string {
	var problems []string
	owns := make([]writtenFile, len(own))
	for i, o := range own {
		owns[i] = locate(o.path)
	}
	type written struct {
		c Config
		f writtenFile
	}
	var files []written
next:
	for _, c := range cfgs {
		fc, ok := c.Sink.(*FileConfig)
		if !ok || fc.Path == "" {
			continue
		}
		f := locate(fc.Path)
		for i, o := range owns {
			if f.same(o) {
				problems = append(problems, fmt.Sprintf("%s: writes the %s (%s); give the file sink a path of its own", c.Origin, own[i].what, own[i].path))
				continue next
			}
		}
		for _, w := range files {
			if f.same(w.f) {
				problems = append(problems, fmt.Sprintf("%s: writes the same file as %s%s", c.Origin, w.c.ref(c), sameFileWhy))
				continue next
			}
		}
		files = append(files, written{c, f})
	}
	return problems
}

// writtenFile is where a path leads, to tell two paths of one file.
type writtenFile struct {
	path string      // absolute, cleaned, the symlinks of its existing part resolved
	fi   os.FileInfo // nil when nothing is there yet
}

func locate(path string) writtenFile {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	w := writtenFile{path: abs}
	if fi, err := os.Stat(abs); err == nil {
		w.fi = fi
	}
	// The file need not exist yet (a sink creates it, and its directory):
	// resolve the longest part that does, so logs/a.jsonl and
	// /var/log/graceguard/a.jsonl meet when logs links there.
	for dir, rest := abs, ""; ; {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			w.path = filepath.Join(real, rest)
			return w
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return w
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

func (w writtenFile) same(o writtenFile) bool {
	return w.path == o.path || (w.fi != nil && o.fi != nil && os.SameFile(w.fi, o.fi))
}

// destined is a sink that can say where it delivers: a key equal for two
// sinks of one receiver. The key may hold a secret (a webhook URL): it is
// compared, never shown.
type destined interface {
	destination() string
}

func (w *Webhook) destination() string {
	var b strings.Builder
	b.WriteString("webhook\x00" + w.opt.URL.Reveal())
	for _, k := range slices.Sorted(maps.Keys(w.opt.Headers)) {
		b.WriteString("\x00" + strings.ToLower(k) + "=" + w.opt.Headers[k])
	}
	return b.String()
}

func (s *Slack) destination() string {
	if s.api != nil {
		api := s.opt.APIURL
		if api == "" {
			api = defaultSlackAPIURL
		}
		return "slack bot\x00" + api + "\x00" + s.opt.Channel
	}
	return "slack webhook\x00" + s.opt.WebhookURL.Reveal()
}

func (s *Syslog) destination() string {
	return "syslog\x00" + s.opt.Network + "\x00" + s.opt.Address + "\x00" + strconv.Itoa(s.facility) + "\x00" + s.opt.AppName
}

// warnSameDestination logs each route whose sink delivers where an
// earlier one's does and whose filter shares a rule with it (see the
// comment at the top of this file for why this is a warning). origins[i]
// is where routes[i] was configured.
func warnSameDestination(routes []Route, origins []string, log *slog.Logger) {
	type dest struct {
		key    string
		origin string
		filter Filter
	}
	var seen []dest
	for i, r := range routes {
		d, ok := r.Sink.(destined)
		if !ok {
			continue
		}
		key := d.destination()
		for _, s := range seen {
			if s.key == key && s.filter.overlaps(r.Filter) {
				log.Warn("two sinks deliver to the same place; an alert both take arrives there twice",
					"sink", r.Name, "origin", origins[i], "same_as", s.origin, "to", fmt.Sprint(r.Sink))
				break
			}
		}
		seen = append(seen, dest{key, origins[i], r.Filter})
	}
}

// overlaps reports whether some alert passes both filters: any does when
// either takes every rule, else one of a rule both name. Severities
// always overlap, since both take critical.
func (f Filter) overlaps(g Filter) bool {
	if len(f.Rules) == 0 || len(g.Rules) == 0 {
		return true
	}
	return slices.ContainsFunc(f.Rules, func(r string) bool { return slices.Contains(g.Rules, r) })
}
