package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Batch is what a Follower hands on: complete lines from one file, or news
// about it. Data is the caller's to keep.
type Batch struct {
	Key  string // the stream: one file (one generation of it, after a truncation)
	Path string // the name it was found under
	// Log, for a rotated generation found beside the file it was rotated
	// from (by a rotation noticed late, or while graceguard was down; a
	// copytruncate's copy), is that file's path: its lines are that log's,
	// whatever name the generation has now. Empty otherwise.
	Log    string
	ID     FileID // the file's identity, for checkpoints
	Data   []byte // whole lines, each ending in '\n'
	Offset int64  // file offset of Data[0]
	Idle   bool   // the file has nothing more for now: records being joined can go
	Ended  bool   // the stream is over (rotated away and drained, deleted, or truncated)
	// Drained, in an Idle batch, says the file has been at its end for a
	// drain's quiet already (DrainQuiet): a rotated generation read to its
	// end and left, watched only for lines its writer may still append
	// late (endedwatch.go). A reader merging by time holds the others back
	// for it no longer, as it would for a file that just reached its end,
	// whose writer may be a moment late.
	Drained bool
	// Away says the source lost its connection and is reconnecting (a
	// container's log stream the API server ended): not at its end, as
	// lines written meanwhile come when it is back, stamped before what
	// other sources bring now; it holds a reader merging by time as a
	// source being read does, which a stalled one stops doing after a
	// while. A source away says so again while it waits, briefly.
	Away bool
	// A batch with none of Data, Idle and Ended announces a file as it is
	// opened, before any file's data.
	// Behind, in an announcement, is the Key of the older generation of the
	// same path the file comes after (a rotation's or a truncation's, or
	// one rotated while graceguard was down): its lines are read only once
	// that one has been read to its end, so they all come after that
	// one's, and a reader merging by time keeps them after those it still
	// holds where their times tie.
	Behind string
	// Cursor, for a stream that cannot be resumed by byte offset (a
	// Kubernetes container's log), names where Data[0] starts, or where the
	// next data will start in an Idle or Ended batch. It is opaque outside
	// the source that made it; files leave it empty.
	Cursor string
	// Written is when the source's own clock says Data's last line was
	// written: a container log's kubelet stamp. Zero where it does not say
	// (files, whose Size tells what is left to read instead).
	Written time.Time
	// Size is the file's size as last seen, at least the end of Data (0:
	// unknown), for a checkpoint's Position.Size; an announcement's is the
	// size at the file's opening.
	Size int64
	// Head, in the announcement of a file opened at its path, is its
	// first bytes (up to headSize, whole lines): what kind of log it is
	// can be told before any file's data. A reader joining OpenUnison's
	// log to a proxy's must know the proxy's is coming before it takes the
	// first token event, and the files' data come one file after another.
	Head []byte
}

// headSize bounds Batch.Head.
const headSize = 16 << 10

// Options configure a Follower.
type Options struct {
	Patterns []string // paths or globs; "-" is stdin
	FromEnd  bool     // skip what files hold when first seen at start-up
	// Poll is how often a file is looked at where events do not wake the
	// follower: with PollOnly, outside Linux, and on filesystems that send
	// no events (20ms). wake.go says when a file is looked at.
	Poll time.Duration
	// PollOnly looks at every file every Poll, with no file events.
	PollOnly bool
	// Safety is how often every file is looked at although no event came,
	// to notice files whose events do not arrive (1s).
	Safety time.Duration
	// SafetyMax is how far apart safety looks back off to once events are
	// seen to arrive where every file is (10s; wake.go).
	SafetyMax time.Duration
	// Rescan is how often globs are matched again for new files (1s).
	Rescan time.Duration
	// DrainQuiet is how long a rotated-away file must stay quiet before it
	// is closed: a writer may still append to it until it reopens (2s).
	DrainQuiet time.Duration
	// Positions are where a previous run stopped.
	Positions []Position
	// PositionsWritten is when the checkpoint Positions come from was
	// written (zero: unknown). A file they do not name that was made after
	// it (its birth time) is no history: it is read from its start, also
	// with FromEnd, and so are its generations made after it.
	PositionsWritten time.Time
	Stdin            io.Reader
	Logger           *slog.Logger
}

// Follower follows files and stdin.
type Follower struct {
	opt      Options
	out      chan<- Batch
	tailers  []*tailer
	seen     map[string]bool // paths being followed (not draining)
	restored []Position
	// restoredPath holds the paths the checkpoint named: a file found
	// there that it does not name is a newer generation, read from its
	// start even with FromEnd.
	restoredPath map[string]bool
	buf          []byte
	health       health
	removed      map[string]*tailer // by path, the file last followed there
	log          *slog.Logger
	gen          int
	// stdinDone closes when stdin ends; with no file patterns that ends Run.
	stdinDone chan struct{}
	lost      atomic.Uint64 // files gone before they were read (lost.go)
	// ended are the drained generations watched for late lines
	// (endedwatch.go), kept endedFor unchanged and endedTotal in all
	// (tests shorten them); unwatched counts those dropped while they
	// still existed.
	ended      []*endedGen
	endedFor   time.Duration
	endedTotal int
	unwatched  atomic.Uint64
	// unread are the generations a checkpoint named as announced and not
	// read yet (Position.Unread): looked for only to say they are gone.
	unread []Position
	// saidUnborn: that birth times are unknown here was logged.
	saidUnborn bool

	// When to look (wake.go): the notifier (nil when polling), the
	// directories watched by name and by watch, how many tailers share a
	// file's watch, the directories polled because events do not arrive.
	events      notifier
	newNotifier func() (notifier, error)
	dirWatch    map[string]int
	watchDirs   map[int]string
	watchRefs   map[int]int
	pollDirs    map[string]bool
	proven      map[string]bool // directories events were seen in
	// targetRefs counts the tailers whose symbolic link names a file in
	// each directory watched for them (watchTarget).
	targetRefs  map[string]int
	safetyEvery time.Duration // the wait before the next safety look
	nextSafety  time.Time
	nextPoll    time.Time
	timer       *time.Timer

	// hooks are set by tests only, to rotate the file at the moments
	// a descheduled follower could find it rotated.
	hooks followHooks
}

// followHooks run, when set (tests), at the points their names say.
type followHooks struct {
	// soughtCopy: in followTruncated, between the look for the copy and
	// the look at the file now at the path.
	soughtCopy func()
	// lookedAgain: in followTruncated, between the look at the file now
	// at the path and following it.
	lookedAgain func()
	// checkedBeforeRead: in step, between the look for a truncation and
	// the read.
	checkedBeforeRead func()
	// afterRead: in step, between a read that brought bytes and the look
	// whether the file was truncated under it.
	afterRead func()
	// truncatedAsRead: when that look follows a truncation.
	truncatedAsRead func()
	// listedGenerations: in followNewer, between listing a path's
	// generations and opening them.
	listedGenerations func()
	// statingGeneration: in a listing of a path's generations, between
	// the directory's read and the stat of each name read (the name).
	statingGeneration func(name string)
	// checkingRotation: in checkRotated, after the look that found the
	// file's end and before the look at its path.
	checkingRotation func()
	// leftPath: in checkRotated, once the file is seen gone from its path
	// (renamed or deleted) and read to its end.
	leftPath func()
}

func (h *followHooks) run(hook func()) {
	if hook != nil {
		hook()
	}
}

const (
	// readChunk bounds one read, and so the memory one batch takes.
	readChunk = 1 << 20
	// quietChunk is the read buffer while files grow slowly: 64 KiB per
	// poll is thousands of lines. A read that fills it switches to
	// readChunk, and quietAfter without new data switches back, so an idle
	// watch does not keep a backlog's MiB for ever.
	quietChunk = 64 << 10
	quietAfter = time.Second
	// mtimeGrain is more than a tick of the clock the kernel stamps a
	// file's changes with (1–10 ms).
	mtimeGrain = 50 * time.Millisecond
)

