package source

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A log file's generations are the files a rotation left beside it: name.1,
// name.2 … (logrotate's rename or copytruncate), name-20261203 (dateext),
// name.20261203-101010 (the kubelet's rotation of a container's 0.log).
// Compressed ones (name.2.gz) cannot be followed: when the generation that
// was being read has been compressed before graceguard got to it, that is
// logged once.
//
// Which generations are unfinished is worked out from the positions alone:
// a checkpointed file is found again among the generations by its device
// and inode and the fingerprint of its first bytes (a rename), or, when its
// inode now holds other bytes, by the fingerprint alone in a copy at least
// as long as the offset (a copytruncate). Every generation newer than the
// newest one found is unfinished: graceguard starts a generation only once
// the one before has been read to its end, and forgets a generation's
// position only after it has drained, so a generation with no position
// older than one with a position was finished (an older generation may
// still be draining while a newer one is read, which is why the newest
// counts). When the file now at the path is one a position names, no
// generation is unfinished but those found by their positions.

// generation is one rotated sibling of a followed path.
type generation struct {
	name       string
	info       os.FileInfo
	compressed bool
	// file is the generation opened, checked to be the file listed
	// (openGenerations); nil when it was not opened, with err saying why
	// when it could not be.
	file *os.File
	err  error
}

var compressedExt = []string{".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z"}

// TrimCompressedExt returns name without the extension a compressed
// generation's name ends in (openunison.log.2.gz: openunison.log.2), and
// name itself when it has none.
func TrimCompressedExt(name string) string {
	for _, ext := range compressedExt {
		if t, ok := strings.CutSuffix(name, ext); ok {
			return t
		}
	}
	return name
}

// compressingExt ends the name of a generation being compressed: the
// kubelet writes 0.log.<timestamp> gzipped to 0.log.<timestamp>.tmp, then
// renames that to .gz and deletes the original. It is no generation: a
// restart during a compression read the gzip stream from its start as the
// newest generation, and handed its bytes on as lines; the lines are in
// the generation it compresses, read as usual until it goes.
const compressingExt = ".tmp"

// generations lists the rotated siblings of path, oldest first: of the
// file it names, when it is a symbolic link (linkedName).
func generations(path string) []generation { return listGenerations(path, nil) }

// listGenerations is generations with stating (tests) called between the
// directory's read and each name's stat, with the name.
//
// A rotation under way while the directory is read and its names stated
// renames the generations up one number: the read can miss a name made
// under it (the order of a directory's entries is its own, a hash's on
// ext4), and a name stated after its file left it names the next file, or
// none. A generation was then listed under no name, neither read nor said
// lost: a stress run (six logs renumbered every 2,500 lines, every wake an
// overflow) lost one so about once in 25 runs. A listing is taken when the
// one made after it names the same files by the same names (a rotation in
// between moves at least one), up to generationRelists listings again;
// then the last is taken, and the opening's check (openGenerations) is
// what is left.
func listGenerations(path string, stating func(name string)) []generation {
	dir, base := filepath.Split(linkedName(path))
	var gens []generation
	for listing := 0; listing <= generationRelists+1; listing++ {
		entries, err := os.ReadDir(filepath.Clean(dir))
		if err != nil {
			return nil
		}
		again := statGenerations(dir, base, entries, stating)
		if listing > 0 && sameListing(gens, again) {
			break
		}
		gens = again
	}
	sort.SliceStable(gens, func(i, j int) bool { return older(base, gens[i], gens[j]) })
	return gens
}

// sameListing reports whether two listings name the same files by the
// same names, in the same order (the directory's).
func sameListing(a, b []generation) bool {
	return slices.EqualFunc(a, b, func(x, y generation) bool {
		return x.name == y.name && os.SameFile(x.info, y.info)
	})
}

