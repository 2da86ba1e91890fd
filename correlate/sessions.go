package correlate

import (
	"math/bits"
	"net/netip"
)

// sessionIPs is how many addresses are remembered per session id.
const sessionIPs = 4

// sessionTable remembers the addresses seen per OpenUnison session id in a
// fixed, direct-mapped table: a new id takes its slot from whatever was there.
// kubectl gets a fresh id on every request, so nearly every id is seen once;
// a map would allocate and evict on every refresh for nothing, while the
// table costs no allocation and keeps the ids that repeat (browsers, the
// bundled IdP's oidc mode) for as long as their slot is not needed.
//
// A slot is split across three arrays. Every refresh reads its slot's hash
// at a random place: at 8 bytes a slot the hashes (128 KiB by default) stay
// in cache, where whole slots (80 bytes, 1.3 MiB) did not, and that read
// missing the cache was the costliest part of correlation. A new id's
// address is then only written, which the store buffer absorbs. Nearly
// every session has one address, so a slot holds its first inline and the
// others, when a session has more, in a map by slot (the table is 0.4 MiB
// instead of 1.2 MiB by default, a third of an idle watch's history).
// Nothing in the table is a pointer, so it costs the garbage collector
// nothing. Events carry unmapped addresses, so the 16-byte form is
// unambiguous.
type sessionTable struct {
	hashes []uint64 // 0: empty
	counts []uint8  // addresses held
	first  [][16]byte
	more   map[uint32][sessionIPs - 1][16]byte // the addresses after the first, of slots with more than one
	mask   uint64
	used   int
	// The id hashed last and its hash: an event's id is looked up for its
	// facts and then claimed, and hashing it byte by byte twice cost as
	// much as the table's cache miss.
	lastID   string
	lastHash uint64
}

// sessionSlots is the size of a session table for capacity sessions: the
// power of two at or above it. The Redis store's table (redis.lua) has the
// same slots, so the two stores forget the same sessions.
func sessionSlots(capacity int) int { return 1 << bits.Len(uint(max(capacity, 2)-1)) }

func newSessionTable(capacity int) *sessionTable {
	size := sessionSlots(capacity)
	t := &sessionTable{
		hashes: make([]uint64, size), counts: make([]uint8, size), first: make([][16]byte, size),
		more: map[uint32][sessionIPs - 1][16]byte{}, mask: uint64(size - 1),
	}
	// The hashes and counts are read before they are written. Fresh from
	// the OS, their pages would be mapped to the zero page on that read and
	// copied on the write, a second fault with a TLB flush on every core;
	// writing them once now costs one fault a page. The addresses are
	// written before they are read, so they are left to fault in as used.
	clear(t.hashes)
	clear(t.counts)
	return t
}

func (t *sessionTable) hash(id string) uint64 {
	if id != t.lastID || t.lastHash == 0 {
		t.lastID, t.lastHash = id, fnv1a(id)
	}
	return t.lastHash
}

// fnv1a hashes a session id: stable across processes, so a checkpointed
// table means the same after a restart, and the Redis store's table is the
// same table.
func fnv1a(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	if h == 0 {
		h = 1
	}
	return h
}

// find returns the slot of id; false if no slot holds it.
func (t *sessionTable) find(id string) (int, bool) {
	h := t.hash(id)
	i := int(h & t.mask)
	return i, t.hashes[i] == h
}

// claim returns the slot for id, emptied if another id held it or none
// did (fresh: it holds none of id's addresses).
func (t *sessionTable) claim(id string) (slot int, fresh, evicted bool) {
	h := t.hash(id)
	i := int(h & t.mask)
	switch t.hashes[i] {
	case h:
		return i, false, false
	case 0:
		t.used++
	default:
		evicted = true
	}
	t.empty(i)
	t.hashes[i] = h
	return i, true, evicted
}

// empty forgets slot i's addresses.
func (t *sessionTable) empty(i int) {
	if t.counts[i] > 1 {
		delete(t.more, uint32(i))
	}
	t.counts[i] = 0
}

// ip returns slot i's j-th address, j below its count.
func (t *sessionTable) ip(i, j int) [16]byte {
	if j == 0 {
		return t.first[i]
	}
	return t.more[uint32(i)][j-1]
}

// slotIPs returns slot i's addresses as a checkpoint holds them.
func (t *sessionTable) slotIPs(i int) [][16]byte {
	if t.counts[i] == 0 {
		return nil
	}
	out := make([][16]byte, t.counts[i])
	for j := range out {
		out[j] = t.ip(i, j)
	}
	return out
}

// set fills slot i with hash h and up to sessionIPs addresses, as a
// checkpoint holds them.
func (t *sessionTable) set(i int, h uint64, ips [][16]byte) {
	if t.hashes[i] == 0 {
		t.used++
	}
	t.hashes[i] = h
	t.empty(i)
	for _, ip := range ips[:min(len(ips), sessionIPs)] {
		t.push(i, ip)
	}
}

func (t *sessionTable) addrs(i int) []netip.Addr {
	out := make([]netip.Addr, t.counts[i])
	for j := range out {
		out[j] = netip.AddrFrom16(t.ip(i, j)).Unmap()
	}
	return out
}

func (t *sessionTable) has(i int, a netip.Addr) bool {
	n := int(t.counts[i])
	if n == 0 {
		return false
	}
	b := a.As16()
	if t.first[i] == b {
		return true
	}
	if n > 1 {
		more := t.more[uint32(i)]
		for _, x := range more[:n-1] {
			if x == b {
				return true
			}
		}
	}
	return false
}

// add records a in slot i; false when the slot is full.
func (t *sessionTable) add(i int, a netip.Addr) bool {
	if t.has(i, a) {
		return true
	}
	if int(t.counts[i]) >= sessionIPs {
		return false
	}
	t.push(i, a.As16())
	return true
}

// push appends b to slot i's addresses, which has room.
func (t *sessionTable) push(i int, b [16]byte) {
	n := t.counts[i]
	if n == 0 {
		t.first[i] = b
	} else {
		more := t.more[uint32(i)]
		more[n-1] = b
		t.more[uint32(i)] = more
	}
	t.counts[i] = n + 1
}
