package pipeline

import (
	"path/filepath"

	"github.com/graceguard/graceguard/source"
)

// logNames is the Source each input's events carry: its own name, or, for
// an input that is by its name a rotated generation of another input
// (beside it, named as it is with a suffix: openunison.log.1,
// openunison.log-20261123.gz, the kubelet's 0.log.20261123-101500), that
// input's name, as watch's events of a followed path's generations carry
// the path. What waits on a thread (a token_ok for the grace reuse a line
// later, a reuse for its [AzSuccess] twin, a refused refresh) is so found
// across a rotation that fell between the two lines of one request: told
// apart by file, the twin of a replay logged just before a rotation was
// learned as the user's refresh from the thief's address, which then was
// no longer new. Each file's own name stays its events' File: what alerts
// and timelines show beside the record's offset, what alert ids and the
// order of one millisecond's events use, and what a parse error names.
//
// Only generations of an input that is named too are joined (the README's
// `graceguard scan openunison.log*`): names alone cannot tell one log's
// generations from replicas' logs named alike (openunison-0,
// openunison-1), whose threads are not each other's. A generation of
// several inputs (openunison.log.1.gz beside openunison.log.1 and
// openunison.log) takes the shortest name, the log's.
func logNames(inputs []Input) []string {
	cleaned := make([]string, len(inputs))
	for i, in := range inputs {
		cleaned[i] = filepath.Clean(in.Name)
	}
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
		if in.Name == "-" {
			continue
		}
		for j, of := range inputs {
			if of.Name == "-" || !source.IsGenerationOf(cleaned[i], cleaned[j]) {
				continue
			}
			if names[i] == in.Name || len(of.Name) < len(names[i]) {
				names[i] = of.Name
			}
		}
	}
	return names
}
