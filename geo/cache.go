package geo

import (
	"encoding/binary"
	"net/netip"
	"sync"
)

// cache remembers lookups, found or not, for a fixed number of addresses.
//
// Eviction is CLOCK (second chance): a hit only sets a bit, so hits never
// reorder a list or allocate, and an address used since the hand last passed
// survives one more sweep. That keeps the addresses a busy IdP sees again and
// again while a flood of one-off addresses (a scan, a botnet) cycles through
// the rest. The cache is split into shards, each with its own lock, so
// concurrent lookups on several cores rarely wait for each other.
type cache struct {
	shards []cacheShard
	shift  uint // shard index = hash >> shift
}

type cacheShard struct {
	mu      sync.Mutex
	index   map[netip.Addr]int32
	entries []cacheEntry // grows to capacity, then slots are reused
	limit   int
	hand    int

	hits, misses, evictions uint64

	_ [64]byte // keep neighbouring shards' locks off one cache line
}

type cacheEntry struct {
	addr netip.Addr
	info Info
	ok   bool
	used bool // hit since the hand last passed
}

// shardedAbove is the capacity from which the cache is split: a small cache
// is one shard, so its capacity and eviction order are exact.
const (
	shardedAbove = 1024
	shardBits    = 4
)

func newCache(capacity int) *cache {
	n, bits := 1, 0
	if capacity > shardedAbove {
		n, bits = 1<<shardBits, shardBits
	}
	c := &cache{shards: make([]cacheShard, n), shift: uint(64 - bits)}
	per := (capacity + n - 1) / n
	for i := range c.shards {
		c.shards[i].limit = per
		c.shards[i].index = make(map[netip.Addr]int32)
	}
	return c
}

// shard picks a's shard by mixing its bits (Fibonacci hashing), cheaper than
// a general-purpose hash and good enough to spread neighbouring addresses.
func (c *cache) shard(a netip.Addr) *cacheShard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	b := a.As16()
	x := binary.LittleEndian.Uint64(b[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(b[8:])
	x *= 0x9e3779b97f4a7c15
	return &c.shards[x>>c.shift]
}

// get returns the remembered answer for a; hit is false when there is none.
func (s *cacheShard) get(a netip.Addr) (info Info, ok, hit bool) {
	s.mu.Lock()
	if i, found := s.index[a]; found {
		e := &s.entries[i]
		e.used = true
		info, ok = e.info, e.ok
		s.hits++
		s.mu.Unlock()
		return info, ok, true
	}
	s.misses++
	s.mu.Unlock()
	return Info{}, false, false
}

// put remembers the answer for a, evicting the first entry the hand finds
// unused since its last pass. The database is asked outside the lock, so two
// goroutines may both miss on one address; the second put is a no-op.
func (s *cacheShard) put(a netip.Addr, info Info, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, found := s.index[a]; found {
		return
	}
	if len(s.entries) < s.limit {
		s.index[a] = int32(len(s.entries))
		s.entries = append(s.entries, cacheEntry{addr: a, info: info, ok: ok})
		return
	}
	for s.entries[s.hand].used {
		s.entries[s.hand].used = false
		s.hand = (s.hand + 1) % len(s.entries)
	}
	e := &s.entries[s.hand]
	delete(s.index, e.addr)
	*e = cacheEntry{addr: a, info: info, ok: ok}
	s.index[a] = int32(s.hand)
	s.hand = (s.hand + 1) % len(s.entries)
	s.evictions++
}

// Stats counts a DB's cache traffic since it was opened.
type Stats struct {
	Hits      uint64 // lookups answered from the cache
	Misses    uint64 // lookups that asked the databases
	Evictions uint64 // remembered addresses dropped to make room
	Entries   int    // addresses remembered now
	Capacity  int    // addresses it can remember
	// Errors counts records that failed to decode. Databases are verified
	// at open, so anything but 0 means a reader bug worth reporting.
	Errors uint64
}

// Stats reports the cache's counters. Lookups of addresses that are never
// looked up (private, invalid) count as neither hits nor misses.
func (db *DB) Stats() Stats {
	if db == nil {
		return Stats{}
	}
	st := Stats{Errors: db.errors.Load()}
	for i := range db.cache.shards {
		s := &db.cache.shards[i]
		s.mu.Lock()
		st.Hits += s.hits
		st.Misses += s.misses
		st.Evictions += s.evictions
		st.Entries += len(s.entries)
		st.Capacity += s.limit
		s.mu.Unlock()
	}
	return st
}