// statGenerations stats the generations of base among entries read from
// dir, in their order.
func statGenerations(dir, base string, entries []os.DirEntry, stating func(string)) []generation {
	var gens []generation
	for _, e := range entries {
		// The extensions are matched on the whole name: the suffix has
		// lost its separator, and app.log.gz's is "gz".
		_, ok := rotatedSuffix(base, e.Name())
		if !ok || !e.Type().IsRegular() || strings.HasSuffix(e.Name(), compressingExt) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if stating != nil {
			stating(name)
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		g := generation{name: name, info: info}
		for _, ext := range compressedExt {
			if strings.HasSuffix(e.Name(), ext) {
				g.compressed = true
			}
		}
		gens = append(gens, g)
	}
	return gens
}

// openGenerations lists path's generations and opens the ones chosen
// picks (by their index in the listing), each checked to be the file
// listed under its name (compressed ones are chosen, not opened). A
// rotation under way renames the generations up one number between their
// listing and their opening: a name that holds another file than listed,
// or none, has every file opened closed and the generations listed again,
// up to generationRelists times; the last listing is taken as it opens (a
// name gone then is the generation's err). Opened as listed, the
// generation renamed in between was skipped, neither read nor said lost.
func (f *Follower) openGenerations(path string, picks func(gens []generation) (chosen func(i int) bool)) []generation {
	for listing := 0; ; listing++ {
		gens := listGenerations(path, f.hooks.statingGeneration)
		f.hooks.run(f.hooks.listedGenerations)
		chosen := picks(gens)
		check := listing < generationRelists
		var opened []generation
		moved := false
		for i, g := range gens {
			if chosen == nil || !chosen(i) {
				continue
			}
			if !g.compressed {
				if g.file, g.err = openRegular(g.name); g.err != nil {
					g.file = nil
				}
				if check && (errors.Is(g.err, fs.ErrNotExist) || g.file != nil && !isListed(g.file, g.info)) {
					if g.file != nil {
						g.file.Close()
					}
					moved = true
					break
				}
			}
			opened = append(opened, g)
		}
		if !moved {
			return opened
		}
		closeGenerations(opened)
	}
}

// closeGenerations closes the generations' files not taken.
func closeGenerations(gens []generation) {
	for i := range gens {
		if gens[i].file != nil {
			gens[i].file.Close()
			gens[i].file = nil
		}
	}
}

// rotatedSuffix reports whether name is a rotated generation of base, and
// what follows base in it.
func rotatedSuffix(base, name string) (string, bool) {
	if len(name) <= len(base)+1 || !strings.HasPrefix(name, base) {
		return "", false
	}
	if sep := name[len(base)]; sep != '.' && sep != '-' && sep != '_' {
		return "", false
	}
	return name[len(base)+1:], true
}

// maxLinks bounds linkedName's walk along a chain of links, as the
// kernel's own limit on symbolic links in a lookup does.
const maxLinks = 40

// linkedName is the name of the file path names when path is a symbolic
// link (path itself otherwise): a rotation renames that file, and leaves
// its generations beside it, not beside the link. The kubelet's
// /var/log/containers/<pod>_<ns>_<ctr>-<id>.log links to
// /var/log/pods/<ns>_<pod>_<uid>/<ctr>/0.log, which it rotates to
// 0.log.<timestamp> there: listed beside the link, a log rotated while
// graceguard was down was not found, and the lines written to it after
// the checkpoint were lost. A link that names nothing at the moment (the
// file renamed, its successor not made yet) still names where it was.
func linkedName(path string) string {
	name := path
	for range maxLinks {
		fi, err := os.Lstat(name)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return name
		}
		target, err := os.Readlink(name)
		if err != nil {
			return name
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(name), target)
		}
		name = target
	}
	return path
}

// IsGenerationOf reports whether name is, by its name, a rotated generation
// of the file at path: beside it, named as it is with a suffix.
func IsGenerationOf(name, path string) bool {
	dir, n := filepath.Split(name)
	pathDir, base := filepath.Split(path)
	_, ok := rotatedSuffix(base, n)
	return ok && dir == pathDir
}

// older orders two generations: numbered ones by their number (logrotate's
// .1 is the newest), others by modification time (a rename keeps it), then
// name (dates and timestamps sort as text).
func older(base string, a, b generation) bool {
	na, okA := generationNumber(base, a.name)
	nb, okB := generationNumber(base, b.name)
	if okA && okB && na != nb {
		return na > nb
	}
	if ta, tb := a.info.ModTime(), b.info.ModTime(); !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.name < b.name
}

