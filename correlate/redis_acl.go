package correlate

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scriptCommands are the commands graceguard's scripts call (redis.lua,
// the moves', the claims' and the repair's) and the ones that call them,
// each with arguments of its arity, K standing for a key under the prefix.
// Redis checks a script's commands against the ACL only when the script
// runs them: a user allowed EVALSHA but not ZADD passes SCRIPT LOAD and
// fails the first event judged, so Check asks Redis about each
// (redis.acl_check_cmd, Redis 7) without running any.
// TestScriptCommandsAreChecked keeps the list whole.
var scriptCommands = map[string]string{
	"EVAL":             "return 0 0",
	"EVALSHA":          "0000000000000000000000000000000000000000 0",
	"DEL":              "K",
	"EXISTS":           "K",
	"GET":              "K",
	"HGET":             "K f",
	"HGETALL":          "K",
	"HINCRBY":          "K f 1",
	"HMGET":            "K f",
	"HSET":             "K f v",
	"INCRBY":           "K 1",
	"PEXPIRE":          "K 1",
	"SET":              "K v",
	"TYPE":             "K",
	"ZADD":             "K 0 m",
	"ZCARD":            "K",
	"ZCOUNT":           "K 0 1",
	"ZMSCORE":          "K m",
	"ZPOPMIN":          "K",
	"ZRANGE":           "K 0 1",
	"ZRANGEBYLEX":      "K - +",
	"ZRANGEBYSCORE":    "K 0 1",
	"ZREM":             "K m",
	"ZREMRANGEBYRANK":  "K 0 1",
	"ZREMRANGEBYSCORE": "K 0 1",
	"ZREVRANGE":        "K 0 1",
	"ZREVRANGEBYSCORE": "K 1 0",
	"ZSCORE":           "K m",
}

// aclCheckScript returns the first of ARGV[2:] (a command and its
// arguments, K for the key ARGV[1]) the caller's ACL does not allow, or
// "" when it allows them all.
var aclCheckScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(`for i = 2, #ARGV do
  local args = {}
  for w in string.gmatch(ARGV[i], '%S+') do
    if w == 'K' then w = ARGV[1] end
    args[#args + 1] = w
  end
  if not redis.acl_check_cmd(unpack(args)) then return ARGV[i] end
end
return ''`)
})

// aclCheckArgs is the check script's arguments for key, in a stable order.
var aclCheckArgs = sync.OnceValue(func() []string {
	names := make([]string, 0, len(scriptCommands))
	for name := range scriptCommands {
		names = append(names, name)
	}
	sort.Strings(names)
	args := make([]string, 0, len(names))
	for _, name := range names {
		args = append(args, name+" "+scriptCommands[name])
	}
	return args
})

// checkACL asks Redis whether this user may run every command the scripts
// call, on a key under the prefix; an *aclError names the first it may not.
func (r *Redis) checkACL(ctx context.Context) error {
	key := r.hist + "acl-check"
	args := append([]any{key}, toAny(aclCheckArgs())...)
	denied, err := aclCheckScript().Run(ctx, r.client, nil, args...).Text()
	if err != nil {
		return err
	}
	if denied != "" {
		name, _, _ := strings.Cut(denied, " ")
		return &aclError{command: name, key: key}
	}
	return nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// checkDuplex sets up the batches' connection now (AUTH, SELECT), where a
// refusal is Check's: it speaks a one-argument AUTH where go-redis speaks
// HELLO, and Redis answers the two differently (a password given to a
// Redis without one).
func (d *duplex) check(ctx context.Context) error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errDuplexClosed
	}
	_, err := d.live(ctx)
	return err
}
