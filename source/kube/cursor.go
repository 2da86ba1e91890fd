package kube

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cursor is a point in one container instance's log: after every line
// stamped before at, and after the first n lines stamped exactly at. The
// runtime stamps every line of one write with the same time (a stack trace
// is one write), so the count is what makes the point exact.
//
// A log's stamps are taken to grow with the lines (the runtime stamps them
// as it reads the container's output); a line stamped earlier than one
// before it would be dropped on a resume, as the API's sinceTime drops it.
type cursor struct {
	at time.Time
	n  int
}

// String is the cursor's form in a Batch and a checkpoint:
// "2026-11-23T10:00:00.123456789Z|2". The zero cursor (a log's start) is
// "0001-01-01T00:00:00Z|0".
func (c cursor) String() string {
	return c.at.UTC().Format(time.RFC3339Nano) + "|" + strconv.Itoa(c.n)
}

// maxCursor bounds what parseCursor reads: a checkpoint is not trusted.
const maxCursor = 64

func parseCursor(s string) (cursor, error) {
	if len(s) > maxCursor {
		return cursor{}, fmt.Errorf("cursor %.20q…: too long", s)
	}
	stamp, count, ok := strings.Cut(s, "|")
	if !ok {
		return cursor{}, fmt.Errorf("cursor %q: want TIME|COUNT", s)
	}
	at, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return cursor{}, fmt.Errorf("cursor %q: %w", s, err)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 {
		return cursor{}, fmt.Errorf("cursor %q: bad count", s)
	}
	return cursor{at: at, n: n}, nil
}

// since is the sinceTime to ask the API for, if any: the cursor's second.
// The API server passes sinceTime on to the kubelet formatted as RFC 3339
// without fractions, so it would drop them anyway; asking for the whole
// second makes the request say what it gets, and the lines of that second
// before the cursor are skipped here.
func (c cursor) since() (string, bool) {
	if c.at.IsZero() {
		return "", false
	}
	return c.at.UTC().Truncate(time.Second).Format(time.RFC3339), true
}

// advance moves the cursor past a line stamped at.
func (c *cursor) advance(at time.Time) {
	if at.Equal(c.at) {
		c.n++
		return
	}
	c.at, c.n = at, 1
}

// lineStart is the cursor naming a line stamped at that comes after c.
func (c cursor) lineStart(at time.Time) cursor {
	if at.Equal(c.at) {
		return c
	}
	return cursor{at: at}
}

// skipper drops, at the head of a connection, the lines before a cursor
// that the server sends again: those stamped before it, and the first n
// stamped at its time. Once a line is let through, all the rest are.
//
// It also proves the connection: the log an instance's stream is served
// again holds the n lines stamped at the cursor's time, which were read
// from it; a log without them is another's (the container's newer
// instance: the API serves a container's latest) or lost them (rotated).
type skipper struct {
	to    cursor
	seen  int
	done  bool
	trust bool // take the log for the stream's without proof
}

// proven reports whether the lines the cursor counts came again, or need
// not have.
func (s *skipper) proven() bool { return s.trust || s.seen >= s.to.n }

func (s *skipper) skip(at time.Time) bool {
	switch {
	case s.done:
		return false
	case at.Before(s.to.at):
		return true
	case at.Equal(s.to.at) && s.seen < s.to.n:
		s.seen++
		return true
	}
	s.done = true
	return false
}

// maxStamp bounds where the space after a line's timestamp may be.
const maxStamp = 40

// lineTime reads the RFC 3339 timestamp the API puts before each line with
// timestamps=true.
func lineTime(line []byte) (time.Time, bool) {
	i := bytes.IndexByte(line[:min(len(line), maxStamp)], ' ')
	if i <= 0 {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, string(line[:i]))
	return at, err == nil
}
