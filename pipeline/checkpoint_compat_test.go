package pipeline

import (
	"encoding/gob"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// checkpointBeforeAttribution is the checkpoint as versions before
// attribution wrote it: no Attribution, refreshes without agent, peer or
// attribution.
type checkpointBeforeAttribution struct {
	Version    int
	Written    time.Time
	Positions  []source.Position
	Store      correlate.MemorySnapshot
	Users      int
	Correlator correlate.CorrelatorSnapshot
	Held       []parser.Event
	Throttle   rules.ThrottleSnapshot
	Sent       []string
}

type refreshBeforeAttribution struct {
	Time    time.Time
	IP      netip.Addr
	Session string
}

type userBeforeAttribution struct {
	ID        correlate.UserID
	FirstSeen time.Time
	LastSeen  time.Time
	Refreshes []refreshBeforeAttribution
}

func TestOldCheckpointStillLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, checkpointFile))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("198.51.100.40")
	enc := gob.NewEncoder(f)
	u := correlate.UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	if err := enc.Encode(checkpointBeforeAttribution{Version: checkpointVersion, Written: at, Users: 1, Sent: []string{"abc"}}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(userBeforeAttribution{ID: u, FirstSeen: at, LastSeen: at, Refreshes: []refreshBeforeAttribution{{Time: at, IP: ip, Session: "s"}}}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: dir})
	if err != nil {
		t.Fatalf("an old checkpoint no longer loads: %v", err)
	}
	if st := w.local.Stats(); st.Users != 1 || !w.ledger.Has("abc") || w.attr.Expecting() {
		t.Errorf("restored %d users, sent %v, expecting proxies %v", st.Users, w.ledger.Has("abc"), w.attr.Expecting())
	}
}
