package correlate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// RESP2, as the duplex connection speaks it: commands written as arrays of
// bulk strings, replies read as strings, integers, nil, arrays and error
// values.

var errProtocol = errors.New("redis: unreadable reply")

// replyError is an error Redis answered, as go-redis's: a redis.Error.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// maxBulk bounds a reply's string and array lengths: a corrupt length must
// not make the reader allocate gigabytes. Redis's own bound on a string is
// 512 MB; a batch's replies are far below this.
const maxBulk = 64 << 20

// readReply reads one RESP2 reply: a string, int64, nil, []any, or a
// replyError value.
func readReply(rd *bufio.Reader) (any, error) { return walkReply(rd, true) }

// skipReply reads one reply whose value no one reads, as readReply does
// but keeping nothing: the error Redis answered (a replyError), or nil.
// Most of a batch's replies are such (its writes' counts), and parsing
// them cost the watcher an allocation or two each.
func skipReply(rd *bufio.Reader) (answered, err error) {
	v, err := walkReply(rd, false)
	if e, ok := v.(replyError); ok {
		return e, nil
	}
	return nil, err
}

// walkReply reads one reply, the grammar both readReply and skipReply
// read; unless keep, it makes nothing of what it reads but an error Redis
// answered at the top (nested ones are dropped with their array).
func walkReply(rd *bufio.Reader, keep bool) (any, error) {
	line, err := readLine(rd)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, fmt.Errorf("%w: empty line", errProtocol)
	}
	switch line[0] {
	case '+':
		if !keep {
			return nil, nil
		}
		return string(line[1:]), nil
	case '-':
		return replyError(line[1:]), nil
	case ':':
		n, ok := parseInt(line[1:])
		if !ok {
			return nil, fmt.Errorf("%w: integer %q", errProtocol, line)
		}
		if !keep {
			return nil, nil
		}
		return n, nil
	case '$':
		n, err := replyLen(line)
		if err != nil || n < 0 {
			return nil, err
		}
		if !keep {
			return nil, discardBulk(rd, n)
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(rd, b); err != nil {
			return nil, err
		}
		if b[n] != '\r' || b[n+1] != '\n' {
			return nil, fmt.Errorf("%w: bulk string not ended by CRLF", errProtocol)
		}
		return string(b[:n]), nil
	case '*':
		n, err := replyLen(line)
		if err != nil || n < 0 {
			return nil, err
		}
		if !keep {
			for range n {
				if _, err := walkReply(rd, false); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}
		// Grown as the elements come: the length alone is no reason to
		// allocate (16 bytes an entry, a gigabyte at maxBulk).
		out := make([]any, 0, min(n, 1024))
		for range n {
			v, err := walkReply(rd, true)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %q", errProtocol, line)
}

// discardBulk skips a bulk string's n bytes and its CRLF.
func discardBulk(rd *bufio.Reader, n int) error {
	if _, err := rd.Discard(n); err != nil {
		return err
	}
	end, err := readLine(rd)
	if err != nil {
		return err
	}
	if len(end) != 0 {
		return fmt.Errorf("%w: bulk string not ended by CRLF", errProtocol)
	}
	return nil
}

// parseInt reads a reply's decimal integer, as Redis writes it (digits,
// maybe a minus), without making a string of it.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64 // 19 digits fit
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n <= 1<<63:
		return -int64(n), true // 1<<63 wraps to the least int64, which it is
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}

// replyLen reads a bulk string's or an array's length: -1 is nil.
func replyLen(line []byte) (int, error) {
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < -1 || n > maxBulk {
		return 0, fmt.Errorf("%w: length %q", errProtocol, line)
	}
	return n, nil
}

// readLine reads a line without its CRLF; the slice is the reader's.
func readLine(rd *bufio.Reader) ([]byte, error) {
	line, err := rd.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line longer than %d bytes", errProtocol, rd.Size())
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line not ended by CRLF", errProtocol)
	}
	return line[:len(line)-2], nil
}

// appendCommand appends a command as Redis reads it: an array of bulk
// strings.
func appendCommand(b []byte, args []any) ([]byte, error) {
	return appendArgs(appendArray(b, argCount(args)), args)
}

// argRun is an argument that stands for several: a script call's runs of
// (time, member) pairs, written straight into the command rather than
// boxed, two allocations a pair, into a slice of arguments first. Spread
// gives them as arguments, for a go-redis pipeline.
type argRun interface {
	count() int
	appendTo(b []byte) []byte
	spread(args []any) []any
}

// argCount is how many arguments args stand for.
func argCount(args []any) int {
	n := len(args)
	for _, a := range args {
		if r, ok := a.(argRun); ok {
			n += r.count() - 1
		}
	}
	return n
}

// spreadArgs replaces each argRun of args with the arguments it stands for.
func spreadArgs(args []any) []any {
	out := make([]any, 0, argCount(args))
	for _, a := range args {
		if r, ok := a.(argRun); ok {
			out = r.spread(out)
			continue
		}
		out = append(out, a)
	}
	return out
}

// appendArgs appends args as bulk strings.
func appendArgs(b []byte, args []any) ([]byte, error) {
	var num [24]byte
	for _, a := range args {
		var s []byte
		switch v := a.(type) {
		case string:
			b = appendBulk(b, v)
			continue
		case argRun:
			b = v.appendTo(b)
			continue
		case []byte:
			s = v
		case int:
			s = strconv.AppendInt(num[:0], int64(v), 10)
		case int64:
			s = strconv.AppendInt(num[:0], v, 10)
		case int32:
			s = strconv.AppendInt(num[:0], int64(v), 10)
		case uint:
			s = strconv.AppendUint(num[:0], uint64(v), 10)
		case uint64:
			s = strconv.AppendUint(num[:0], v, 10)
		case uint32:
			s = strconv.AppendUint(num[:0], uint64(v), 10)
		case float64:
			s = strconv.AppendFloat(num[:0], v, 'f', -1, 64)
		case bool:
			s = num[:1]
			s[0] = '0'
			if v {
				s[0] = '1'
			}
		default:
			return b, fmt.Errorf("redis: argument of type %T cannot be sent on a duplex connection", a)
		}
		b = appendBulk(b, string(s))
	}
	return b, nil
}

func appendBulk(b []byte, s string) []byte {
	b = strconv.AppendInt(append(b, '$'), int64(len(s)), 10)
	b = append(append(append(b, '\r', '\n'), s...), '\r', '\n')
	return b
}

func appendArray(b []byte, n int) []byte {
	return append(strconv.AppendInt(append(b, '*'), int64(n), 10), '\r', '\n')
}

func appendBulkInt(b []byte, i int64) []byte {
	var num [24]byte
	s := strconv.AppendInt(num[:0], i, 10)
	b = append(strconv.AppendInt(append(b, '$'), int64(len(s)), 10), '\r', '\n')
	return append(append(b, s...), '\r', '\n')
}
