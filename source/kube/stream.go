package kube

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/graceguard/graceguard/internal/retry"
	"github.com/graceguard/graceguard/source"
)

// instance names one container instance's log.
type instance struct {
	namespace, pod, container string
	path                      string // namespace/pod/container: the alerts' source
	id                        string // the runtime's container id, e.g. containerd://…
}

func (i instance) key() string { return "kube:" + i.path + "#" + i.id }

// logMode says how an instance's log is to be read now.
type logMode int

const (
	modeFollow   logMode = iota // running: follow it
	modeCurrent                 // stopped, still the container's latest instance: read to its end
	modePrevious                // stopped, the one before the latest: read with previous=true
	modeGone                    // its pod, or the pod's memory of it, is gone: nothing more to read
)

// maxStoppedTries bounds the tries to read the rest of a stopped
// container's log; a running one's is tried for as long as it runs.
const maxStoppedTries = 5

// maxLine bounds a line handed on: a record is cut at 1 MiB downstream, and
// the timestamp comes before it.
const maxLine = 1<<20 + maxStamp

// stream reads one container instance's log.
type stream struct {
	src  *Source
	inst instance
	id   source.FileID
	log  *slog.Logger

	pos     cursor // after the last line handed on
	off     int64  // the virtual offset of the next line
	fromEnd bool   // the first connection asks for no old lines
	idle    bool   // an Idle batch was sent since the last line
	lines   int    // handed on by the current connection
	kick    chan struct{}
	// after is the previous instance of the same container, still being
	// read: its lines are older, and the pipeline's correlation wants a
	// container's lines in the order they were written.
	after *stream
	seq   int           // start order
	done  chan struct{} // closed when run returns
	// doubted is when a connection first failed to prove it serves this
	// instance's log (skipper.proven); zero once one did.
	doubted time.Time
}

// errOtherLog is a connection that did not send again the lines before
// the stream's cursor: the log is not this instance's, or lost them.
var errOtherLog = errors.New("the log served does not hold the last lines read: not this instance's (the container restarted?) or rotated")

// startLocked starts following an instance, from a checkpointed position,
// or its end, or its start, or the time it began to wait for a stream.
func (s *Source) startLocked(ctx context.Context, p pending) {
	inst := p.inst
	st := &stream{
		src: s, inst: inst, id: source.FileID{Fingerprint: inst.id}, fromEnd: p.fromEnd,
		kick: make(chan struct{}, 1),
		log:  s.log.With("source", inst.path, "container_id", inst.id),
	}
	st.pos.at = p.since
	if p.restored {
		c, err := parseCursor(p.pos.Cursor)
		if err != nil {
			st.log.Warn("checkpoint's cursor is damaged; reading the log from its start", "err", err)
		} else {
			st.pos, st.off = c, p.pos.Offset
		}
	}
	s.seq++
	st.seq, st.done = s.seq, make(chan struct{})
	for _, o := range s.streams {
		if o.inst.path == inst.path && (st.after == nil || o.seq > st.after.seq) {
			st.after = o
		}
	}
	s.streams[inst.id] = st
	s.wg.Add(1)
	st.log.Info("following container log", "from", st.describeStart(p.restored))
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.streams, inst.id)
			s.startWaitingLocked(ctx)
			s.mu.Unlock()
			close(st.done)
		}()
		if st.after != nil {
			select {
			case <-st.after.done:
			case <-ctx.Done():
				return
			}
		}
		st.run(ctx)
	}()
}

func (st *stream) describeStart(restored bool) string {
	switch {
	case restored:
		return "checkpoint " + st.pos.String()
	case st.fromEnd:
		return "end"
	case !st.pos.at.IsZero():
		return "when it began to wait, " + st.pos.String()
	}
	return "start"
}

// run reads the log, reconnecting as needed, until the instance's log is
// over or ctx ends.
func (st *stream) run(ctx context.Context) {
	bo := newBackoff(st.src.opt.MinBackoff, st.src.opt.MaxBackoff)
	failed := 0 // reads of a stopped container's log that failed
	for first := true; ; first = false {
		mode, fresh := st.src.mode(st.inst), false
		if !first {
			mode, fresh = st.src.freshMode(ctx, st.inst, mode)
		}
		if mode == modeGone {
			st.end(ctx, "its pod or container is gone")
			return
		}
		st.lines = 0
		eof, err := st.read(ctx, mode, st.trust(mode, fresh))
		if ctx.Err() != nil {
			return
		}
		if eof && mode != modeFollow {
			st.end(ctx, "its container stopped")
			return
		}
		if err != nil && mode != modeFollow {
			// The kubelet may have removed a stopped container's log.
			if failed++; failed == maxStoppedTries {
				st.end(ctx, "its stopped container's log cannot be read")
				return
			}
		}
		wait := st.retryIn(bo, eof, err)
		if st.lines > 0 {
			bo.reset()
		}
		if !st.sendIdle(ctx) || !st.awayFor(ctx, wait) {
			return
		}
	}
}