func generationNumber(base, name string) (int, bool) {
	suffix, _ := rotatedSuffix(base, filepath.Base(name))
	for _, ext := range compressedExt {
		suffix = strings.TrimSuffix(suffix, ext)
	}
	n, err := strconv.Atoi(suffix)
	return n, err == nil
}

// startGenerations, at start-up, finds the restored positions of path's
// generations and follows them and every newer generation, oldest first,
// each waiting for the one before. It returns the newest, for file, the
// file opened at path, to wait for (nil when there is none).
//
// Each generation is opened once, checked to be the file listed
// (openGenerations), and looked at through that opening only: a rotation
// under way between the listing and an opening by name gave a position's
// generation's name to the generation after it (that one read first, the
// position's file after it, found by drainRotatedWhileDown), and file may
// be renamed into a generation after it was opened (it was read twice,
// as that generation and as the file at path; renamed twice, after the
// generation newer than it: beforeFile).
//
// The generations older than those it follows are not read (finished by
// the checkpoint, or history at a first start): skipped, where reading
// them stops is their end now (finished, newest first), so that a
// writer's late lines to one, which a later listing finds among the
// newer generations, are read from there, not with all its lines again
// (resumeAt): a restart drops the marks the run before kept.
func (f *Follower) startGenerations(ctx context.Context, path string, file *os.File, globbed bool) (prev *tailer, later []generation, finished []*readMark) {
	gens := f.openGenerations(path, func(gens []generation) func(int) bool {
		return func(int) bool { return true }
	})
	given := map[*os.File]bool{}
	defer func() {
		for _, g := range gens {
			if g.file != nil && !given[g.file] {
				g.file.Close()
			}
		}
	}()
	gens, later = beforeFile(gens, file)
	// Before the generations take positions.
	current, byCopy := f.restoredAt(file)
	located, oldest, newest := f.locateGenerations(gens)
	j := f.locateAnchor(path, gens, located)
	if j >= 0 {
		if oldest < 0 || j < oldest {
			oldest = j
		}
		newest = max(newest, j)
	} else if byCopy {
		current = true // its copy is gone: the inode is all there is
	}
	copied := f.copiedFrom(path, file, gens, located, j >= 0 && byCopy)
	if current {
		newest = len(gens)
	}
	if oldest < 0 {
		switch {
		case current:
			return nil, later, readToNow(gens)
		case !f.namedByCheckpoint(path):
			// Seen for the first time. Generations the patterns match too
			// are files seen for the first time as well, read from their
			// start (through this file: rescan never opens them on their
			// own), but not with FromEnd, which skips what files hold;
			// those made since the checkpoint are read all the same.
			// Only from the oldest made since: one made before the
			// checkpoint is history, which FromEnd skips.
			oldest = 0
			if !globbed || f.opt.FromEnd {
				if oldest = f.firstMadeSinceCheckpoint(path, gens); oldest < 0 {
					return nil, later, readToNow(gens)
				}
			}
		default:
			// Every file the checkpoint named here is gone (warnUnfound
			// says so): the generations left were all rotated after them,
			// so none was finished.
			oldest = 0
		}
	}
	for i := oldest; i < len(gens); i++ {
		t := f.startGeneration(gens[i], located[i], i < newest, copied)
		if t == nil {
			continue
		}
		given[t.f] = true
		t.log = path
		t.draining, t.after = true, prev
		prev = t
	}
	f.announce(ctx, prev, nil)
	return prev, later, readToNow(gens[:oldest])
}

// readToNow marks the generations gens (oldest first) as read to their
// end as it is now, newest first, at most readBeforeKept of them.
func readToNow(gens []generation) []*readMark {
	var marks []*readMark
	for i := len(gens) - 1; i >= 0 && len(marks) < readBeforeKept; i-- {
		if g := gens[i]; g.file != nil && !g.compressed {
			if m := markNow(g.file); m != nil {
				marks = append(marks, m)
			}
		}
	}
	return marks
}

