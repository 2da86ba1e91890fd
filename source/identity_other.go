//go:build !unix

package source

import "os"

// Without inodes, identity rests on the fingerprint alone.
func devIno(os.FileInfo) (uint64, uint64) { return 0, 0 }

// Without link counts, a deleted file cannot be told from a renamed one.
func linkCount(os.FileInfo) (uint64, bool) { return 0, false }
