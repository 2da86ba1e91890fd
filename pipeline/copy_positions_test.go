package pipeline

import (
	"testing"

	"github.com/graceguard/graceguard/source"
)

// Two copies of one file (copytruncate twice) are read under the inode of
// the file at the path (source's copiedFrom), each with its own first
// bytes. A checkpoint keeps a restored position "until its file is seen"
// (following), but seen is judged by device and inode alone (sameStream),
// so once one copy is read at a restart, the other copy's position, not
// read yet, leaves the checkpoint: a kill -9 then has no position for it.
func TestRestoredPositionOfACopyStaysUntilThatCopyIsRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	older := source.FileID{Dev: 1, Ino: 9, Fingerprint: "copy-2"}
	newer := source.FileID{Dev: 1, Ino: 9, Fingerprint: "copy-1"}
	line := "[2026-11-23 10:00:00,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=a,o=T - NONE [198.51.100.23] - [f1]\n"
	n := int64(len(line))
	first := runBatches(t, dir, []source.Batch{
		{Key: "c2", Path: "app.log.2", ID: older, Data: []byte(line)},
		{Key: "c1", Path: "app.log.1", ID: newer, Data: []byte(line)},
	})
	var want int64 = -1
	for _, p := range first {
		if p.ID.Fingerprint == newer.Fingerprint {
			want = p.Offset
		}
	}
	if len(first) != 2 || want < 0 {
		t.Fatalf("first run checkpointed %+v, want both copies", first)
	}
	// The restart reads more of the older copy; the newer is not come to yet.
	second := runBatches(t, dir, []source.Batch{
		{Key: "c2", Path: "app.log.2", ID: older, Offset: n, Data: []byte(line)},
	})
	for _, p := range second {
		if p.ID.Fingerprint == newer.Fingerprint {
			if p.Offset != want {
				t.Errorf("the newer copy's position moved to %d, want %d", p.Offset, want)
			}
			return
		}
	}
	t.Errorf("the newer copy's restored position left the checkpoint before it was read: %+v", second)
}
