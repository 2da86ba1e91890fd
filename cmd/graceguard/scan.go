package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/sinks"
)

type scanOptions struct {
	io    streams
	files []string
	alertFlags
	quiet   bool
	geo     geoFlags
	proxies proxyFlags
}

// newScanCmd makes scan; runF, when not nil, runs instead of runScan
// (tests of flag parsing).
func newScanCmd(io streams, runF func(context.Context, *scanOptions) error) *cobra.Command {
	o := &scanOptions{io: io}
	if runF == nil {
		runF = runScan
	}
	cmd := &cobra.Command{
		Use:   "scan [flags] FILE...|-",
		Short: "Scan OpenUnison logs once and print alerts",
		Long: `Scan reads OpenUnison logs (plain, CRI, docker json-file or kubectl --timestamps,
recognised per file; gzip, bzip2 or zstd compressed ones decompressed, as
logrotate's compress leaves them) as fast as the disk allows and prints an
alert per rule match on stdout. Several files (one per replica) are merged by time, so a refresh
on one pod and its replay on another meet. A summary goes to stderr.

Scan judges a stream (stdin from a pipe) in blocks (1 MiB of log, 1,024 events)
and writes each block's alerts when it is judged; to be alerted within
milliseconds of each line of a stream that goes on (kubectl logs -f), read it
with graceguard watch - instead.

Exit status: 0 when every file was read (alerts or none), 1 when a file could
not be read (the others are still scanned), 2 for a usage or rule-file error.`,
		Example: `  graceguard scan testdata/openunison/sample.log
  graceguard scan --format json pod-a.log pod-b.log > alerts.jsonl
  kubectl logs -n openunison deploy/openunison-orchestra | graceguard scan -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("scan needs at least one FILE (or - for stdin)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.alertFlags.addFlags(f, "repeatable")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print no summary on stderr")
	o.geo.addFlags(f)
	o.proxies.addFlags(f)
	return cmd
}

func runScan(ctx context.Context, o *scanOptions) error {
	outOpt, loc, err := resolveOutput(o.format, o.minSeverity, o.timezone, o.color, o.io.out)
	if err != nil {
		return err
	}
	// A rule file that cannot be read stops the scan before it starts; the
	// rules are compiled on a goroutine of the scan's (LoadRules), where
	// they overlap its first blocks.
	ruleFiles, _, err := readRuleFiles("--rules", o.ruleFiles)
	if err != nil {
		return err
	}
	attribution, err := o.proxies.attribution()
	if err != nil {
		return err
	}
	geoDB, err := o.geo.open()
	if err != nil {
		return err
	}
	inputs, total, notes, openErrs := openInputs(ctx, o.files, o.io)
	defer closeInputs(inputs)
	if !o.quiet {
		for _, n := range notes {
			fmt.Fprintln(o.io.errOut, "graceguard: note:", n)
		}
	}
	var done atomic.Int64
	var progress *progressBar
	if !o.quiet {
		progress = startProgress(o.io.errOut, &done, total)
	}
	stdout, flush := alertsOut(o.io.out, anyStream(inputs))
	out := sinks.NewWriter(stdout, outOpt)
	var deliverFailed atomic.Bool
	deliver := func(ctx context.Context, group []alert.Alert) error {
		err := out.Send(ctx, group)
		if err != nil {
			deliverFailed.Store(true)
		}
		return err
	}
	// Restored once the summary is out: turning the usual pacing back on
	// with the heap over its goal starts a cycle, which would be wasted.
	defer batchGC(total)()
	sum, scanErr := pipeline.Scan(ctx, pipelineInputs(inputs), pipeline.ScanOptions{
		Location:    loc,
		LoadRules:   func() (*rules.Set, error) { return compileRules(ruleFiles) },
		Deliver:     deliver,
		Progress:    &done,
		Geo:         geoLookup(geoDB),
		Attribution: attribution,
		ParseErrors: func(err error) {
			if !o.quiet {
				fmt.Fprintln(o.io.errOut, "graceguard: parse error:", err)
			}
		},
	})
	progress.stop()
	flushErr := flush()
	if ue := (usageError{}); errors.As(scanErr, &ue) {
		return scanErr // a rule file's problems: nothing was judged
	}
	// Alerts lost are the scan's failure whatever else went wrong; a write
	// that failed while alerts were delivered fails the flush again, with
	// the same error, which is said once.
	if flushErr != nil && !errors.Is(scanErr, flushErr) {
		scanErr = errors.Join(scanErr, fmt.Errorf("write alerts: %w", flushErr))
	}
	unjudged := streamBytesUnjudged(inputs, sum)
	if !o.quiet {
		writeSummary(o.io.errOut, len(inputs), sum, unjudged, deliverFailed.Load() || flushErr != nil)
	} else {
		writeNothingJudged(o.io.errOut, sum, unjudged)
	}
	return errors.Join(append(openErrs, scanErr)...)
}

// alertsOut is where scan writes its alerts: w itself on a terminal, where
// a person reads them as they come, or when an input is a stream that may
// never end (kubectl logs -f | graceguard scan -), whose alerts must not
// wait for a buffer to fill; elsewhere (inputs that are files, alerts to a
// file or a pipe) a buffer in front of it, which flush empties, so that
// alerts go out 64 KiB at a time instead of in a system call each. A scan
// of a log with a replay every third line wrote 133,200 of them (README,
// Performance). Parse errors go to stderr as they are found, so with 2>&1
// they come before the buffered alerts of the same lines.
func alertsOut(w io.Writer, streamIn bool) (out io.Writer, flush func() error) {
	if streamIn || isTerminal(w) {
		return w, func() error { return nil }
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	return bw, bw.Flush
}

// anyStream says an input is a stream (a pipe, socket, terminal, or a
// reader that is not a file), whose end may never come.
func anyStream(inputs []*input) bool {
	for _, in := range inputs {
		if in.stream {
			return true
		}
	}
	return false
}

// input is an opened source with its size for the progress bar (0: unknown).
// stream says it may never end (isStream); read counts what a stream gave.
type input struct {
	name   string
	r      io.Reader
	size   int64
	stream bool
	read   *atomic.Int64 // streams only
	closer io.Closer
}

// newInput reads r, through a count of its bytes when it is a stream. A
// scan reads a stream in blocks and a read waits to fill one; bytes read
// into a block a signal left unfinished are counted nowhere else, and a
// stopped scan of a pipe said "0 B" with 9 kB read. A file is not wrapped:
// the scan maps a regular file it is handed as one.
func newInput(name string, r io.Reader, stream bool, closer io.Closer) *input {
	in := &input{name: name, r: r, stream: stream, closer: closer}
	if stream {
		in.read = new(atomic.Int64)
		in.r = countingReader{r, in.read}
	}
	return in
}

// countingReader counts the bytes r gave.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// streamBytesUnjudged is what the streams gave that the summary of an
// interrupted scan does not count: read while a block waited to fill, never
// judged. It is exact when every input is a stream; with files too it is
// at least this much (the summary does not say which input read what). A
// decompressed stream is left out: what was read of it is compressed
// bytes, and the summary counts the log's.
func streamBytesUnjudged(inputs []*input, s pipeline.Summary) int64 {
	if !s.Interrupted {
		return 0
	}
	counted := s.Bytes
	decompressed := map[string]bool{}
	for _, in := range s.Inputs {
		if in.Decompressed {
			decompressed[in.Name] = true
			counted -= in.Bytes
		}
	}
	var read int64
	for _, in := range inputs {
		if in.read != nil && !decompressed[in.name] {
			read += in.read.Load()
		}
	}
	return max(0, read-counted)
}

// openInputs opens the named inputs. A file named twice (the same name
// again, or a link to one named before, as /var/log/containers/*.log are
// into /var/log/pods) is read once, and notes say so: read twice, each of
// its replays' [AzSuccess] lines came again after the reuse, as a refresh
// from the thief's address, and no replay raised an alert.
func openInputs(ctx context.Context, names []string, io streams) (inputs []*input, total int64, notes []string, errs []error) {
	var files namedFiles
	named := func(name string, st os.FileInfo) bool {
		first, again := files.again(name, st)
		if again {
			notes = append(notes, fmt.Sprintf("%s is %s, named before: read once", name, first))
		}
		return again
	}
	stdin := false
	for _, name := range names {
		if name == "-" {
			// Stdin named again is one stream: two inputs on it would each
			// take the reads the other did not, tearing lines between them.
			if stdin {
				notes = append(notes, "- is -, named before: read once")
				continue
			}
			stdin = true
			// stdin from a file may be a file also named (scan - x.log <x.log).
			if f, ok := io.in.(*os.File); ok {
				if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && named(name, st) {
					continue
				}
			}
			inputs = append(inputs, newInput("-", io.in, isStream(io.in), nil))
			continue
		}
		f, err := openInput(ctx, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var size int64
		var stream bool
		if st, err := f.Stat(); err == nil {
			if st.IsDir() {
				f.Close()
				errs = append(errs, fmt.Errorf("cannot read %s: it is a directory (name its logs, or a glob of them)", name))
				continue
			}
			if named(name, st) {
				f.Close()
				continue
			}
			stream = streamMode(st.Mode())
			if st.Mode().IsRegular() {
				size = st.Size()
				total += size
			}
		}
		in := newInput(name, f, stream, f)
		in.size = size
		inputs = append(inputs, in)
	}
	return inputs, total, notes, errs
}

// openInput opens the input name. Opening a named pipe waits for its
// writer, which may never come: the open is given up when ctx ends
// (SIGTERM), where it ignored every signal but SIGKILL. The goroutine left
// in open(2) ends with the process.
func openInput(ctx context.Context, name string) (*os.File, error) {
	if st, err := os.Stat(name); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", name, errors.Unwrap(err))
		}
		return f, nil
	}
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := os.Open(name)
		done <- opened{f, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", name, errors.Unwrap(o.err))
		}
		return o.f, nil
	case <-ctx.Done():
		go func() {
			if o := <-done; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, fmt.Errorf("cannot read %s: no writer opened the pipe: %w", name, ctx.Err())
	}
}

// isStream says stdin is a stream: not a file, or one whose mode is.
func isStream(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return true
	}
	st, err := f.Stat()
	return err == nil && streamMode(st.Mode())
}

// streamMode says a file of mode m may never end: a pipe, socket or terminal.
func streamMode(m os.FileMode) bool {
	return m&(os.ModeNamedPipe|os.ModeSocket|os.ModeCharDevice) != 0
}

func closeInputs(inputs []*input) {
	for _, in := range inputs {
		if in.closer != nil {
			in.closer.Close()
		}
	}
}

func pipelineInputs(inputs []*input) []pipeline.Input {
	out := make([]pipeline.Input, len(inputs))
	for i, in := range inputs {
		out[i] = pipeline.Input{Name: in.name, R: in.r}
	}
	return out
}

// loadRules reads and compiles the rules a detection runs: the built-in
// rules without their embedded tests, then paths in order.
func loadRules(paths []string) (*rules.Set, error) {
	return loadRulesWith(rules.LoadForDetection, paths)
}

// loadRulesWith reads paths and compiles them with load; a file that cannot
// be read or has a problem is a usage error (exit 2).
func loadRulesWith(load func(...rules.File) (*rules.Set, error), paths []string) (*rules.Set, error) {
	files, _, err := readRuleFiles("--rules", paths)
	if err != nil {
		return nil, err
	}
	return compileRulesWith(load, files)
}

// readRuleFiles reads the rule files paths name, each file once: one named
// twice (rules.yaml and ./rules.yaml, or a link to it) would define its
// rules twice, which is an error for two files. sameAs[i] is the earlier
// name of the file paths[i] names again, "" for a file named first. A file
// that cannot be read is said to be one of what (--rules, which the
// command blames on the variable or config key that named it).
func readRuleFiles(what string, paths []string) (files []rules.File, sameAs []string, err error) {
	var named namedFiles
	sameAs = make([]string, len(paths))
	for i, p := range paths {
		if st, err := os.Stat(p); err == nil {
			if first, again := named.again(p, st); again {
				sameAs[i] = first
				continue
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, usageErrorf("%s: %w", what, err)
		}
		files = append(files, rules.File{Name: p, Data: data})
	}
	return files, sameAs, nil
}

// namedFiles are the files a command was given, by identity, so that each
// is read once whatever it was called: the same name again, another
// spelling, a link.
type namedFiles []namedFile

type namedFile struct {
	name string
	info os.FileInfo
}

// again returns the name the file st is was given before; otherwise it
// remembers the file under name.
func (n *namedFiles) again(name string, st os.FileInfo) (first string, again bool) {
	if i := slices.IndexFunc(*n, func(f namedFile) bool { return os.SameFile(f.info, st) }); i >= 0 {
		return (*n)[i].name, true
	}
	*n = append(*n, namedFile{name, st})
	return "", false
}

// compileRules compiles the built-in rules (without their embedded tests)
// and files, as compileRulesWith does.
func compileRules(files []rules.File) (*rules.Set, error) {
	return compileRulesWith(rules.LoadForDetection, files)
}

// compileRulesWith compiles files with load; its error is a usage error
// (exit 2) naming each problem's file:line:column.
func compileRulesWith(load func(...rules.File) (*rules.Set, error), files []rules.File) (*rules.Set, error) {
	set, err := load(files...)
	if err != nil {
		return nil, usageError{err}
	}
	return set, nil
}

// geoLookup hands a database on as a lookup; a nil database is no lookup
// (an interface holding a nil pointer would not be nil).
func geoLookup(db *geo.DB) correlate.GeoLookup {
	if db == nil {
		return nil
	}
	return db
}
