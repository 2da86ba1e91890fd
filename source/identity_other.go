//go:build !unix

package source

import "os"

// Without inodes, identity rests on the fingerprint alone.
func devIno(os.FileInfo) (uint64, uint64) { return 0, 0 }