// beforeFile splits gens at file, opened at the path before they were
// listed (nil: none is among them): the generations older than it, and
// the ones newer than it (later), closing its own. Renamed into a
// generation since (rotated again), file is read as the path's file, not
// a second time as a generation, and the generations newer than it are
// read after it (chainLater), from the files opened now: chained before
// it, their lines came before its own; left to be listed again when its
// tailer finds the path naming another file, one deleted by the keep
// count meanwhile was lost.
func beforeFile(gens []generation, file *os.File) (before, later []generation) {
	if file == nil {
		return gens, nil
	}
	isFile := sameFileAs(file)
	i := slices.IndexFunc(gens, func(g generation) bool { return g.file != nil && isFile(g.file) })
	if i < 0 {
		return gens, nil
	}
	closeGenerations(gens[i : i+1])
	return gens[:i], gens[i+1:]
}

// chainLater follows later, the generations newer than the file n reads
// (beforeFile), after n, oldest first, and notes the newest on n: the
// file its path names next comes after them.
func (f *Follower) chainLater(ctx context.Context, path string, n *tailer, later []generation) {
	if len(later) == 0 {
		return
	}
	if newest := f.chain(path, n, later, nil, nil, FileID{}); newest != n {
		n.newer = newest
		f.announce(ctx, newest, n)
	}
}

// firstMadeSinceCheckpoint is the index of the oldest of gens made after
// the checkpoint was written (madeSinceCheckpoint), -1 for none: their
// lines were written while graceguard was down.
func (f *Follower) firstMadeSinceCheckpoint(path string, gens []generation) int {
	for i, g := range gens {
		if g.file != nil && f.madeSinceCheckpoint(g.file, path) {
			return i
		}
	}
	return -1
}

// located is a generation's file found by a restored position.
type located struct {
	file *os.File
	pos  Position
	ok   bool
	// byCopy: found by the first bytes alone, in a copy of the file the
	// position names (a copytruncate's).
	byCopy bool
}

// locateGenerations finds the generations restored positions name, and the
// oldest and newest of them (-1 when none is).
func (f *Follower) locateGenerations(gens []generation) ([]located, int, int) {
	found := make([]located, len(gens))
	oldest, newest := -1, -1
	// Renamed files first (identity), then copies (fingerprint): a copy
	// stands in only for a position whose own file is gone or rewritten.
	for _, copies := range []bool{false, true} {
		for i, g := range gens {
			if found[i].ok || g.file == nil || f.seen[g.name] {
				continue
			}
			pos, ok := f.takeRestoredFile(g.file, g.name, copies)
			if !ok {
				continue
			}
			found[i] = located{g.file, pos, true, copies}
			if oldest < 0 || i < oldest {
				oldest = i
			}
			newest = max(newest, i)
		}
	}
	return found, oldest, newest
}

// startGeneration follows one generation from its restored position, or
// from its start when it is newer than every one a position names: under
// copied's device and inode when that is not zero (see copiedFrom). It
// returns nil for one that is not to be read (its file left open, for
// startGenerations to close).
func (f *Follower) startGeneration(g generation, at located, finished bool, copied FileID) *tailer {
	switch {
	case g.compressed:
		f.log.Warn("a rotated file was compressed before graceguard read it; its lines cannot be read", "path", g.name)
		return nil
	case at.ok:
		f.log.Info("reading a file rotated while graceguard was down", "path", g.name, "offset", at.pos.Offset)
		return f.addTailer(at.file, g.name, at.pos.ID, at.pos.Offset, nil)
	case finished:
		return nil // finished before an older one stopped draining
	case g.file == nil:
		f.listedGone(g, g.err)
		return nil
	}
	file := g.file
	seen, err := sight(file)
	if err != nil || f.followingFile(seen.id) {
		return nil
	}
	if copied.Ino != 0 {
		f.log.Info("reading a copy made by copytruncate while graceguard was down", "path", g.name)
	} else {
		f.log.Info("reading a generation rotated while graceguard was down", "path", g.name)
	}
	return f.addTailer(file, g.name, copied.readAs(seen.id), 0, &seen)
}

