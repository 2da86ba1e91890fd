package correlate

// threadIndex maps the pending queue's thread keys (threadOf's) to their
// entries. Every event looks its thread up and every refresh adds one and
// takes it off again; a Go map made that a hash of a key that is a hash
// already, and a delete leaving its group to clean up: ~2.5% of correlating.
// This is open addressing with linear probing over the key's low bits, and
// deletion that moves back the slots after the hole (no tombstones, as in
// hashIndex). The queue holds at most maxPending lines and a deployment a
// few hundred threads, so the table stays small.
type threadIndex struct {
	slots []threadSlot
	mask  uint64
	n     int
}

type threadSlot struct {
	key uint64
	at  int32 // the entry's index plus one; 0: empty
}

func newThreadIndex() threadIndex {
	const size = 64
	return threadIndex{slots: make([]threadSlot, size), mask: size - 1}
}

// get returns key's entry.
func (x *threadIndex) get(key uint64) (int, bool) {
	for p := key & x.mask; ; p = (p + 1) & x.mask {
		s := &x.slots[p]
		if s.at == 0 {
			return 0, false
		}
		if s.key == key {
			return int(s.at - 1), true
		}
	}
}

// set makes i key's entry.
func (x *threadIndex) set(key uint64, i int) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	p := key & x.mask
	for x.slots[p].at != 0 && x.slots[p].key != key {
		p = (p + 1) & x.mask
	}
	if x.slots[p].at == 0 {
		x.n++
	}
	x.slots[p] = threadSlot{key: key, at: int32(i + 1)}
}

// remove forgets key, moving back the slots after it that would no longer
// be found past the hole.
func (x *threadIndex) remove(key uint64) {
	p := key & x.mask
	for x.slots[p].key != key || x.slots[p].at == 0 {
		if x.slots[p].at == 0 {
			return
		}
		p = (p + 1) & x.mask
	}
	hole := p
	for q := (hole + 1) & x.mask; x.slots[q].at != 0; q = (q + 1) & x.mask {
		home := x.slots[q].key & x.mask
		// The slot at q may fill the hole when its home is not in the
		// cyclic range (hole, q].
		if (q-home)&x.mask >= (q-hole)&x.mask {
			x.slots[hole] = x.slots[q]
			hole = q
		}
	}
	x.slots[hole] = threadSlot{}
	x.n--
}

func (x *threadIndex) clear() {
	clear(x.slots)
	x.n = 0
}

func (x *threadIndex) grow() {
	old := x.slots
	x.slots = make([]threadSlot, 2*len(old))
	x.mask = uint64(len(x.slots) - 1)
	x.n = 0
	for _, s := range old {
		if s.at != 0 {
			x.set(s.key, int(s.at-1))
		}
	}
}
