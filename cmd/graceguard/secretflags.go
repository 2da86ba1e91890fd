package main

import (
	"errors"
	"io/fs"
	"os"
	"strings"
)

// The secret flags of the bundled IdP's commands, --password (idp login,
// simulate) and --client-secret (idp serve, idp login, simulate), each
// with a -file sibling that names a file holding the value, as
// --state-password-file does for Redis: a Kubernetes Secret or a
// credentials directory mounts files, and a value typed on the command
// line is in the process list. The config file may not hold the values
// (secretSettings); it may name their files (password_file:).

// secretFileFlag is the usage of a secret flag's -file sibling.
func secretFileFlag(what string) string {
	return "read the " + what + " from `FILE` (its trailing newline dropped)"
}

// readSecretFlag sets *value from file, the -file sibling of the flag
// name, when file is given: both given is a usage error. Errors name
// the flag and never the file's content; nor its path, which is what a
// value put under password_file: by mistake would show.
func readSecretFlag(name string, value *string, file string) error {
	if file == "" {
		return nil
	}
	if *value != "" {
		return usageErrorf("--%s and --%s-file exclude each other", name, name)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// The path is dropped (see above); the operation and the cause
			// say what is wrong with the file the flag or key names.
			return usageErrorf("--%s-file: %s: %v", name, pe.Op, pe.Err)
		}
		return usageErrorf("--%s-file: cannot read the file", name)
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return usageErrorf("--%s-file: the file is empty", name)
	}
	*value = v
	return nil
}
