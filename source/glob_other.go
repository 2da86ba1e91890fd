//go:build !unix

package source

import "os"

// readDirNames lists dir's names, unsorted; a directory that cannot be
// opened lists none and one that fails midway lists what was read.
func readDirNames(dir string) []string {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	return names
}
