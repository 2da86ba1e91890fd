package main

import "github.com/graceguard/graceguard/internal/secretfile"

// The secret flags of the bundled IdP's commands, --password (idp login,
// simulate) and --client-secret (idp serve, idp login, simulate), each
// with a -file sibling that names a file holding the value, as
// --state-password-file does for Redis: a Kubernetes Secret or a
// credentials directory mounts files, and a value typed on the command
// line is in the process list. The config file may not hold the values
// (secretSettings); it may name their files (password_file:).

// secretFileFlag is the usage of a secret flag's -file sibling.
func secretFileFlag(what string) string {
	return "read the " + what + " from `FILE` (the white space around it dropped)"
}

// readSecretFlag sets *value from file, the -file sibling of the flag
// name, when file is given: both given is a usage error. The file is read
// by the rules every secret file follows (internal/secretfile); errors
// name the flag and the path, never the file's content.
func readSecretFlag(name string, value *string, file string) error {
	if file == "" {
		return nil
	}
	if *value != "" {
		return usageErrorf("--%s and --%s-file exclude each other", name, name)
	}
	v, err := secretfile.Read(file)
	if err != nil {
		return usageErrorf("--%s-file: %w", name, err)
	}
	*value = v
	return nil
}
