package correlate

import (
	"hash/maphash"
	"strings"
)

// lru is a map whose entries keep the order they were last used in, so the
// least recently used can be evicted in O(1).
type lru[K comparable, V any] struct {
	items map[K]*lruEntry[K, V]
	head  lruEntry[K, V] // sentinel: head.next is the most recent, head.prev the oldest
}

type lruEntry[K comparable, V any] struct {
	key        K
	val        V
	prev, next *lruEntry[K, V]
}

func newLRU[K comparable, V any]() *lru[K, V] {
	l := &lru[K, V]{items: make(map[K]*lruEntry[K, V])}
	l.head.next, l.head.prev = &l.head, &l.head
	return l
}

func (l *lru[K, V]) len() int { return len(l.items) }

// get returns the value for key and marks it most recently used.
func (l *lru[K, V]) get(key K) (V, bool) {
	e, ok := l.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	l.unlink(e)
	l.pushFront(e)
	return e.val, true
}

func (l *lru[K, V]) add(key K, v V) {
	e := &lruEntry[K, V]{key: key, val: v}
	l.items[key] = e
	l.pushFront(e)
}

func (l *lru[K, V]) removeOldest() {
	e := l.head.prev
	if e == &l.head {
		return
	}
	l.unlink(e)
	delete(l.items, e.key)
}

func (l *lru[K, V]) unlink(e *lruEntry[K, V]) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (l *lru[K, V]) pushFront(e *lruEntry[K, V]) {
	e.next = l.head.next
	e.prev = &l.head
	l.head.next.prev = e
	l.head.next = e
}

// put sets the value of a key already present and marks it most recently
// used; false when the key is absent (the caller adds it, minding the cap).
func (l *lru[K, V]) put(key K, v V) bool {
	e, ok := l.items[key]
	if !ok {
		return false
	}
	e.val = v
	l.unlink(e)
	l.pushFront(e)
	return true
}

// table is an lru for the per-user histories, built to cost little per
// entry and per lookup: entries live in chunks of a fixed size and link to
// each other by index, so there is no allocation per entry and no pointer
// to chase but the chunk's, and growing never copies (a slice growing by
// a quarter copies each entry four times over); the index maps a 64-bit
// keyed hash of the key (see userHasher) to the entry, so a lookup hashes
// the key once and compares no strings. A freed entry's place is reused.
type table[V any] struct {
	index  hashIndex
	chunks []*[chunkLen]node[V] // node 0 is the sentinel: its next is the most recent, its prev the oldest
	used   uint32               // nodes handed out, the sentinel included
	free   []uint32
}

const (
	chunkBits = 8
	chunkLen  = 1 << chunkBits
)

type node[V any] struct {
	key        uint64
	prev, next uint32
	val        V
}

func newTable[V any]() *table[V] {
	return &table[V]{index: newHashIndex(), chunks: []*[chunkLen]node[V]{new([chunkLen]node[V])}, used: 1}
}

func (t *table[V]) node(i uint32) *node[V] { return &t.chunks[i>>chunkBits][i&(chunkLen-1)] }

func (t *table[V]) len() int { return t.index.n }

func (t *table[V]) find(key uint64) (uint32, bool) {
	x := &t.index
	for p := key & x.mask; ; p = (p + 1) & x.mask {
		s := x.slots[p]
		if s == 0 {
			return 0, false
		}
		// The slot's tag is the key's low half: only a key that agrees
		// on it costs a look at the node.
		if uint32(s>>32) == uint32(key) && t.node(uint32(s)).key == key {
			return uint32(s), true
		}
	}
}

// touch returns key's value, marked most recently used, or nil.
func (t *table[V]) touch(key uint64) *V {
	i, ok := t.find(key)
	if !ok {
		return nil
	}
	if t.node(0).next != i {
		t.unlink(i)
		t.pushFront(i)
	}
	return &t.node(i).val
}

// peek returns key's value without marking it used, or nil.
func (t *table[V]) peek(key uint64) *V {
	i, ok := t.find(key)
	if !ok {
		return nil
	}
	return &t.node(i).val
}

// add adds key, absent, as the most recently used and returns its value's
// place.
func (t *table[V]) add(key uint64, v V) *V {
	var i uint32
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		if t.used == uint32(len(t.chunks))*chunkLen {
			t.chunks = append(t.chunks, new([chunkLen]node[V]))
		}
		i = t.used
		t.used++
	}
	n := t.node(i)
	*n = node[V]{key: key, val: v}
	t.index.insert(key, i)
	t.pushFront(i)
	return &n.val
}

// oldest returns the least recently used value, or nil.
func (t *table[V]) oldest() *V {
	_, v := t.oldestKey()
	return v
}

// oldestKey returns the least recently used value and its key, or nil.
func (t *table[V]) oldestKey() (uint64, *V) {
	i := t.node(0).prev
	if i == 0 {
		return 0, nil
	}
	n := t.node(i)
	return n.key, &n.val
}

// newest returns the most recently used value, or nil.
func (t *table[V]) newest() *V {
	i := t.node(0).next
	if i == 0 {
		return nil
	}
	return &t.node(i).val
}

func (t *table[V]) removeOldest() {
	if i := t.node(0).prev; i != 0 {
		t.removeAt(i)
	}
}

func (t *table[V]) remove(key uint64) {
	if i, ok := t.find(key); ok {
		t.removeAt(i)
	}
}

