package correlate

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// checkpointed is what the watcher's checkpoint holds of this package, as
// the watcher gob-encodes it.
type checkpointed struct {
	Store      MemorySnapshot
	Users      []UserSnapshot
	Correlator CorrelatorSnapshot
}

// The checkpoint is read back at start from a file a disk or a person may
// have damaged in any way gob still decodes: restoring whatever it holds
// neither panics nor exceeds today's limits, judging goes on after it, and
// the history restored, checkpointed and restored again is the same.
func FuzzRestore(f *testing.F) {
	store := NewMemory(Limits{})
	c := NewCorrelator(store, 0)
	judge := func(context.Context, *Context) error { return nil }
	events := []parser.Event{
		ev(parser.KindTokenOK, 0, "198.51.100.23", session("s1")),
		ev(parser.KindTokenOK, time.Second, "203.0.113.7", user("uid=b,o=T")),
		ev(parser.KindGraceReuse, 2*time.Second, "192.0.2.66", session("s1")),
		ev(parser.KindTokenOK, 3*time.Second, "198.51.100.24"),
	}
	for i := range events {
		c.Observe(context.Background(), &events[i], judge)
	}
	var seed bytes.Buffer
	if err := gob.NewEncoder(&seed).Encode(checkpointed{Store: store.SnapshotWithoutUsers(), Users: store.Snapshot().Users, Correlator: c.Snapshot()}); err != nil {
		f.Fatal(err)
	}
	f.Add(seed.Bytes())
	limits := Limits{MaxUsers: 2, MaxIPsPerUser: 2, MaxRefreshes: 2, MaxReuses: 2, MaxSessions: 2, MaxPlaces: 2}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cp checkpointed
		if gob.NewDecoder(bytes.NewReader(data)).Decode(&cp) != nil {
			return
		}
		restore := func(users []UserSnapshot, store MemorySnapshot, cs CorrelatorSnapshot) (*Memory, *Correlator) {
			m := NewMemory(limits)
			m.Restore(store)
			for _, us := range users {
				m.AddUser(us)
			}
			c := NewCorrelator(m, 0)
			c.Restore(cs)
			return m, c
		}
		m, c := restore(cp.Users, cp.Store, cp.Correlator)
		first := m.Snapshot()
		if len(first.Users) > limits.MaxUsers {
			t.Fatalf("%d users restored, the limit is %d", len(first.Users), limits.MaxUsers)
		}
		for _, u := range first.Users {
			if len(u.IPs) > limits.MaxIPsPerUser || len(u.Refreshes) > limits.MaxRefreshes || len(u.Reuses) > limits.MaxReuses ||
				len(u.Countries) > limits.MaxPlaces || len(u.ASNs) > limits.MaxPlaces {
				t.Fatalf("user %v restored past the limits: %+v", u.ID, u)
			}
		}
		m2, _ := restore(first.Users, m.SnapshotWithoutUsers(), c.Snapshot())
		if a, b := restoredUsers(first), restoredUsers(m2.Snapshot()); !slices.Equal(a, b) {
			t.Fatalf("restored\n%q\nrestored again\n%q", a, b)
		}
		// Judging goes on: the restored users' next events, and a flush.
		for _, u := range first.Users {
			e := ev(parser.KindGraceReuse, time.Hour, "192.0.2.1", user(u.ID.DN))
			e.IdP = u.ID.IdP
			if err := c.Observe(context.Background(), &e, judge); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Flush(context.Background(), judge); err != nil {
			t.Fatal(err)
		}
	})
}

func restoredUsers(s MemorySnapshot) []string {
	var out []string
	for _, u := range s.Users {
		out = append(out, fmt.Sprint(u.ID, u.FirstSeen.UnixNano(), u.LastSeen.UnixNano(), u.Refreshes, u.IPs, u.Reuses, u.ForeignReuses, u.Countries, u.ASNs))
	}
	return out
}
