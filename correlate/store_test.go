package correlate

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
)

// forEachStore runs fn against every Store implementation, each fresh and
// with limits l: the semantics of the history are one contract, and the
// tests that state it run against the memory store and a real Redis alike.
func forEachStore(t *testing.T, l Limits, fn func(t *testing.T, s Store)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) { fn(t, NewMemory(l)) })
	t.Run("redis", func(t *testing.T) { fn(t, newTestRedis(t, l)) })
}

// sharedRedis is the redis-server the package's store tests share, each
// in a database of its own (redistest.Shared); TestMain stops it.
var sharedRedis redistest.Shared

// newTestRedis returns a Redis store in a database of its own on the
// package's shared redis-server. A test that does anything to the server
// as a whole (SCRIPT FLUSH, INFO) uses newOwnTestRedis.
func newTestRedis(t testing.TB, l Limits) *Redis {
	t.Helper()
	srv, db := sharedRedis.DB(t)
	return redisStoreOnDB(t, srv, db, l)
}

// newOwnTestRedis returns a Redis store on a redis-server of its own.
func newOwnTestRedis(t testing.TB, l Limits) *Redis {
	t.Helper()
	return redisStoreOn(t, redistest.Start(t), l)
}

// redisStoreOn returns a Redis store over srv's database 0: several on one
// server are watchers sharing a history.
func redisStoreOn(t testing.TB, srv *redistest.Server, l Limits) *Redis {
	t.Helper()
	return redisStoreOnDB(t, srv, 0, l)
}

// redisStoreOnDB is redisStoreOn over database db.
func redisStoreOnDB(t testing.TB, srv *redistest.Server, db int, l Limits) *Redis {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	// A batch of thousands of events in one script call can take Redis
	// longer than go-redis's 3 s on a machine loaded by other work: the
	// tests here are of what the store does, not of its timeouts
	// (failover's tests set theirs).
	opt.ReadTimeout = time.Minute
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	return NewRedis(client, RedisOptions{Limits: l})
}

// statsOf reads a store's size and evictions, after sending what it batched.
func statsOf(t *testing.T, s Store) MemoryStats {
	t.Helper()
	switch s := s.(type) {
	case *Memory:
		return s.Stats()
	case *Redis:
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		st, err := s.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Fatalf("no stats for %T", s)
	return MemoryStats{}
}
