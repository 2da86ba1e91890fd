package correlate

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// batchQueue is where a batch's commands go as they are built: a go-redis
// pipeline, for a round trip on the client's pool, or RESP written straight
// into a buffer for the duplex connection. The second spares each command
// its go-redis object and boxed arguments (a 64 MB catch-up sends ~90,000
// commands, a fifth of the watcher's allocations) and the encoding later.
type batchQueue interface {
	// do queues a command whose reply is read.
	do(ctx context.Context, args ...any) *redis.Cmd
	// evalSha queues a call of the history script.
	evalSha(ctx context.Context, args []any) *redis.Cmd
	// zadd queues ZADD key [flag] t member..., its reply only checked for
	// an error.
	zadd(ctx context.Context, key keyParts, flag string, s scored)
	// trim queues ZREMRANGEBYRANK key lo hi; its reply (how many it
	// removed) is read when counted, else only checked for an error.
	trim(ctx context.Context, key keyParts, lo, hi int, counted bool) *redis.Cmd
}

// keyParts is a key as the parts it is made of (prefix, a user's or a
// session's name, a suffix), which the duplex connection's commands write
// one after the other: a catch-up's plain writes name ~3 keys an event,
// and joining each into a string first was a quarter of the allocations of
// building a batch.
type keyParts struct{ head, name, tail string }

// String is the key whole, for a go-redis pipeline.
func (k keyParts) String() string { return k.head + k.name + k.tail }

// appendBulkKey writes k as one bulk string.
func appendBulkKey(b []byte, k keyParts) []byte {
	b = strconv.AppendInt(append(b, '$'), int64(len(k.head)+len(k.name)+len(k.tail)), 10)
	b = append(append(append(append(b, '\r', '\n'), k.head...), k.name...), k.tail...)
	return append(b, '\r', '\n')
}

// pipeQueue queues in a go-redis pipeline.
type pipeQueue struct{ pipe redis.Pipeliner }

func (q pipeQueue) do(ctx context.Context, args ...any) *redis.Cmd {
	return q.pipe.Do(ctx, spreadArgs(args)...)
}

func (q pipeQueue) evalSha(ctx context.Context, args []any) *redis.Cmd {
	return applyScript().EvalSha(ctx, q.pipe, nil, spreadArgs(args)...)
}

func (q pipeQueue) zadd(ctx context.Context, key keyParts, flag string, s scored) {
	q.pipe.Do(ctx, s.zadd(key.String(), flag)...)
}

func (q pipeQueue) trim(ctx context.Context, key keyParts, lo, hi int, _ bool) *redis.Cmd {
	return q.pipe.Do(ctx, "ZREMRANGEBYRANK", key.String(), trimBound(lo), trimBound(hi))
}

// wireQueue writes commands as Redis reads them, and keeps for each the
// command its reply goes to (nil: only checked for an error).
type wireQueue struct {
	buf   []byte
	sinks []redis.Cmder
	err   error // an argument that cannot be written: the batch fails
}

func (q *wireQueue) do(ctx context.Context, args ...any) *redis.Cmd {
	cmd := redis.NewCmd(ctx, args...)
	var err error
	if q.buf, err = appendCommand(q.buf, args); err != nil && q.err == nil {
		q.err = err
	}
	q.sinks = append(q.sinks, cmd)
	return cmd
}

func (q *wireQueue) evalSha(ctx context.Context, args []any) *redis.Cmd {
	cmd := redis.NewCmd(ctx, "evalsha")
	q.buf = appendBulk(appendBulk(appendArray(q.buf, 3+argCount(args)), "evalsha"), applyScript().Hash())
	q.buf = appendBulk(q.buf, "0")
	var err error
	if q.buf, err = appendArgs(q.buf, args); err != nil && q.err == nil {
		q.err = err
	}
	q.sinks = append(q.sinks, cmd)
	return cmd
}

func (q *wireQueue) zadd(_ context.Context, key keyParts, flag string, s scored) {
	n := 2 + 2*len(s)
	if flag != "" {
		n++
	}
	q.buf = appendBulkKey(appendBulk(appendArray(q.buf, n), "ZADD"), key)
	if flag != "" {
		q.buf = appendBulk(q.buf, flag)
	}
	for _, x := range s {
		q.buf = appendBulk(appendBulkInt(q.buf, x.t), x.member)
	}
	q.sinks = append(q.sinks, nil)
}

// trimName is a counted trim's command's arguments, shared by all of them
// (NewCmd keeps the slice it is given): its name, for errors.
var trimName = []any{"zremrangebyrank"}

func (q *wireQueue) trim(ctx context.Context, key keyParts, lo, hi int, counted bool) *redis.Cmd {
	q.buf = appendBulkKey(appendBulk(appendArray(q.buf, 4), "ZREMRANGEBYRANK"), key)
	q.buf = appendBulkInt(appendBulkInt(q.buf, int64(lo)), int64(hi))
	var cmd *redis.Cmd
	if counted {
		cmd = redis.NewCmd(ctx, trimName...)
		q.sinks = append(q.sinks, cmd)
	} else {
		q.sinks = append(q.sinks, nil)
	}
	return cmd
}