// New returns a Follower that will send to out.
func New(opt Options, out chan<- Batch) *Follower {
	if opt.Poll <= 0 {
		opt.Poll = 20 * time.Millisecond
	}
	if opt.Rescan <= 0 {
		opt.Rescan = time.Second
	}
	if opt.Safety <= 0 {
		opt.Safety = time.Second
	}
	if opt.SafetyMax <= 0 {
		opt.SafetyMax = 10 * time.Second
	}
	if opt.DrainQuiet <= 0 {
		opt.DrainQuiet = 2 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Follower{opt: opt, out: out, seen: map[string]bool{}, restoredPath: map[string]bool{}, removed: map[string]*tailer{}, buf: make([]byte, quietChunk), log: opt.Logger, stdinDone: make(chan struct{})}
	f.restored, f.unread = splitUnread(opt.Positions)
	for i, p := range f.restored {
		f.restoredPath[p.Path] = true
		if p.Offset < 0 {
			// Only a damaged checkpoint says so; the start is the one
			// offset a seek and the bytes handed on can agree on.
			f.log.Warn("the checkpoint's offset of a file is negative: it is damaged; the file is read from its start", "path", p.Path, "offset", p.Offset)
			f.restored[i].Offset = 0
		}
	}
	f.newNotifier = newNotifier
	f.dirWatch, f.watchDirs, f.watchRefs, f.pollDirs, f.proven = map[string]int{}, map[int]string{}, map[int]int{}, map[string]bool{}, map[string]bool{}
	f.targetRefs = map[string]int{}
	f.endedFor, f.endedTotal = endedFor, endedTotal
	f.health.init(opt.Patterns)
	return f
}

// Run follows until ctx ends, or stdin ends when it is the only source. It
// returns nil on cancellation.
func (f *Follower) Run(ctx context.Context) error {
	stdinOnly := f.startStdin(ctx)
	f.startEvents()
	defer f.stopEvents()
	defer f.closeEnded()
	f.timer = time.NewTimer(time.Hour)
	defer f.timer.Stop()
	f.rescan(ctx, true)
	lastScan, lastRead := time.Now(), time.Now()
	for {
		if len(f.buf) > quietChunk && time.Since(lastRead) >= quietAfter {
			// Before reading what woke it, so the first read after a quiet
			// spell is small again.
			f.buf = make([]byte, quietChunk)
		}
		rescan := f.markDue(time.Now())
		busy, err := f.lookAll(ctx)
		if err != nil {
			return err
		}
		if busy {
			lastRead = time.Now()
		}
		f.retire(ctx)
		if rescan || (f.events == nil || f.opt.Rescan < f.opt.Safety) && time.Since(lastScan) >= f.opt.Rescan {
			f.rescan(ctx, false)
			lastScan = time.Now()
			// The ended generations' look where no event comes for them
			// (polling, other systems; with events, at safety looks).
			f.markEnded(nil, true)
		}
		f.lookEnded(ctx)
		if f.anyDue() {
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		if f.sleep(ctx, stdinOnly, f.nextLook(lastScan)) {
			return nil
		}
	}
}

// startStdin reads stdin when a pattern is "-", and returns a channel that
// closes when it ends if it is the only thing to follow.
func (f *Follower) startStdin(ctx context.Context) <-chan struct{} {
	stdin, files := false, false
	for _, p := range f.opt.Patterns {
		if p == "-" {
			stdin = true
		} else {
			files = true
		}
	}
	if stdin {
		go f.readStdin(ctx)
	}
	if stdin && !files {
		return f.stdinDone
	}
	return nil
}

// lookAll looks at the tailers due, and reports whether any read. Each
// gets one step (at most one read, one batch) a round, in turn, and only
// Run's goroutine reads: a reader of the batches may take a file silent
// while the others' batches keep coming for one not come round to yet,
// not a hung read (pipeline's merge does, order.go's stalled), which
// reading a backlog to its end before the next file, or files on
// goroutines of their own, would make untrue
// (TestFollowerReadsBacklogsInTurn).
func (f *Follower) lookAll(ctx context.Context) (bool, error) {
	busy := false
	for _, t := range f.tailers {
		if !t.due || t.waiting() {
			continue
		}
		did, err := f.step(ctx, t)
		if err != nil {
			return busy, err
		}
		f.looked(t, did)
		// One that read is looked at again at once, until it has nothing.
		t.due = did
		busy = busy || did
	}
	return busy, nil
}

// anyDue reports whether a tailer is to be looked at again at once.
func (f *Follower) anyDue() bool {
	for _, t := range f.tailers {
		if t.due && !t.waiting() {
			return true
		}
	}
	return false
}

// sleep waits for an event or until the next look, and reports whether
// the follower is to stop.
func (f *Follower) sleep(ctx context.Context, stdinOnly <-chan struct{}, until time.Time) bool {
	f.timer.Reset(max(time.Until(until), time.Millisecond))
	var events <-chan struct{}
	if f.events != nil {
		events = f.events.changes()
	}
	select {
	case <-ctx.Done():
		return true
	case <-stdinOnly:
		return true
	case <-events:
	case <-f.timer.C:
	}
	f.timer.Stop()
	return false
}

func (f *Follower) send(ctx context.Context, b Batch) bool {
	select {
	case f.out <- b:
		return true
	case <-ctx.Done():
		return false
	}
}

// rescan matches the patterns and starts following new files.
func (f *Follower) rescan(ctx context.Context, startup bool) {
	var paths []string
	for _, p := range f.opt.Patterns {
		if p == "-" {
			continue
		}
		matches, err := glob(p)
		if err != nil {
			f.log.Error("bad pattern", "pattern", p, "err", err)
			continue
		}
		f.noteMatches(p, len(matches))
		paths = append(paths, matches...)
	}
	sort.Strings(paths)
	f.watchPatternDirs()
	for _, p := range paths {
		if f.seen[p] {
			continue
		}
		// A file's generations are read through it (generations.go):
		// opened on their own, a drained one renamed again by the next
		// rotation, or a copytruncate's copy, was read a second time.
		// A base sorts before its generations, so it is opened first.
		if f.generationOfFollowed(p) {
			continue
		}
		err := f.open(ctx, p, startup, startup && matchesGenerations(p, paths))
		// A path found that names no file (a /var/log/containers link
		// while the kubelet rotates its target, or once its pod is gone;
		// a file gone since the listing) is nothing to read yet, as a
		// literal path that does not exist: a note, not a fault.
		missing := errors.Is(err, fs.ErrNotExist)
		f.noteMissing(p, missing)
		if missing {
			err = nil
		}
		f.setProblem(p, err)
	}
	if startup {
		f.warnUnfound(ctx)
	}
	f.health.started()
}

// generationOfFollowed reports whether p is a rotated generation (by its
// name) of a file being followed, or renamed away from its path and
// drained: that file's tailer reads what p holds that it has not read
// (a rotation's generations, a copytruncate's copy), and nothing else.
func (f *Follower) generationOfFollowed(p string) bool {
	for q := range f.seen {
		if f.seen[q] && IsGenerationOf(p, q) {
			return true
		}
	}
	for q := range f.removed {
		if IsGenerationOf(p, q) {
			return true
		}
	}
	return false
}

// matchesGenerations reports whether paths hold a rotated generation of
// path.
func matchesGenerations(path string, paths []string) bool {
	return slices.ContainsFunc(paths, func(p string) bool { return IsGenerationOf(p, path) })
}

func hasMeta(p string) bool { return bytes.ContainsAny([]byte(p), `*?[\`) }

// open starts following path: from a restored position when the file there
// is the one it names, from the end with FromEnd at start-up, else from the
// start. A restored file that was rotated away while graceguard was down is
// found by its identity among its siblings and drained first. globbed says
// the patterns match path's generations too: at a start that knows none of
// them they are read first, oldest first, as files seen for the first time.
func (f *Follower) open(ctx context.Context, path string, startup, globbed bool) error {
	file, err := openRegular(path)
	if err != nil {
		return err
	}
	seen, err := sight(file)
	if err != nil {
		file.Close()
		return fmt.Errorf("identify %s: %w", path, err)
	}
	id := seen.id
	if f.followingFile(id) {
		// A rotated generation a glob also matches: its tailer reads it.
		file.Close()
		f.seen[path] = true
		return nil
	}
	var (
		prev     *tailer
		later    []generation
		finished []*readMark
	)
	if startup {
		prev, later, finished = f.startGenerations(ctx, path, file, globbed)
	}
	if r := f.removed[path]; r != nil {
		// The file was renamed away before its successor came: others may
		// have come and gone in between.
		delete(f.removed, path)
		from := r.newestChained()
		closeGenerations(later)
		prev, later = f.followNewer(path, FileID{Dev: from.dev, Ino: from.ino}, from.modTime, from, file, nil, FileID{})
		f.announce(ctx, prev, from)
	}
	var start int64
	switch pos, ok := f.takeRestored(file, path); {
	case ok:
		start = pos.Offset
		if st, err := file.Stat(); err == nil && st.Size() < start {
			f.log.Warn("file is shorter than its checkpoint: it was truncated; reading it from the start", "path", path)
			start = 0
		}
	case startup && f.opt.FromEnd && !f.restoredPath[path] && !f.madeSinceCheckpoint(file, path):
		if st, err := file.Stat(); err == nil {
			start = st.Size()
		}
	}
	if startup {
		f.drainRotatedWhileDown(ctx, path)
	}
	f.seen[path] = true
	t := f.addTailer(file, path, id, start, &seen)
	t.after = prev
	t.readBefore = finished
	// Announced before any file's data: a reader merging files by time
	// must know every file there is before it lets the first one's
	// events go.
	f.send(ctx, Batch{Key: t.key, Path: t.path, Log: t.log, ID: t.id, Offset: t.offset, Behind: behind(t), Head: head(file), Size: sizeOf(file)})
	f.chainLater(ctx, path, t, later)
	return nil
}

// madeSinceCheckpoint reports whether file, at path, was made after the
// checkpoint the restored positions come from was written: they cannot
// name it, and what it holds was written while graceguard was down (a
// container restarted meanwhile logs to a new file, under a new link
// name in /var/log/containers), not before it was started. Unknown (no
// positions, or no time for them, or no birth time for the file: other
// systems, some filesystems), it is not, and that birth times are
// unknown is said once.
func (f *Follower) madeSinceCheckpoint(file *os.File, path string) bool {
	if len(f.opt.Positions) == 0 || f.opt.PositionsWritten.IsZero() {
		return false
	}
	born, ok := bornOf(file)
	if !ok {
		if !f.saidUnborn {
			f.saidUnborn = true
			f.log.Info("when files were made is unknown here: a file the checkpoint does not name is taken for one made before it (with --from end, read from its end; its rotated generations are not read)", "path", path)
		}
		return false
	}
	return born.After(f.opt.PositionsWritten.Add(-bornSlack))
}

// bornSlack is how much earlier than the checkpoint a file may be born and
// still be taken for one made since. The kernel stamps a birth with its
// coarse clock, a tick (up to 10 ms) behind the time the checkpoint took,
// so a file made just after it looked made before, and was skipped with
// FromEnd; a file made just before it may not be named by it either (not
// yet found by the once-a-second look, or its announcement still queued).
// The previous run would have read either from its start.
const bornSlack = 2 * time.Second

// sizeOf is file's size for its announcement (0: unknown): a reader joining
// OpenUnison's log to a proxy's knows from it that the proxy's has lines
// to come while it reads the others' first.
func sizeOf(file *os.File) int64 {
	st, err := file.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// head reads the whole lines among file's first headSize bytes; nil when
// there are none.
func head(file *os.File) []byte {
	buf := make([]byte, headSize)
	n, _ := file.ReadAt(buf, 0)
	if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
		return buf[:i+1]
	}
	return nil
}

// addTailer follows file from start under id. seen is the look id was
// taken at (nil: id comes from elsewhere, a checkpoint): the first look at
// the file compares its size and time with the ones seen then, before its
// bytes were read (see sighting).
func (f *Follower) addTailer(file *os.File, path string, id FileID, start int64, seen *sighting) *tailer {
	f.gen++
	t := &tailer{
		f: file, path: path, id: id, offset: start,
		key: fmt.Sprintf("%s#%d:%d#%d", path, id.Dev, id.Ino, f.gen),
	}
	if seen == nil {
		at := time.Now()
		if st, err := file.Stat(); err == nil {
			seen = &sighting{info: st, at: at}
		}
	}
	if seen != nil {
		t.dev, t.ino = devIno(seen.info)
		t.lastSize, t.modTime, t.lookedAt = seen.info.Size(), seen.info.ModTime(), seen.at
	}
	if _, err := file.Seek(start, io.SeekStart); err != nil {
		f.log.Warn("seek", "path", path, "err", err)
	}
	t.rememberTail()
	t.rememberHead()
	f.watch(t)
	f.tailers = append(f.tailers, t)
	f.log.Debug("following", "path", path, "offset", start, "file", id.String())
	return t
}

// takeRestored finds the saved position of the file now at path. A
// checkpoint can name one file twice, under the fingerprints of two sizes
// (taken empty, and again with lines, kill -9s between): the furthest read
// is taken, and the others with it, or a later look would report them as
// a generation deleted unread and this one read again from its start.
func (f *Follower) takeRestored(file *os.File, path string) (Position, bool) {
	var (
		best  Position
		found bool
	)
	f.restored = slices.DeleteFunc(f.restored, func(pos Position) bool {
		if !matches(file, pos.ID) {
			return false
		}
		if !found || pos.Offset > best.Offset {
			best = pos
		}
		found = true
		return true
	})
	return best, found
}

// drainRotatedWhileDown looks, beside path, for files that saved positions
// name but that now go by another name (rotated while graceguard was down),
// and reads what was appended to them after the checkpoint. A sibling the
// patterns match is followed at its own path, from its own position, by
// the rescan under way: taken here for a rotated file, it was drained and
// dropped once quiet for DrainQuiet, and the rescan, finding its file
// read, never followed it (a restart over /var/log/containers/*.log
// followed the first link alone after two seconds).
func (f *Follower) drainRotatedWhileDown(ctx context.Context, path string) {
	siblings, _ := glob(filepath.Join(filepath.Dir(path), "*"))
	for _, s := range siblings {
		if f.seen[s] || s == path || f.followedPath(s) {
			continue
		}
		file, err := openRegular(s)
		if err != nil {
			continue
		}
		pos, ok := f.takeRestored(file, s)
		if !ok {
			file.Close()
			continue
		}
		f.log.Info("draining a file rotated while graceguard was down", "path", s, "offset", pos.Offset)
		t := f.addTailer(file, s, pos.ID, pos.Offset, nil)
		t.log = path
		t.draining, t.quietSince = true, time.Now()
	}
}

// retire drops ended tailers; a drained generation's file stays watched
// for late lines (watchEnded).
func (f *Follower) retire(ctx context.Context) {
	var ended []*tailer
	kept := f.tailers[:0]
	for _, t := range f.tailers {
		if t.ended {
			ended = append(ended, t)
			continue
		}
		kept = append(kept, t)
	}
	clear(f.tailers[len(kept):])
	f.tailers = kept
	for _, t := range ended {
		if f.watchEnded(ctx, t) {
			f.unwatchTarget(t)
			continue
		}
		f.unwatch(t)
		t.f.Close()
	}
}

// step reads what is new in one file and looks for rotation and
// truncation when there is nothing new. It reports whether it read anything.
func (f *Follower) step(ctx context.Context, t *tailer) (bool, error) {
	if !t.draining {
		switch f.checkTruncated(ctx, t) {
		case followedTruncation:
			return true, nil
		case unchangedAtEnd:
			// A read would return nothing: one system call fewer a look
			// at an idle file (a safety look every second at every file
			// where no event has arrived yet).
			f.atEnd(ctx, t)
			return false, nil
		}
	}
	buf, arr := f.readBuffer(t)
	f.hooks.run(f.hooks.checkedBeforeRead)
	n, err := t.f.Read(buf)
	if n > 0 {
		f.hooks.run(f.hooks.afterRead)
	}
	if n > 0 && f.truncatedUnderRead(ctx, t, n) {
		Recycle(arr)
		return true, nil
	}
	if n > 0 && t.offset == 0 && len(t.partial) == 0 && f.copiedUnread(ctx, t, buf[:n]) {
		// Read again once the copies before it are: nothing was handed on.
		Recycle(arr)
		_, err := t.f.Seek(0, io.SeekStart)
		return err == nil, nil
	}
	if n > 0 {
		t.learnHead(t.offset+int64(len(t.partial)), buf[:n])
		sent := false
		if arr != nil {
			sent = f.emitRead(ctx, t, arr, n)
		} else {
			sent = f.emitData(ctx, t, buf[:n])
		}
		if !sent {
			return false, nil
		}
		if n == len(f.buf) && n < readChunk {
			f.buf = make([]byte, readChunk) // a backlog: read it in large chunks
		}
		t.idleSent, t.quietSince = false, time.Time{}
		return true, nil
	}
	Recycle(arr)
	if err != nil && !errors.Is(err, io.EOF) {
		f.setProblem(t.path, fmt.Errorf("read: %w", err))
		return false, nil
	}
	f.atEnd(ctx, t)
	return false, nil
}

// truncatedUnderRead notices a file truncated since checkTruncated looked
// at it. Truncated and rewritten before the read, the n bytes just read
// are the new file's, not the continuation of the ones read before: they
// are not handed on (a copytruncate's copy holds the old file's), and the
// truncation is followed. Truncated after the read, they are the old
// file's, and handed on (logrotate's copytruncate copies first, so the
// lines written between its copy and its truncation are in this read, not
// in the copy): the file then no longer holds bytes where they were read,
// while a rewrite before the read left the file at least that long. Only a
// truncation and a rewrite to that length both after the read, within
// these few microseconds, are taken for the first case.
func (f *Follower) truncatedUnderRead(ctx context.Context, t *tailer, n int) bool {
	if t.draining || t.holdsWhatWasRead(t.f) {
		return false
	}
	readTo := t.offset + int64(len(t.partial)) + int64(n)
	if st, err := t.f.Stat(); err == nil && st.Size() < readTo {
		return false // the next look follows the truncation
	}
	f.hooks.run(f.hooks.truncatedAsRead)
	f.log.Info("file truncated as it was read", "path", t.path, "read_offset", t.offset+int64(len(t.partial)))
	f.followTruncated(ctx, t)
	return true
}

// atEnd is a look that found nothing new: the file is idle; a drained one
// ends once quiet long enough; else rotation is looked for.
func (f *Follower) atEnd(ctx context.Context, t *tailer) {
	t.caughtUp = true
	if !t.idleSent {
		t.idleSent = true
		if !f.send(ctx, Batch{Key: t.key, Path: t.path, Log: t.log, ID: t.id, Offset: t.offset, Idle: true, Size: max(t.lastSize, t.offset)}) {
			return
		}
	}
	if t.quietSince.IsZero() {
		t.quietSince = time.Now()
	}
	if t.draining {
		// Quiet since its last change, not since this process looked: a
		// restart soon after a rotation must not drain it afresh, or the
		// positions of drained generations pile up in checkpoints of a
		// watcher restarted often.
		quiet := t.quietSince
		if st, err := t.f.Stat(); err == nil && st.ModTime().Before(quiet) {
			quiet = st.ModTime()
		}
		// But not since before this process saw it leave its path: its
		// writer appends to it until it reopens, after the rotation,
		// however long it was quiet before. Closed at once, a quiet
		// log's lines written before the reopen were lost.
		if quiet.Before(t.leftAt) {
			quiet = t.leftAt
		}
		t.drainAt = quiet.Add(f.opt.DrainQuiet)
		if !time.Now().Before(t.drainAt) {
			t.keep = true
			f.end(ctx, t, "rotated file drained")
		}
		return
	}
	if t.checkPath {
		// Every poll; with events, when its directory changed (a rotation
		// renames, deletes or creates a name there) and at safety looks.
		t.checkPath = false
		f.checkRotated(ctx, t)
	}
}

// readToEnd reads what the file t just stopped naming holds now. The look
// that found its end came before the rotation was seen, and its writer
// may have written between the two: the generations chained after t are
// read once t was read to its end (waiting), which that look said it was,
// so these lines would come after theirs.
func (f *Follower) readToEnd(ctx context.Context, t *tailer) {
	for {
		more, err := f.step(ctx, t)
		if !more || err != nil || t.ended {
			return
		}
	}
}

// readBuffer is where the next read of t goes: while a backlog is read
// in large chunks, straight into a batch's array after t's unfinished line
// (arr, its first len(t.partial)+n bytes the batch's once n are read), so
// the lines are not copied again on their way out; else into the
// follower's buffer (arr nil).
func (f *Follower) readBuffer(t *tailer) (buf, arr []byte) {
	if len(f.buf) < readChunk {
		return f.buf, nil
	}
	p := len(t.partial)
	arr = append(batchArray(p+readChunk), t.partial...)
	return arr[p : p+readChunk], arr
}

// emitRead is emitData for n bytes read into arr after t's unfinished line
// (readBuffer): the batch is arr itself, cut after its last newline.
func (f *Follower) emitRead(ctx context.Context, t *tailer, arr []byte, n int) bool {
	p := len(t.partial)
	last := bytes.LastIndexByte(arr[p:p+n], '\n')
	if last < 0 || p+last+1 < recycleMin {
		// No line ends in it (the unfinished line grows), or a few lines
		// (another file's, while one is behind): emitData keeps or copies
		// them, and the array goes back at once rather than stay behind a
		// small batch.
		ok := f.emitData(ctx, t, arr[p:p+n])
		Recycle(arr)
		return ok
	}
	t.partial = append(t.partial[:0], arr[p+last+1:p+n]...)
	return f.sendLines(ctx, t, arr[:p+last+1])
}

// emitData hands on the whole lines in data, keeping an unfinished last
// line until its newline comes.
func (f *Follower) emitData(ctx context.Context, t *tailer, data []byte) bool {
	// partial holds no newline (an unfinished line), so the batch ends at
	// data's last one: the lines go out with one copy, not two through
	// partial.
	var out []byte
	if last := bytes.LastIndexByte(data, '\n'); last >= 0 {
		if out = batchArray(len(t.partial) + last + 1); out != nil {
			out = append(append(out, t.partial...), data[:last+1]...)
		} else {
			// Appending past partial's length (its capacity cut there)
			// makes a new array holding both, which the runtime need not
			// zero first as it must a make.
			out = append(t.partial[:len(t.partial):len(t.partial)], data[:last+1]...)
		}
		t.partial = append(t.partial[:0], data[last+1:]...)
	} else {
		t.partial = append(t.partial, data...)
		if len(t.partial) <= 2*readChunk {
			return true
		}
		// A line this long is cut downstream anyway; hand it on rather
		// than hold it without bound.
		out = bytes.Clone(t.partial)
		t.partial = t.partial[:0]
	}
	return f.sendLines(ctx, t, out)
}

// sendLines hands on out, whole lines at t's offset, once t.partial holds
// what follows them.
func (f *Follower) sendLines(ctx context.Context, t *tailer, out []byte) bool {
	if cap(t.partial) > 64<<10 && len(t.partial) < 4<<10 {
		// A backlog grew the buffer; an idle file should not keep it.
		t.partial = append([]byte(nil), t.partial...)
	}
	if t.id.FingerprintLen < len(t.head) && t.ino == t.id.Ino {
		// The file was short when first seen: identify it by more of it,
		// before the batch whose position a checkpoint may save.
		if id := t.id.grown(t.head); id != (FileID{}) {
			t.id = id
		}
	}
	// The tail is taken before out goes: from then on it is the reader's,
	// who may hand it back to be filled again (Recycle) at once.
	t.extendTail(out)
	ok := f.send(ctx, Batch{Key: t.key, Path: t.path, Log: t.log, ID: t.id, Data: out, Offset: t.offset, Size: max(t.lastSize, t.offset+int64(len(out)))})
	t.offset += int64(len(out))
	return ok
}

// batches holds the arrays of large batches their reader handed back
// (Recycle), to be filled again: a backlog's batch is a MiB, and a new
// array for each was the follower's main cost in catching up (the kernel
// faulting in fresh pages, the runtime zeroing them). A sync.Pool, so an
// idle process keeps none of them past two collections.
var batches sync.Pool // of *[]byte

// recycleMin is the least capacity worth keeping: a live file's batches
// are a few lines.
const recycleMin = readChunk / 2

// Recycle hands a batch's Data back once its reader is done with it and
// holds nothing that points into it; the follower may fill it again for a
// later batch. Calling it is optional: Data stays the reader's to keep.
func Recycle(data []byte) {
	if cap(data) < recycleMin {
		return
	}
	data = data[:0]
	batches.Put(&data)
}

// batchArray returns an empty slice with room for n bytes when n is large:
// a recycled array, else a new one with room for a chunk and a long
// unfinished line, so that it fits the batches after it when it comes
// back. It returns nil for a small n.
func batchArray(n int) []byte {
	if n < recycleMin {
		return nil
	}
	if p, ok := batches.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, max(n, readChunk)+64<<10)
}

// sizeCheck is what checkTruncated found.
type sizeCheck uint8

const (
	readOn             sizeCheck = iota // not truncated: read what is there
	followedTruncation                  // truncated, and followed
	unchangedAtEnd                      // not changed since a look that had read it all
)

// checkTruncated notices every truncation: the file is shorter than what was
// read, or its first bytes or the bytes just before the read offset changed
// (truncated and written past the offset between two looks). It looks
// whenever the size changed, before reading, so not one byte of a rewritten
// file is taken for the continuation of the old one. A file whose size and
// time say it has not changed since a look that had read it to its end is
// unchangedAtEnd: the time tells only once it has settled (below), so a
// write within the kernel clock's tick after that look is read.
func (f *Follower) checkTruncated(ctx context.Context, t *tailer) sizeCheck {
	st, err := t.f.Stat()
	if err != nil {
		return readOn
	}
	size := st.Size()
	readTo := t.offset + int64(len(t.partial))
	// The time too: a file truncated and rewritten to the very same size
	// between two looks has changed all the same. But a file's time moves
	// by the kernel's coarse clock (a few ms): within one of its ticks a
	// truncation and a rewrite to the same size keep it. So the time tells
	// only once it was older than a tick at the last look; until then the
	// bytes are compared (an event often wakes the follower within a tick).
	now, looked := time.Now(), !t.lookedAt.IsZero()
	settled := t.lookedAt.Sub(t.modTime) > mtimeGrain
	t.lookedAt = now
	if settled && size == t.lastSize && st.ModTime().Equal(t.modTime) && size >= readTo {
		if size == readTo {
			return unchangedAtEnd
		}
		return readOn
	}
	if readTo == 0 && size == 0 && looked && !st.ModTime().Equal(t.modTime) && f.copiedUnread(ctx, t, nil) {
		return followedTruncation
	}
	t.lastSize, t.modTime = size, st.ModTime()
	if size >= readTo && t.holdsWhatWasRead(t.f) {
		return readOn
	}
	f.log.Info("file truncated", "path", t.path, "read_offset", readTo, "size", size)
	f.followTruncated(ctx, t)
	return followedTruncation
}

// followTruncated reads the lines a copy took of a truncated file, follows
// the file from its start, after any copies made since the one read from,
// and ends the truncated stream.
func (f *Follower) followTruncated(ctx context.Context, t *tailer) {
	copied := f.recoverCopy(ctx, t)
	f.hooks.run(f.hooks.soughtCopy)
	var next *tailer
	var head []byte // of the file now at the path, as it is identified
	if file, err := openRegular(t.path); err == nil {
		if seen, err := sight(file); err == nil {
			head = seen.head
			f.hooks.run(f.hooks.lookedAgain)
			var start int64
			if copied.info == nil {
				start = kept(t, seen)
			}
			next = f.addTailer(file, t.path, seen.id, start, &seen)
			next.readCopy = copied.info
			if copied.info != nil {
				next.beganAfter(copied.start)
			}
			// Said before the old stream ends, so the path's line count
			// goes on (the watcher drops a source's series when its last
			// stream ends); behind it, whose lines were written first.
			f.send(ctx, Batch{Key: next.key, Path: next.path, Log: next.log, ID: next.id, Offset: next.offset, Behind: t.key})
		} else {
			file.Close()
		}
	}
	f.end(ctx, t, "truncated")
	// Copies newer than the one read from were made since the last look
	// (copytruncate more than once). Without a copy of what was read
	// (whole, or with more, or as far as the copy was made: see
	// recoverCopy) nothing ties a copy to this file but times, too coarse
	// to tell a copy made just now from one made since: none is read
	// then. A copy that starts as the file now does is the file's own
	// lines (copytruncate again since the look, made or being made): the
	// file's own tailer reads those lines, and the copies after it, which
	// are newer than they (ownCopyOf). Of a file that was empty when
	// looked at, that tailer reads whatever it holds by now (lines written
	// since, and copied), not the bytes looked at: it starts as it does
	// now.
	if next != nil && copied.info != nil {
		if next.id.FingerprintLen == 0 {
			head = readHead(next.f)
		}
		dev, ino := devIno(copied.info)
		if newest, _ := f.followNewer(t.path, FileID{Dev: dev, Ino: ino}, copied.info.ModTime(), nil, nil, ownCopyOf(head), copiesOf(t)); newest != nil {
			f.announce(ctx, newest, nil)
			next.beginsAfter(newest)
		}
	}
}

// kept is how much of t's file a truncation kept, as the look seen found
// it: truncate -s N keeps the first N bytes, which were read, and the
// writer appends after them. Read again from the start, those lines were
// handed on twice (a refresh read twice is a token used twice). It is the
// file's size when the file is t's own (same inode), no longer than what
// was read, and every byte of it was compared with the bytes t read (the
// first fingerprintLen are kept for that); 0 otherwise (emptied, or
// rewritten). Past those bytes, a truncation to zero and a writer that
// started the file again as it began (a banner) and went on with new
// lines before this look cannot be told from a kept prefix: taken for
// one, the new lines were never read, so the file is read again from its
// start (a repeat, not a loss).
func kept(t *tailer, seen sighting) int64 {
	dev, ino := devIno(seen.info)
	size := seen.info.Size()
	if dev != t.dev || ino != t.ino || size == 0 || size > t.offset+int64(len(t.partial)) {
		return 0
	}
	switch {
	case int64(len(t.head)) >= size && int64(len(seen.head)) >= size:
		if !bytes.Equal(seen.head[:size], t.head[:size]) {
			return 0
		}
	case size == fingerprintLen && t.id.FingerprintLen == fingerprintLen:
		if seen.id.Fingerprint != t.id.Fingerprint {
			return 0
		}
	default:
		return 0
	}
	return size
}

// copiedUnread notices a file written and copied and truncated again
// between two looks before any of it was read (its tailer at offset 0,
// empty when identified: nothing to compare): when its first read brings
// head, or its time changes while it is empty. Copies newer than the one
// this generation began after, and not copies of head, hold those lines,
// and are read before it; it begins after the newest of them then.
func (f *Follower) copiedUnread(ctx context.Context, t *tailer, head []byte) bool {
	if t.id.FingerprintLen > 0 || t.readCopy == nil {
		return false
	}
	dev, ino := devIno(t.readCopy)
	newest, _ := f.followNewer(t.path, FileID{Dev: dev, Ino: ino}, time.Time{}, nil, nil, ownCopyOf(head), copiesOf(t))
	if newest == nil {
		return false
	}
	f.announce(ctx, newest, nil)
	f.log.Info("the file was copied and truncated again before its lines were read; reading the copy first", "path", t.path)
	t.beginsAfter(newest)
	return true
}

// beginsAfter makes t wait for the copies up to newest: t's generation
// began after them.
func (t *tailer) beginsAfter(newest *tailer) {
	t.after = newest
	if st, err := newest.f.Stat(); err == nil {
		t.readCopy = st
	}
	t.beganAfter(newest.id)
}

// beganAfter names, in t's identity while t's file is empty as read, the
// copy its generation began after (the copy starts as prev's file did):
// a checkpoint saved before t's first bytes lets a restart find that copy
// and read every copy made after it.
func (t *tailer) beganAfter(prev FileID) {
	if t.id.FingerprintLen == 0 && prev.FingerprintLen > 0 {
		t.id.After, t.id.AfterLen = prev.Fingerprint, prev.FingerprintLen
	}
}

// announce says, oldest first, which generations were chained before the
// file now at a path, from newest back to stop: a checkpoint written
// while they wait their turn names them (at their start), so a restart
// reads them too. Without it, the file after them, announced as it is
// opened, would be the newest generation with a position, and those before
// it would be taken as finished.
func (f *Follower) announce(ctx context.Context, newest, stop *tailer) {
	var chain []*tailer
	for t := newest; t != nil && t != stop; t = t.after {
		chain = append(chain, t)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		t := chain[i]
		f.send(ctx, Batch{Key: t.key, Path: t.path, Log: t.log, ID: t.id, Offset: t.offset, Behind: behind(t), Size: t.lastSize})
	}
}

// behind is the key of the generation t waits for, "" for none.
func behind(t *tailer) string {
	if t.after == nil {
		return ""
	}
	return t.after.key
}

// sameFileAs returns whether a generation is the file opened at the path:
// renamed into a generation (rotated again) since it was opened there, it
// is read as the path's file, not a second time as a generation.
func sameFileAs(file *os.File) func(*os.File) bool {
	st, err := file.Stat()
	return func(c *os.File) bool {
		cst, cerr := c.Stat()
		return err == nil && cerr == nil && os.SameFile(st, cst)
	}
}

// copyOf returns whether a newer generation is a copy being made of the
// file whose first bytes are head (copytruncate again, the truncation
// still to come): it is empty so far, or starts as the file did. That
// file's own tailer reads those lines; the copy's would read them twice.
// An empty generation has nothing to read anyway.
func copyOf(head []byte) func(*os.File) bool {
	return func(c *os.File) bool {
		ch := readHead(c)
		n := min(len(ch), len(head))
		return len(ch) == 0 || n > 0 && bytes.Equal(ch[:n], head[:n])
	}
}

// ownCopyOf returns, for chain (oldest first), whether a newer generation
// is to be left to the tailer of the file whose first bytes are head: a
// copy of it (copyOf), and, once a copy that starts with head's bytes was
// met, every generation after it. That copy is the file's own lines,
// copied and truncated since the file was looked at (copytruncate again),
// and the copies after it hold lines written after them: the file's
// tailer, finding its file truncated, reads that copy (recoverCopy) and
// then those. Chained before the file, they were read before the lines
// they came after (a newer copy before an older one).
func ownCopyOf(head []byte) func(*os.File) bool {
	isCopy, past := copyOf(head), false
	return func(c *os.File) bool {
		if past {
			return true
		}
		if !isCopy(c) {
			return false
		}
		past = len(head) > 0 && len(readHead(c)) > 0
		return true
	}
}

func readHead(f *os.File) []byte {
	buf := make([]byte, fingerprintLen)
	n, _ := f.ReadAt(buf, 0)
	return buf[:n]
}

// foundCopy is the copy a truncated file's lines were found in.
type foundCopy struct {
	name string
	info os.FileInfo // nil: none was found
	// start identifies the copy's first bytes, for the generation that
	// begins after it (tailer.beganAfter).
	start FileID
}

// recoverCopy reads, from the copy a copytruncate left beside the file,
// the lines written after graceguard's last read and before the copy. It
// returns the copy, or none (info nil). A rotation under way renames the
// siblings between their listing and their opening (the copy named .1
// becomes .2): the siblings are listed again when none was the copy. A
// path that is a symbolic link has its copies beside the file it names
// (linkedName).
//
// A copy shorter than what was read, that starts as the file did, is the
// copy too (copiedBeforeRead): made before the lines that were read
// between it and the truncation were written, it holds nothing unread,
// but the copies made after it hold the lines written after the
// truncation. Taken for no copy, nothing tied those to the file: a
// copytruncate again before the file was looked at (a descheduled
// follower), and the lines in its copy were never read.
func (f *Follower) recoverCopy(ctx context.Context, t *tailer) foundCopy {
	var early foundCopy
	for range 3 {
		file := linkedName(t.path)
		siblings, _ := glob(filepath.Join(filepath.Dir(file), "*"))
		for _, s := range siblings {
			if s == file {
				continue
			}
			found, whole := f.readCopy(ctx, t, s)
			if whole {
				return found
			}
			if early.info == nil {
				early = found
			}
		}
	}
	if early.info != nil {
		f.log.Info("the file was copied before the last lines read from it; reading the copies made since", "path", t.path, "copy", early.name)
	}
	return early
}

// readCopy reads the lines past t's offset from s if s is a copy of what t
// read (whole), and returns what s is; or, when s is shorter than what t
// read and starts as t's file did (copiedBeforeRead), returns it without
// reading it (whole false).
func (f *Follower) readCopy(ctx context.Context, t *tailer, s string) (found foundCopy, whole bool) {
	readTo := t.offset
	if s == t.path {
		return foundCopy{}, false
	}
	c, err := openRegular(s)
	if err != nil {
		return foundCopy{}, false
	}
	defer c.Close()
	st, err := c.Stat()
	if err != nil {
		return foundCopy{}, false
	}
	if st.Size() < readTo {
		if !t.copiedBeforeRead(c, st) {
			return foundCopy{}, false
		}
		start := t.id
		if st.Size() < int64(start.FingerprintLen) {
			if start, err = identify(c); err != nil {
				return foundCopy{}, false
			}
		}
		return foundCopy{name: s, info: st, start: start}, false
	}
	if !t.holdsWhatWasRead(c) {
		return foundCopy{}, false
	}
	found = foundCopy{name: s, info: st, start: t.id}
	if st.Size() == readTo {
		// A copy of exactly what was read: nothing to read from it, but
		// copies made after it (copytruncated again since the last look)
		// hold lines written after it, and are read next.
		return found, true
	}
	f.log.Info("reading lines a copytruncate moved", "copy", s, "from", readTo, "to", st.Size())
	data := make([]byte, st.Size()-readTo)
	n, _ := c.ReadAt(data, readTo)
	t.partial = t.partial[:0]
	t.learnHead(readTo, data[:n])
	f.emitData(ctx, t, data[:n])
	if len(t.partial) > 0 {
		// The copy's last line had no newline: it is whole all the same.
		f.emitData(ctx, t, []byte{'\n'})
	}
	return found, true
}

// copiedBeforeRead reports whether c, st as stated (shorter than what t
// read), starts as t's file did: by t's identity when c is as long as the
// bytes it was taken from, else by the bytes t read first. The copy t's
// generation began after, and any older generation, is not its copy,
// whatever its first bytes (a log that starts each file with the same
// banner).
func (t *tailer) copiedBeforeRead(c *os.File, st os.FileInfo) bool {
	size := st.Size()
	if prev := t.readCopy; prev != nil && (os.SameFile(st, prev) || st.ModTime().Before(prev.ModTime())) {
		return false
	}
	switch {
	case size == 0:
		return false // an empty file is a copy of anything
	case t.id.FingerprintLen > 0 && size >= int64(t.id.FingerprintLen):
		return sameStart(c, t.id)
	case int64(len(t.head)) >= size:
		h := readHead(c)
		return int64(len(h)) == size && bytes.Equal(h, t.head[:size])
	}
	return false
}

// logGone says what became of t's file, whose path names nothing now: a
// rename rotation (the new file not made yet) and a deletion both look
// like that from the path, and "removed" was said of both. The open file
// tells them apart: renamed, it is found beside its old name or keeps a
// link elsewhere; deleted, it has none.
func (f *Follower) logGone(t *tailer) {
	if name := nameOf(t.path, FileID{Dev: t.dev, Ino: t.ino}); name != "" {
		f.log.Info("file renamed; draining", "path", t.path, "to", name)
		return
	}
	var links uint64
	var known bool
	if st, err := t.f.Stat(); err == nil {
		links, known = linkCount(st)
	}
	switch {
	case !known:
		f.log.Info("file renamed or deleted; draining", "path", t.path)
	case links == 0:
		f.log.Info("file deleted; draining", "path", t.path)
	default:
		f.log.Info("file renamed or moved away: it has a name elsewhere; draining", "path", t.path)
	}
}

// checkRotated notices the path now names another file (renamed or deleted
// and recreated): this file is drained, and the new one followed from its
// start.
func (f *Follower) checkRotated(ctx context.Context, t *tailer) {
	f.hooks.run(f.hooks.checkingRotation)
	if st, err := os.Stat(t.path); err == nil {
		// The path still names this file (one stat, where opening it takes
		// nine system calls: the usual answer, at every look).
		if dev, ino := devIno(st); dev == t.id.Dev && ino == t.id.Ino && ino != 0 {
			return
		}
	}
	file, err := os.Open(t.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			t.draining, t.leftAt = true, time.Now()
			f.readToEnd(ctx, t)
			delete(f.seen, t.path)
			f.removed[t.path] = t
			f.logGone(t)
			f.hooks.run(f.hooks.leftPath)
		}
		return
	}
	if matches(file, t.id) || sameInode(file, t.id) {
		file.Close()
		return
	}
	seen, err := sight(file)
	if err != nil {
		file.Close()
		return
	}
	f.log.Info("file rotated; following the new one and draining the old", "path", t.path)
	t.draining, t.leftAt = true, time.Now()
	f.readToEnd(ctx, t)
	// Rotated more than once since the last look (stopped, or behind):
	// the generations between the old file and the new are read first.
	// The generations newer than t's file that were chained after it
	// (chainLater) come first: those are newer than them.
	from := t.newestChained()
	after, later := f.followNewer(t.path, FileID{Dev: from.dev, Ino: from.ino}, from.modTime, from, file, nil, FileID{})
	f.announce(ctx, after, from)
	n := f.addTailer(file, t.path, seen.id, 0, &seen)
	n.after = after
	// Announced behind the generation before it: OpenUnison wrote that
	// one's lines first, and a reader merging files by time must not take
	// the new file's first lines for earlier ones where the times tie.
	f.send(ctx, Batch{Key: n.key, Path: n.path, Log: n.log, ID: n.id, Offset: n.offset, Behind: behind(n), Size: n.lastSize})
	f.chainLater(ctx, t.path, n, later)
}

// newestChained is the newest of the generations chained after t when it
// was opened at its path (chainLater), t when there are none: the file
// its path names next comes after it.
func (t *tailer) newestChained() *tailer {
	if t.newer != nil {
		return t.newer
	}
	return t
}

func sameInode(file *os.File, id FileID) bool {
	st, err := file.Stat()
	if err != nil {
		return false
	}
	dev, ino := devIno(st)
	return dev == id.Dev && ino == id.Ino && ino != 0
}

func (f *Follower) end(ctx context.Context, t *tailer, why string) {
	t.leave()
	if len(t.partial) > 0 {
		// The last line of a finished file needs no newline to be whole.
		f.emitData(ctx, t, []byte{'\n'})
	}
	t.ended = true
	f.log.Debug("stream ended", "path", t.path, "why", why)
	f.send(ctx, Batch{Key: t.key, Path: t.path, Log: t.log, ID: t.id, Offset: t.offset, Ended: true, Size: max(t.lastSize, t.offset)})
}

// tailer is one followed file.
type tailer struct {
	f          *os.File
	path       string
	log        string // Batch.Log
	key        string
	id         FileID
	offset     int64  // bytes handed on as whole lines
	partial    []byte // read, waiting for its newline
	tail       []byte // the bytes just before offset, to notice a rewrite
	lastSize   int64
	idleSent   bool
	draining   bool
	quietSince time.Time
	ended      bool
	dev, ino   uint64    // of the open file (id may name the original of a copy)
	modTime    time.Time // when the file last changed, as last seen
	lookedAt   time.Time // when its size and time were last looked at
	// head is the file's first bytes as read (up to fingerprintLen), to
	// identify a file that was short when first seen by what was read of
	// it, never by reading it again (it may have been rewritten since).
	head []byte
	// readCopy is the copy the truncation that began this generation left,
	// whose lines were read: it is not a copy of this one.
	readCopy os.FileInfo
	// after is the older generation read before this one; caughtUp says
	// this one has been read to its end once.
	after    *tailer
	caughtUp bool
	// newer is the newest of the generations chained after this file
	// when it was opened (rotated again before they were listed:
	// chainLater), nil for none.
	newer *tailer
	// readBefore is where reading stopped in the last generations read
	// before this one, newest first, once it no longer waits for them:
	// see readMarks.
	readBefore []*readMark
	// leftAt is when this process saw the file leave its path (zero:
	// it did not; it was found rotated): it is drained DrainQuiet from
	// then at the earliest (atEnd).
	leftAt time.Time
	// left is where reading this file stopped, once it ends; allocated
	// when a later generation learns of it, which may be before.
	left *readMark
	// keep: it ended drained, and its file stays watched for late lines
	// (watchEnded).
	keep bool
	wakeState
}

// readBeforeKept bounds tailer.readBefore. Only a generation with the time
// of a later one needs telling by identity (writtenSince), or one that
// sorts after it by the time a late line gave it: no rotation makes more
// than a few of those.
const readBeforeKept = 4

// readMark is where reading a generation stopped, once its tailer ended
// (the tailer is dropped then): a listing that finds the file again, as
// newer than the one read (by its time, which a line written to it after
// it was left moved, or by the name's order), reads it from there on.
// Skipped as read, those late lines were lost without a word (a writer
// holding the renamed file open until it reopens lazily writes them);
// read from its start, its other lines came twice.
type readMark struct {
	// id is the file's own device and inode (not the file a copy is
	// read as) and its first bytes as read: the inode alone names a file
	// made later with it, once the file is deleted. Zero until the
	// tailer ends (one reading it still is found by followingFile).
	id FileID
	// born is when it was made (zero: unknown): a file made in its inode
	// since can start with all its bytes (a short banner).
	born time.Time
	end  int64  // the bytes read (past the last newline when it had none)
	tail []byte // the last of them, to tell a file rewritten since
}

// leave notes where reading t's file stopped, before end hands on its
// unfinished line, for the generations that come after it (readMarks).
func (t *tailer) leave() {
	m := t.mark()
	m.id = FileID{Dev: t.dev, Ino: t.ino, Fingerprint: t.id.Fingerprint, FingerprintLen: t.id.FingerprintLen}
	m.born, _ = bornOf(t.f)
	m.end = t.offset + int64(len(t.partial))
	tail := append(slices.Clip(t.tail), t.partial...)
	m.tail = bytes.Clone(tail[max(0, len(tail)-tailLen):])
}

// markNow is where reading file stops when it is taken for read to its
// end as it is now (nil: it is empty, or cannot be read): see readToNow.
func markNow(file *os.File) *readMark {
	seen, err := sight(file)
	if err != nil || seen.id.FingerprintLen == 0 {
		return nil
	}
	m := &readMark{id: seen.id, end: seen.info.Size()}
	m.born, _ = bornOf(file)
	tail := make([]byte, min(int64(tailLen), m.end))
	if n, _ := file.ReadAt(tail, m.end-int64(len(tail))); n != len(tail) {
		return nil
	}
	m.tail = tail
	return m
}

func (t *tailer) mark() *readMark {
	if t.left == nil {
		t.left = &readMark{}
	}
	return t.left
}

// learnReadBefore notes p, read before t, and what p knew was read before
// it, on t: p's tailer is dropped once it ends.
func (t *tailer) learnReadBefore(p *tailer) {
	marks := append([]*readMark{p.mark()}, p.readBefore...)
	marks = append(marks, t.readBefore...)
	t.readBefore = marks[:min(len(marks), readBeforeKept)]
}

// readMarks are where reading stopped in t (nil: none) and the
// generations it waits for, and in the ones they know were read before
// them: see resumeAt.
func (t *tailer) readMarks() []*readMark {
	var marks []*readMark
	for p := t; p != nil; p = p.after {
		marks = append(append(marks, p.mark()), p.readBefore...)
	}
	return marks
}

// resumeAt is where to read a listed generation, file as seen, from: past
// what marks say was read of it, or its start when none names it or it no
// longer holds what was read there (rewritten). Done says nothing of it is
// left to read: it was read to its end.
// Listed by time (writtenSince), an older generation with the time of the
// file gone was read a second time.
func resumeAt(marks []*readMark, file *os.File, seen sighting) (from int64, done bool) {
	from, done, _ = resumeMark(marks, file, seen)
	return from, done
}

// resumeMark is resumeAt that also returns the mark read on from (nil:
// none): the tailer reading on moves that very mark, which the later
// generations hold, so a listing after it reads none of its lines again.
func resumeMark(marks []*readMark, file *os.File, seen sighting) (from int64, done bool, at *readMark) {
	var (
		born               time.Time
		bornKnown, bornAsk bool
	)
	size := seen.info.Size()
	for _, m := range marks {
		if m.id.FingerprintLen == 0 || m.id.Dev != seen.id.Dev || m.id.Ino != seen.id.Ino || m.id.grown(seen.head) == (FileID{}) {
			continue
		}
		if !m.born.IsZero() {
			if !bornAsk {
				born, bornKnown = bornOf(file)
				bornAsk = true
			}
			if bornKnown && !born.Equal(m.born) {
				continue // made since in its inode
			}
		}
		if m.end > from && m.end <= size && m.holdsWhatWasRead(file) {
			from, at = m.end, m
		}
	}
	return from, from > 0 && from == size, at
}

// holdsWhatWasRead says whether file holds, just before where reading
// stopped, the bytes read there.
func (m *readMark) holdsWhatWasRead(file *os.File) bool {
	buf := make([]byte, len(m.tail))
	n, _ := file.ReadAt(buf, m.end-int64(len(buf)))
	return n == len(buf) && bytes.Equal(buf, m.tail)
}

// waiting reports whether t waits for an older generation to be read.
func (t *tailer) waiting() bool {
	if t.after == nil {
		return false
	}
	if t.after.ended || t.after.caughtUp {
		t.learnReadBefore(t.after)
		t.after = nil
		return false
	}
	return true
}

const tailLen = 32

// rememberTail keeps the bytes before the read offset.
func (t *tailer) rememberTail() {
	n := min(int64(tailLen), t.offset)
	t.tail = t.tail[:0]
	if n == 0 {
		return
	}
	buf := make([]byte, n)
	if m, _ := t.f.ReadAt(buf, t.offset-n); int64(m) == n {
		t.tail = buf
	}
}

// extendTail keeps the bytes before the read offset, out just handed on.
func (t *tailer) extendTail(out []byte) {
	keep := min(len(t.tail), max(0, tailLen-len(out)))
	tail := make([]byte, 0, tailLen)
	tail = append(tail, t.tail[len(t.tail)-keep:]...)
	t.tail = append(tail, out[max(0, len(out)-tailLen):]...)
}

// rememberHead keeps the first bytes of a file opened past its start
// while they are still the ones its identity was taken from.
func (t *tailer) rememberHead() {
	t.head = nil
	if t.offset == 0 || t.offset > fingerprintLen || t.id.FingerprintLen >= fingerprintLen {
		return
	}
	buf := make([]byte, t.offset)
	if n, _ := t.f.ReadAt(buf, 0); int64(n) == t.offset && t.id.grown(buf) != (FileID{}) {
		t.head = buf
	}
}

// learnHead keeps the bytes read at pos while they continue the head.
func (t *tailer) learnHead(pos int64, data []byte) {
	if pos != int64(len(t.head)) || len(t.head) >= fingerprintLen {
		return
	}
	t.head = append(t.head, data[:min(len(data), fingerprintLen-len(t.head))]...)
}

// holdsWhatWasRead says whether f starts as t's file was identified and
// holds, just before t's offset, the last bytes t read: t's own file not
// truncated since, or a copy of it.
func (t *tailer) holdsWhatWasRead(f *os.File) bool {
	return sameStart(f, t.id) && t.tailMatches(f)
}

func (t *tailer) tailMatches(f *os.File) bool {
	if len(t.tail) == 0 {
		return true
	}
	buf := make([]byte, len(t.tail))
	m, _ := f.ReadAt(buf, t.offset-int64(len(buf)))
	return m == len(buf) && bytes.Equal(buf, t.tail)
}

// readStdin hands on stdin's lines, marking it idle when it pauses.
func (f *Follower) readStdin(ctx context.Context) {
	defer close(f.stdinDone)
	type chunk struct {
		data []byte
		err  error
	}
	in := make(chan chunk)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := f.opt.Stdin.Read(buf)
			data := append([]byte(nil), buf[:n]...)
			select {
			case in <- chunk{data, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	t := &tailer{path: "-", key: "-"}
	idle := time.NewTimer(time.Hour)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-in:
			if len(c.data) > 0 {
				t.partial = append(t.partial, c.data...)
				if last := bytes.LastIndexByte(t.partial, '\n'); last >= 0 {
					out := append([]byte(nil), t.partial[:last+1]...)
					t.partial = t.partial[:copy(t.partial, t.partial[last+1:])]
					if !f.send(ctx, Batch{Key: "-", Path: "-", Data: out, Offset: t.offset}) {
						return
					}
					t.offset += int64(len(out))
				} else if len(t.partial) > 2*readChunk {
					// A line this long is cut downstream anyway: handed
					// on, as emitData does, rather than held without
					// bound; the reader reads its rest past.
					if !f.send(ctx, Batch{Key: "-", Path: "-", Data: t.partial, Offset: t.offset}) {
						return
					}
					t.offset += int64(len(t.partial))
					t.partial = nil
				}
				idle.Reset(f.opt.Poll)
			}
			if c.err != nil {
				if len(t.partial) > 0 {
					f.send(ctx, Batch{Key: "-", Path: "-", Data: append(t.partial, '\n'), Offset: t.offset})
				}
				f.send(ctx, Batch{Key: "-", Path: "-", Ended: true})
				return
			}
		case <-idle.C:
			f.send(ctx, Batch{Key: "-", Path: "-", Offset: t.offset, Idle: true})
		}
	}
}