// readAs is the identity a copy of the file copied names (see copiedFrom)
// is read under: that file's device and inode, the copy's own first bytes
// (a restart finds the copy by them). id itself when copied is zero.
func (copied FileID) readAs(id FileID) FileID {
	if copied.Ino != 0 {
		id.Dev, id.Ino = copied.Dev, copied.Ino
	}
	return id
}

// copiesOf names the file t follows as the one whose copies are read
// under its device and inode (see copiedFrom).
func copiesOf(t *tailer) FileID { return FileID{Dev: t.dev, Ino: t.ino} }

// copiedFrom returns the device and inode of the file at path when it was
// rotated by copytruncate since the checkpoint (zero otherwise): a
// restored position naming that inode was found by its first bytes in a
// copy, or, for an empty file (anchored), by the copy its generation began
// after. Copytruncate keeps the inode at the path, so the generations made
// since are copies of that file's content. Every copy is read under the
// inode of the file it copies, whether its lines were read from that file
// before it was truncated, from the copy as it was noticed, or from the
// copy after a restart: an alert's id names the file by inode and the
// record by offset (which a copy keeps), so the same line read again under
// the copy's own inode made an alert with another id, sent twice. The
// inode alone does not tell: after a rename, a file deleted frees its inode
// for the next one made at the path. When every file the checkpoint named
// is gone, a position naming the inode tells it with the file's birth: a
// copytruncate's file was made before the newest generation was last
// written, a rename's after it; unknown, each generation keeps its own.
func (f *Follower) copiedFrom(path string, file *os.File, gens []generation, found []located, anchored bool) FileID {
	st, err := file.Stat()
	if err != nil {
		return FileID{}
	}
	dev, ino := devIno(st)
	if ino == 0 {
		return FileID{}
	}
	if anchored {
		return FileID{Dev: dev, Ino: ino}
	}
	for _, l := range found {
		if l.ok && l.byCopy && l.pos.ID.Dev == dev && l.pos.ID.Ino == ino {
			return FileID{Dev: dev, Ino: ino}
		}
	}
	if f.copiedUnreadFile(file, dev, ino, gens) {
		return FileID{Dev: dev, Ino: ino}
	}
	named := slices.ContainsFunc(f.restored, func(p Position) bool { return p.Cursor == "" && p.ID.Dev == dev && p.ID.Ino == ino })
	if born, ok := bornAt(path); ok && named && len(gens) > 0 && born.Before(gens[len(gens)-1].info.ModTime()) {
		return FileID{Dev: dev, Ino: ino}
	}
	return FileID{}
}

// copiedUnreadFile reports whether file, opened at the path (dev, ino), is
// one the checkpoint named as announced and not read yet (Position.Unread),
// now holding other bytes, with a generation that starts as it did: its
// copy.
// It may have been read after that checkpoint (a kill before the next),
// so its copies are read under its inode, for the same alert ids.
func (f *Follower) copiedUnreadFile(file *os.File, dev, ino uint64, gens []generation) bool {
	for _, p := range f.unread {
		if p.Cursor != "" || p.ID.Dev != dev || p.ID.Ino != ino || p.ID.FingerprintLen == 0 || sameStart(file, p.ID) {
			continue
		}
		for _, g := range gens {
			if g.file != nil && sameStart(g.file, p.ID) {
				return true
			}
		}
	}
	return false
}

// restoredAt reports whether a restored position names file, opened at
// the path (it was not rotated away), and whether one names it only by its
// inode and the copy its generation began after (anchored: it was empty
// when saved, and copytruncates since keep the inode).
func (f *Follower) restoredAt(file *os.File) (current, byCopy bool) {
	for _, pos := range f.restored {
		switch {
		case !matches(file, pos.ID):
		case pos.ID.anchored():
			byCopy = true
		default:
			current = true
		}
	}
	return current, byCopy
}

