package correlate

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// A slot's addresses past the first live apart from it: a session with
// several keeps them all up to the cap, and a new id taking the slot
// starts with none of its predecessor's, through a checkpoint too.
func TestSessionSlotAddresses(t *testing.T) {
	t.Parallel()
	a := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	tab := newSessionTable(2)
	// Two ids of the same slot.
	first := "s-0"
	var second string
	for i := 1; second == ""; i++ {
		if id := fmt.Sprintf("s-%d", i); fnv1a(id)&tab.mask == fnv1a(first)&tab.mask {
			second = id
		}
	}
	slot, fresh, _ := tab.claim(first)
	if !fresh {
		t.Fatal("claim of a new id: not fresh")
	}
	for i := range sessionIPs + 1 {
		if got, want := tab.add(slot, a(i)), i < sessionIPs; got != want {
			t.Fatalf("add of address %d: %v, want %v", i, got, want)
		}
	}
	if got, want := tab.addrs(slot), []netip.Addr{a(0), a(1), a(2), a(3)}; !slices.Equal(got, want) {
		t.Fatalf("addresses %v, want %v", got, want)
	}
	if !tab.has(slot, a(3)) || tab.has(slot, a(4)) {
		t.Fatal("has: wrong for the last address kept or the one refused")
	}
	if s, fresh, evicted := tab.claim(first); s != slot || fresh || evicted {
		t.Fatalf("claim of the id again: slot %d fresh %v evicted %v, want slot %d, held", s, fresh, evicted, slot)
	}
	restored := newSessionTable(2)
	restored.set(slot, tab.hashes[slot], tab.slotIPs(slot))
	if got := restored.addrs(slot); !slices.Equal(got, tab.addrs(slot)) {
		t.Fatalf("restored %v, want %v", got, tab.addrs(slot))
	}

	if s, fresh, evicted := tab.claim(second); s != slot || !fresh || !evicted {
		t.Fatalf("claim of a second id: slot %d fresh %v evicted %v, want slot %d fresh, evicted", s, fresh, evicted, slot)
	}
	if got := tab.addrs(slot); len(got) != 0 {
		t.Fatalf("a new id's slot holds %v", got)
	}
	tab.add(slot, a(9))
	tab.add(slot, a(8))
	if got, want := tab.addrs(slot), []netip.Addr{a(9), a(8)}; !slices.Equal(got, want) {
		t.Fatalf("addresses %v, want %v", got, want)
	}
	if tab.has(slot, a(1)) {
		t.Fatal("the slot's previous id's address is still known")
	}
	if _, _, evicted := tab.claim(first); !evicted || tab.has(slot, a(8)) || len(tab.more) != 0 {
		t.Fatalf("after a third claim: more holds %d slots", len(tab.more))
	}
}
