package correlate

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// A key of the history holding another type than the history keeps there
// (set by hand, or left by another program sharing the prefix) fails every
// command that writes it, and with it the whole round trip: the failover
// store kept the batch to write back, reconnected at once (the server
// answers) and failed again on the same key, for every batch of every user,
// while reporting itself up. No retry can get past such a key, so the
// write-back deletes it: it held nothing the history can read.

// isWrongType says whether err is Redis refusing a command, plain or in the
// script, on a key of another type.
func isWrongType(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(re.Error(), "WRONGTYPE")
}

// userKeyTypes are a user's keys (after "u:<member>") and their types.
var userKeyTypes = [...]struct{ suffix, typ string }{
	{":m", "hash"}, {":r", "zset"}, {":i", "zset"}, {":x", "zset"}, {":y", "zset"},
	{":c", "zset"}, {":a", "zset"}, {":fi", "zset"}, {":fc", "zset"}, {":fa", "zset"},
}

// repairTypes deletes the keys batch's events write that hold another type
// than the history keeps there, and returns them.
func (r *Redis) repairTypes(ctx context.Context, batch []Observation) ([]string, error) {
	want := map[string]string{
		r.hist + "users": "zset", r.hist + "first": "zset", r.hist + "st": "hash",
		r.hist + "ra": "zset", r.hist + "rx": "zset", r.hist + "drops": "string",
		r.hist + "cut:" + r.owner: "hash", r.hist + "gate:" + r.owner: "string",
	}
	for _, o := range batch {
		u := r.hist + "u:" + member(o.User)
		for _, k := range userKeyTypes {
			want[u+k.suffix] = k.typ
		}
	}
	keys := make([]string, 0, len(want))
	types := make([]any, 0, len(want))
	for k, t := range want {
		keys = append(keys, k)
		types = append(types, t)
	}
	// Typed and deleted in one script: between a TYPE and a later DEL,
	// another watcher's repair could delete the key and its next write
	// fill it with real history, which the DEL would then lose.
	return repairScript.Run(ctx, r.client, keys, types...).StringSlice()
}

var repairScript = redis.NewScript(`local wrong = {}
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k).ok
  if t ~= 'none' and t ~= ARGV[i] then
    redis.call('DEL', k)
    wrong[#wrong + 1] = k
  end
end
return wrong`)
