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
type sessionTable struct {
	slots []sessionSlot
	mask  uint64
	used  int
}

// sessionSlot holds addresses in their 16-byte form: no pointers, so the
// table costs the garbage collector nothing. Events carry unmapped
// addresses, so the 16-byte form is unambiguous.
type sessionSlot struct {
	hash uint64 // 0: empty
	n    uint8
	ips  [sessionIPs][16]byte
}

func (s *sessionSlot) addrs() []netip.Addr {
	out := make([]netip.Addr, s.n)
	for i := range out {
		out[i] = netip.AddrFrom16(s.ips[i]).Unmap()
	}
	return out
}

func (s *sessionSlot) has(a netip.Addr) bool {
	b := a.As16()
	for i := range s.n {
		if s.ips[i] == b {
			return true
		}
	}
	return false
}

// add records a; false when the slot is full.
func (s *sessionSlot) add(a netip.Addr) bool {
	if s.has(a) {
		return true
	}
	if int(s.n) >= len(s.ips) {
		return false
	}
	s.ips[s.n] = a.As16()
	s.n++
	return true
}

func newSessionTable(capacity int) *sessionTable {
	size := 1 << bits.Len(uint(max(capacity, 2)-1))
	return &sessionTable{slots: make([]sessionSlot, size), mask: uint64(size - 1)}
}

func (t *sessionTable) hash(id string) uint64 { return fnv1a(id) }

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

// find returns the slot of id, or nil.
func (t *sessionTable) find(id string) *sessionSlot {
	h := t.hash(id)
	s := &t.slots[h&t.mask]
	if s.hash != h {
		return nil
	}
	return s
}

// claim returns the slot for id, emptied if another id held it.
func (t *sessionTable) claim(id string) (slot *sessionSlot, evicted bool) {
	h := t.hash(id)
	s := &t.slots[h&t.mask]
	switch s.hash {
	case h:
		return s, false
	case 0:
		t.used++
	default:
		evicted = true
	}
	*s = sessionSlot{hash: h}
	return s, evicted
}