// locateAnchor finds, for a restored position of path anchored by a copy
// (an empty file, saved just after a copytruncate), the newest generation
// that is that copy, and marks it located at its end: it was read, every
// generation after it was made since, and is read. It returns the copy's
// index, or -1 when there is none.
func (f *Follower) locateAnchor(path string, gens []generation, found []located) int {
	for _, pos := range f.restored {
		if pos.Path != path || !pos.ID.anchored() {
			continue
		}
		start := FileID{Fingerprint: pos.ID.After, FingerprintLen: pos.ID.AfterLen}
		for i := len(gens) - 1; i >= 0; i-- {
			if found[i].ok && found[i].pos.ID.Fingerprint == start.Fingerprint && found[i].pos.ID.FingerprintLen == start.FingerprintLen {
				return i // located already, by the position it was read to
			}
			file := gens[i].file
			if found[i].ok || file == nil || f.seen[gens[i].name] {
				continue
			}
			id, err := identify(file)
			st, serr := file.Stat()
			if err != nil || serr != nil || !sameStart(file, start) {
				continue
			}
			found[i] = located{file, Position{Path: gens[i].name, ID: id, Offset: st.Size()}, true, false}
			return i
		}
	}
	return -1
}

// takeRestoredFile finds the saved position of file: by identity, or with
// copies by the fingerprint of a copy at least as long as the offset.
func (f *Follower) takeRestoredFile(file *os.File, path string, copies bool) (Position, bool) {
	if !copies {
		return f.takeRestored(file, path)
	}
	st, err := file.Stat()
	if err != nil {
		return Position{}, false
	}
	for i, pos := range f.restored {
		if pos.Cursor != "" || pos.ID.FingerprintLen == 0 || st.Size() < pos.Offset || !sameStart(file, pos.ID) {
			continue
		}
		f.restored = append(f.restored[:i], f.restored[i+1:]...)
		f.log.Info("a file was copied and truncated while graceguard was down; reading the copy", "copy", path, "offset", pos.Offset)
		return pos, true
	}
	return Position{}, false
}

// followNewer follows, after t, the generations of path newer than the file
// after names by its device and inode (or, when it is not among them, last
// written no earlier than the time since: writtenSince; zero: none) that no
// tailer has, past what t knows was read of them (readMarks, resumeAt): a
// rotation noticed late, with whole generations written meanwhile, except
// those skip names (nil: none). Copies of the file at path (copied is its device and inode;
// zero after a rename) are read under its device and inode (see
// copiedFrom). It returns the newest tailer of the chain (t when there was
// none).
//
// after is found by its file, not by a name it was seen under: a rotation
// between that look and the listing renames each generation to the name
// the one before it had, and the generation after it, found under its
// name, was taken for it and skipped as finished, neither read nor said
// lost.
//
// atPath is the file opened at the path, to be chained after these (nil:
// none). Rotated again before the listing (a descheduled follower, or one
// whose batch waited for its reader in between), it is a generation by
// then, with newer ones: the chain ends before it, and its own tailer
// chains those newer ones after it when it finds the path naming another
// file (checkRotated). Chained here, they were read before it, and its
// lines came after a newer generation's. The newer ones are returned
// (later), still open, for the caller to chain after atPath's tailer
// (chainLater).
func (f *Follower) followNewer(path string, after FileID, since time.Time, t *tailer, atPath *os.File, skip func(*os.File) bool, copied FileID) (newest *tailer, later []generation) {
	gens := f.openGenerations(path, func(gens []generation) func(int) bool {
		start := -1
		for i, g := range gens {
			if dev, ino := devIno(g.info); after.Ino != 0 && dev == after.Dev && ino == after.Ino {
				start = i + 1
			}
		}
		if start < 0 && since.IsZero() {
			return nil
		}
		return func(i int) bool {
			return start >= 0 && i >= start || start < 0 && writtenSince(gens[i], since)
		}
	})
	gens, later = beforeFile(gens, atPath)
	return f.chain(path, t, gens, skip, t.readMarks(), copied), later
}

