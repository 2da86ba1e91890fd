package source

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"
)

// fingerprintLen is how much of a file's start identifies it. A file
// shorter than this is identified by what it has; the fingerprint is taken
// again as it grows.
const fingerprintLen = 256

// FileID identifies one file, whatever name it has now.
type FileID struct {
	Dev, Ino       uint64
	Fingerprint    string // hex SHA-256 of the first FingerprintLen bytes
	FingerprintLen int
	// After names, while the file is empty as read (no fingerprint), the
	// copy its generation began after: a copytruncate's copy starts with
	// the bytes After hashes (AfterLen of them). The inode alone cannot
	// tell a restart which copies were made since (it stays the path's
	// through every copytruncate); the copy can. Empty otherwise.
	After    string `json:",omitempty"`
	AfterLen int    `json:",omitempty"`
}

func (id FileID) String() string {
	return fmt.Sprintf("%d:%d:%s:%d", id.Dev, id.Ino, id.Fingerprint[:min(16, len(id.Fingerprint))], id.FingerprintLen)
}

// Position is where reading a file stopped, for a checkpoint.
type Position struct {
	Path   string `json:"path"`
	ID     FileID `json:"id"`
	Offset int64  `json:"offset"`
	// Cursor is the Batch.Cursor of the point Offset names, for streams
	// resumed by cursor; empty for files.
	Cursor string `json:"cursor,omitempty"`
	// Size is the file's size as last seen (Batch.Size), 0 when unknown:
	// a restart that finds the file gone says how many bytes past Offset
	// were lost, and takes a rotated generation read to its end for
	// finished.
	Size int64 `json:"size,omitempty"`
	// Unread marks a file announced and not read yet (a generation
	// waiting for an older one to be read to its end). It says nothing of
	// which generations were finished; a start looks for it only to say,
	// when it is gone, that its Size bytes were lost.
	Unread bool `json:"unread,omitempty"`
}

// identify reads f's identity.
func identify(f *os.File) (FileID, error) {
	s, err := sight(f)
	return s.id, err
}

// sighting is a file as one look found it: its size and time, then its
// first bytes, and its identity taken from those very bytes. The size and
// time come first, and at is when they were taken: a change after the
// stat, the bytes read included, shows at the tailer's first look as a
// change since it. Taken after the bytes (the identity, a second read of
// them, or the size and time), a truncation and rewrite to the same size
// in between was taken for the file identified, and its new bytes for the
// continuation of the ones looked at.
type sighting struct {
	id   FileID
	head []byte // the first bytes, up to fingerprintLen
	info os.FileInfo
	at   time.Time
}

// sight looks at f: its size and time, then its first bytes.
func sight(f *os.File) (sighting, error) {
	at := time.Now()
	st, err := f.Stat()
	if err != nil {
		return sighting{}, err
	}
	head := make([]byte, fingerprintLen)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return sighting{}, err
	}
	head = head[:n]
	dev, ino := devIno(st)
	sum := sha256.Sum256(head)
	id := FileID{Dev: dev, Ino: ino, Fingerprint: hex.EncodeToString(sum[:]), FingerprintLen: n}
	return sighting{id: id, head: head, info: st, at: at}, nil
}

// grown is id taken from more of the file's first bytes, head; the zero
// FileID when head does not start with the bytes id was taken from.
func (id FileID) grown(head []byte) FileID {
	if len(head) < id.FingerprintLen {
		return FileID{}
	}
	if id.FingerprintLen > 0 {
		if sum := sha256.Sum256(head[:id.FingerprintLen]); hex.EncodeToString(sum[:]) != id.Fingerprint {
			return FileID{}
		}
	}
	head = head[:min(len(head), fingerprintLen)]
	sum := sha256.Sum256(head)
	return FileID{Dev: id.Dev, Ino: id.Ino, Fingerprint: hex.EncodeToString(sum[:]), FingerprintLen: len(head)}
}

// anchored reports whether id names an empty file by the copy its
// generation began after.
func (id FileID) anchored() bool { return id.FingerprintLen == 0 && id.AfterLen > 0 }

// sameStart reports whether f still starts with the bytes id was taken from.
func sameStart(f *os.File, id FileID) bool {
	if id.FingerprintLen == 0 {
		return true
	}
	buf := make([]byte, id.FingerprintLen)
	n, err := f.ReadAt(buf, 0)
	if n < id.FingerprintLen || (err != nil && err != io.EOF) {
		return false
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:]) == id.Fingerprint
}

// matches reports whether the file f is the file id names: same inode and
// the same first bytes.
func matches(f *os.File, id FileID) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	dev, ino := devIno(st)
	return dev == id.Dev && ino == id.Ino && sameStart(f, id)
}