// retryIn is the wait before the log is asked for again, said in the log
// when it broke.
func (st *stream) retryIn(bo *backoff, eof bool, err error) time.Duration {
	wait := bo.next()
	switch {
	case isStatus(err, 401) || isStatus(err, 403):
		st.log.Warn("the API server refuses this container's log; asking again", "err", err, "retry_in", wait.Round(time.Millisecond),
			"needs", "get on pods/log in namespace "+st.src.opt.Namespace)
	case errors.Is(err, errOtherLog):
		st.doubt(err)
		wait = max(wait, st.src.opt.Reconnect)
	case err != nil:
		st.log.Warn("container log stream broke; reconnecting", "err", err, "retry_in", wait.Round(time.Millisecond))
	case eof && st.src.mode(st.inst) == modeFollow:
		// Mostly the container stopped and its pod's status does not say
		// so yet: it gets time to, which spares asking for the restarted
		// container's log, which the check would refuse.
		wait = max(wait, st.src.opt.Reconnect)
	case eof:
		wait = 0 // stopped: read the rest at once
	}
	if err == nil || st.lines > 0 {
		st.doubted = time.Time{}
	}
	return wait
}

// doubt notes a connection that did not prove it served this instance's
// log; the first of a run of them is logged.
func (st *stream) doubt(err error) {
	if !st.doubted.IsZero() {
		return
	}
	st.doubted = time.Now()
	st.log.Warn("the log served is not this instance's, or lost its last lines: refused, asking again",
		"err", err, "cursor", st.pos.String(), "trust_after", st.src.opt.TrustAfter)
}

// trust says whether the next connection is taken for this instance's
// without proof: only after TrustAfter of doubt, and only while the API
// server itself, asked just now, still says the instance is running, for
// then the log was rotated rather than the container restarted (a
// kubelet reports a restart within seconds). Its lines from before the
// rotation and after the cursor are lost; refusing it for good would lose
// all the rest. Where the pod cannot be read (a role without get on pods,
// the API failing), the pod watch's word stands after three times as
// long: a watch lagging a restart that long is far rarer than a rotation,
// and without it a rotated log would be refused for ever.
func (st *stream) trust(mode logMode, fresh bool) bool {
	if st.doubted.IsZero() || mode != modeFollow {
		return false
	}
	doubt, after := time.Since(st.doubted), st.src.opt.TrustAfter
	switch {
	case fresh && doubt >= after:
	case !fresh && doubt >= 3*after:
		st.log.Warn("the pod could not be read to tell a rotated log from a restarted container; going by the pod watch",
			"needs", "get on pods in namespace "+st.src.opt.Namespace, "doubted_for", doubt.Round(time.Millisecond))
	default:
		return false
	}
	st.log.Warn("the pod's status still says this instance runs: taking its log as rotated, the lines it lost are lost",
		"cursor", st.pos.String(), "doubted_for", doubt.Round(time.Millisecond))
	return true
}

// awayEvery is how often a stream waiting to reconnect says it is away.
const awayEvery = 500 * time.Millisecond

// awayFor waits d before the log is asked for again, saying the stream is
// away meanwhile (Batch.Away), so that another pod's replay waits for the
// lines this one may bring back. Only a reconnection's usual wait
// (Reconnect) is said so: a stream that stays away longer (the API failing,
// backing off) stops holding the others, as a hung read does. Its Idle
// batch came first: the last record read is judged meanwhile.
func (st *stream) awayFor(ctx context.Context, d time.Duration) bool {
	say := time.Now().Add(st.src.opt.Reconnect)
	for end := time.Now().Add(d); ; {
		if time.Now().Before(say) && !st.src.send(ctx, st.away()) {
			return false
		}
		left := time.Until(end)
		if left <= 0 {
			return true
		}
		if retry.Sleep(ctx, min(left, awayEvery)) != nil {
			return false
		}
	}
}

// away is an Away batch at the current position; the next quiet spell
// after it sends Idle again.
func (st *stream) away() source.Batch {
	st.idle = false
	b := st.batch(false)
	b.Idle, b.Away = false, true
	return b
}

// read makes one connection and hands on the lines it brings that were not
// handed on before. eof says the server ended the log.
func (st *stream) read(ctx context.Context, mode logMode, trust bool) (eof bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := url.Values{"container": {st.inst.container}, "timestamps": {"true"}}
	switch mode {
	case modeFollow:
		q.Set("follow", "true")
	case modePrevious:
		q.Set("previous", "true")
	}
	skip := skipper{to: st.pos, trust: trust}
	if st.fromEnd {
		// Nothing that is there now; should this connection break before
		// a line comes, the next asks from this moment on.
		q.Set("tailLines", "0")
		skip.done = true
	} else if since, ok := st.pos.since(); ok {
		q.Set("sinceTime", since)
	}
	body, err := st.src.api.podLog(ctx, st.inst.pod, q)
	st.src.setRefused(st.inst.id, isStatus(err, 401) || isStatus(err, 403))
	if err != nil {
		return false, err
	}
	defer body.Close()
	if st.fromEnd {
		st.fromEnd, st.pos = false, cursor{at: time.Now().UTC()}
	}
	lines := make(chan lineMsg)
	go readLines(ctx, body, lines)
	return st.pump(ctx, lines, &skip, mode, cancel)
}