// writtenSince reports whether g may be newer than a file last written at
// since, by its time. The kernel stamps times by a clock with ticks of
// 1-10 ms: a generation written in the tick that file last was has its
// very time, and taken for an older one it was skipped, its lines lost
// without a word. With that time it may be older, too (read already), which
// chain tells by identity (resumeAt). A compressed one cannot be told so, nor
// read: with since's time it is likelier that file compressed keeping its
// time (as gzip does) than a newer one, and would be said lost.
func writtenSince(g generation, since time.Time) bool {
	mt := g.info.ModTime()
	return mt.After(since) || mt.Equal(since) && !g.compressed
}

// chain follows gens, generations of path opened by a listing, after t,
// oldest first, each waiting for the one before, except those skip names,
// those a tailer reads already and those read to their end (by marks:
// resumeAt); one read before and written to since is read from where that
// reading stopped. It returns the newest tailer of the chain (t when
// there was none).
func (f *Follower) chain(path string, t *tailer, gens []generation, skip func(*os.File) bool, marks []*readMark, copied FileID) *tailer {
	prev := t
	for _, g := range gens {
		if g.compressed {
			f.log.Warn("a rotated file was compressed before graceguard read it; its lines cannot be read", "path", g.name)
			continue
		}
		if g.file == nil {
			f.listedGone(g, g.err)
			continue
		}
		seen, err := sight(g.file)
		if err != nil || f.followingFile(seen.id) || skip != nil && skip(g.file) {
			g.file.Close()
			continue
		}
		// A generation watched since it ended is read on from where its
		// watch says reading stopped, under its watch's stream: here, in
		// order, before the file after it.
		// One rewritten since is left to its watch's next look, which
		// says so and drops it.
		e := f.endedOf(seen.id)
		if e != nil && !e.holds() {
			e = nil
		}
		var (
			from int64
			done bool
			m    *readMark
		)
		if e != nil {
			from, m = e.mark.end, e.mark
			done = seen.info.Size() <= from
		} else {
			from, done, m = resumeMark(marks, g.file, seen)
		}
		if done {
			g.file.Close()
			continue
		}
		if from > 0 {
			f.log.Info("reading lines written to a generation after it was read to its end", "path", g.name, "offset", from)
		} else {
			f.log.Info("reading a generation rotated before graceguard got to it", "path", g.name)
		}
		id := copied.readAs(seen.id)
		if e != nil {
			id = seen.id // a watched file was read under its own identity
		}
		n := f.addTailer(g.file, g.name, id, from, &seen)
		n.draining, n.after, n.log = true, prev, path
		if e != nil {
			f.ended = slices.DeleteFunc(f.ended, func(o *endedGen) bool { return o == e })
			f.takeEnded(n, e)
			n.log = path
			e.f.Close()
		} else if m != nil {
			n.left = m
		}
		prev = n
	}
	return prev
}

// generationRelists bounds how often the generations are listed again
// because a rotation moved them under a listing.
const generationRelists = 3

// isListed reports whether file is the file a listing found (info).
func isListed(file *os.File, info os.FileInfo) bool {
	st, err := file.Stat()
	return err == nil && os.SameFile(st, info)
}

// nameOf finds the name a followed file now has among path's generations.
func nameOf(path string, id FileID) string {
	for _, g := range generations(path) {
		if dev, ino := devIno(g.info); dev == id.Dev && ino == id.Ino && ino != 0 {
			return g.name
		}
	}
	return ""
}

// followingFile reports whether a tailer reads the file id names.
func (f *Follower) followingFile(id FileID) bool {
	for _, t := range f.tailers {
		if !t.ended && t.dev == id.Dev && t.ino == id.Ino && id.Ino != 0 {
			return true
		}
	}
	return false
}

// openRegular opens path for reading if it is a regular file: a directory
// cannot be read and opening a FIFO would block.
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errNotRegular{st.Mode()}
	}
	return os.Open(path)
}

type errNotRegular struct{ mode os.FileMode }

func (e errNotRegular) Error() string {
	if e.mode.IsDir() {
		return "is a directory, not a file"
	}
	return "is not a regular file (" + e.mode.Type().String() + ")"
}