func (t *table[V]) removeAt(i uint32) {
	t.unlink(i)
	n := t.node(i)
	t.index.delete(i, n.key)
	*n = node[V]{} // its strings and slices go with it
	t.free = append(t.free, i)
}

// each calls fn with every value, least recently used first.
func (t *table[V]) each(fn func(*V) error) error {
	for i := t.node(0).prev; i != 0; i = t.node(i).prev {
		if err := fn(&t.node(i).val); err != nil {
			return err
		}
	}
	return nil
}

func (t *table[V]) unlink(i uint32) {
	n := t.node(i)
	t.node(n.prev).next = n.next
	t.node(n.next).prev = n.prev
}

func (t *table[V]) pushFront(i uint32) {
	s := t.node(0)
	first := s.next
	n := t.node(i)
	n.prev, n.next = 0, first
	t.node(first).prev = i
	s.next = i
}

// hashIndex maps a table's keys to its nodes: open addressing with linear
// probing over one array of 8-byte slots, each the node's index and the
// low half of its key (the slot a key starts from is in that half), 0 for
// empty. At 10,000 users it is 128 KiB, where a Go map of the same was
// twice that, and a lookup reads one slot before the node it needs anyway.
type hashIndex struct {
	slots []uint64
	mask  uint64
	n     int
}

func newHashIndex() hashIndex {
	const size = 64
	return hashIndex{slots: make([]uint64, size), mask: size - 1}
}

func (x *hashIndex) insert(key uint64, i uint32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	x.put(uint64(uint32(key))<<32 | uint64(i))
	x.n++
}

func (x *hashIndex) put(slot uint64) {
	p := (slot >> 32) & x.mask
	for x.slots[p] != 0 {
		p = (p + 1) & x.mask
	}
	x.slots[p] = slot
}

func (x *hashIndex) grow() {
	old := x.slots
	x.slots = make([]uint64, 2*len(old))
	x.mask = uint64(len(x.slots) - 1)
	for _, s := range old {
		if s != 0 {
			x.put(s)
		}
	}
}

// delete removes node i, whose key is key, moving back the slots after it
// that would no longer be found past the hole (no tombstones: a flood of
// users evicted one by one would fill the array with them).
func (x *hashIndex) delete(i uint32, key uint64) {
	p := key & x.mask
	for uint32(x.slots[p]) != i {
		p = (p + 1) & x.mask
	}
	hole := p
	for q := (hole + 1) & x.mask; x.slots[q] != 0; q = (q + 1) & x.mask {
		home := (x.slots[q] >> 32) & x.mask
		// The slot at q may fill the hole when its home is not in the
		// cyclic range (hole, q].
		if (q-home)&x.mask >= (q-hole)&x.mask {
			x.slots[hole] = x.slots[q]
			hole = q
		}
	}
	x.slots[hole] = 0
	x.n--
}

// userHasher hashes UserIDs to the table's keys. The hash is keyed with
// seeds chosen at random per process, so no log line can be written to
// collide with another user's: two of n tracked users share a key with
// odds of about n²/2⁶⁵ (3·10⁻¹⁰ at the 100,000 users of MaxUsers), and a
// new user takes a tracked one's history with odds n/2⁶⁴ (5·10⁻¹⁵). Such
// a collision would merge two users' histories (a false or a missed
// alert), which at those odds is far below every other source of error;
// comparing the DN on every lookup instead would cost a cache miss on
// its bytes per event. Nothing keyed by the hash outlives the process: a
// checkpoint keeps the users' names.
//
// The seeds are the process's, not a hasher's: the Correlator's chain index
// and the memory store then make the same key of a user, and a refresh,
// which both look up, hashes its user once (Correlator.commit).
type userHasher struct {
	dn, idp maphash.Seed
	// The IdPs hashed last and their hashes, most recent first: a
	// deployment's events name a handful (the bench log's alternate
	// between its IdP and none, logins naming none), and one slot made
	// every other event hash its IdP again and copy it.
	idps [hashedIdPs]hashedIdP
}

// hashedIdPs is how many IdPs a userHasher keeps the hash of.
const hashedIdPs = 4

type hashedIdP struct {
	name string
	hash uint64 // 0: the slot is empty
}

// userSeeds are every userHasher's seeds.
var userSeeds = struct{ dn, idp maphash.Seed }{maphash.MakeSeed(), maphash.MakeSeed()}

func newUserHasher() userHasher {
	return userHasher{dn: userSeeds.dn, idp: userSeeds.idp}
}

func (h *userHasher) hash(u UserID) uint64 {
	return maphash.String(h.dn, u.DN) ^ h.idpHash(u.IdP)
}

// idpHash is idp's share of a key, from the slots when idp was hashed
// lately. A new IdP takes the last slot and moves to the front; a hit
// moves nothing, since the IdPs hashed in turn are few.
func (h *userHasher) idpHash(idp string) uint64 {
	for i := range h.idps {
		if s := &h.idps[i]; s.hash != 0 && s.name == idp {
			return s.hash
		}
	}
	copy(h.idps[1:], h.idps[:hashedIdPs-1])
	// Cloned: the IdP is cut from a log record, which must not stay in
	// memory for it.
	h.idps[0] = hashedIdP{name: strings.Clone(idp), hash: maphash.String(h.idp, idp) | 1}
	return h.idps[0].hash
}