// pump hands on lines as they come, an Idle batch when they pause, and cuts
// a followed connection that outlives its container by DrainGrace.
func (st *stream) pump(ctx context.Context, lines <-chan lineMsg, skip *skipper, mode logMode, cut context.CancelFunc) (bool, error) {
	idle := time.NewTimer(st.src.opt.Idle)
	defer idle.Stop()
	var drain <-chan time.Time
	var prev time.Time // the stamp a line without one is taken to have
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case m := <-lines:
			// A line without its newline is whole only at the end of a
			// stopped container's log; otherwise it comes again.
			whole := m.err == nil || (errors.Is(m.err, io.EOF) && mode != modeFollow)
			if len(m.line) > 0 && whole {
				if err := st.handOn(ctx, m.line, skip, &prev); err != nil {
					return false, err
				}
				idle.Reset(st.src.opt.Idle)
			}
			if errors.Is(m.err, io.EOF) && !skip.proven() {
				return false, errOtherLog // its end is another log's too
			}
			if errors.Is(m.err, io.EOF) {
				return true, nil
			}
			if m.err != nil {
				return false, m.err
			}
		case <-idle.C:
			if !st.sendIdle(ctx) {
				return false, ctx.Err()
			}
		case <-st.kick:
			if mode == modeFollow && drain == nil && st.src.mode(st.inst) != modeFollow {
				drain = time.After(st.src.opt.DrainGrace)
			}
		case <-drain:
			cut()
			return false, errors.New("the container stopped but its log went on; asking for the rest")
		}
	}
}

// handOn sends one line unless the connection sent it before, or has not
// proven it serves this instance's log.
func (st *stream) handOn(ctx context.Context, line []byte, skip *skipper, prev *time.Time) error {
	if line[len(line)-1] != '\n' {
		line = append(line, '\n') // the log's last line, ended with its container
	}
	at, ok := lineTime(line)
	if !ok {
		at = *prev
	}
	*prev = at
	if skip.skip(at) {
		return nil
	}
	if !skip.proven() {
		return errOtherLog
	}
	if keep := st.src.opt.Keep; keep != nil && !keep(line) {
		line = blankLine(line)
	}
	b := source.Batch{
		Key: st.inst.key(), Path: st.inst.path, ID: st.id,
		Data: line, Offset: st.off, Cursor: st.pos.lineStart(at).String(), Written: at,
	}
	if !st.src.send(ctx, b) {
		return ctx.Err()
	}
	st.pos.advance(at)
	st.off += int64(len(line))
	st.idle = false
	st.lines++
	return nil
}

// blankLine is line with everything after its timestamp blanked: it
// stands for a line Keep refused, so that offsets and cursors go on as the
// log does, and the pipeline still reads a `--timestamps` line.
func blankLine(line []byte) []byte {
	b := make([]byte, len(line))
	stamp := bytes.IndexByte(line, ' ') + 1
	copy(b, line[:stamp])
	for i := stamp; i < len(b)-1; i++ {
		b[i] = ' '
	}
	b[len(b)-1] = '\n'
	return b
}

// sendIdle tells the pipeline the log is quiet, once a pause.
func (st *stream) sendIdle(ctx context.Context) bool {
	if st.idle {
		return true
	}
	st.idle = true
	return st.src.send(ctx, st.batch(false))
}

// batch is an Idle or Ended batch at the current position.
func (st *stream) batch(ended bool) source.Batch {
	return source.Batch{
		Key: st.inst.key(), Path: st.inst.path, ID: st.id, Offset: st.off,
		Cursor: st.pos.String(), Idle: !ended, Ended: ended,
	}
}

func (st *stream) end(ctx context.Context, why string) {
	st.src.setRefused(st.inst.id, false)
	st.log.Info("container log ended", "why", why, "offset", st.off)
	st.src.send(ctx, st.batch(true))
}

// lineMsg is one line read, or the end of the connection: err is io.EOF
// when the server ended it, and line then holds what came after the last
// newline, if anything.
type lineMsg struct {
	line []byte
	err  error
}

// readLines reads lines until the connection ends, cutting any longer than
// maxLine (the rest up to its newline is dropped).
func readLines(ctx context.Context, r io.Reader, out chan<- lineMsg) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk[:min(len(chunk), maxLine-len(line))]...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == nil && line[len(line)-1] != '\n' {
			line = append(line, '\n') // cut
		}
		select {
		case out <- lineMsg{line: line, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
		line = nil
	}
}
