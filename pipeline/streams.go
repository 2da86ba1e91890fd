package pipeline

import "slices"

// streamNames indexes the streams being read by the names sourceClock and
// streamOfEvent look them up by: the source's identity (stream.sourceID)
// and its path. Both are asked for every event, and a walk of every stream
// for each made a central watcher catching up on many files slow with the
// square of their number (attribution asks every OpenUnison log's clock).
// Streams sharing a name (generations of one path, or of one file across a
// truncation) are kept in the order they were first read.
type streamNames map[string][]*stream

func (n *streamNames) add(s *stream) {
	if *n == nil {
		*n = streamNames{}
	}
	(*n)[s.sourceID] = append((*n)[s.sourceID], s)
	if s.path != s.sourceID {
		(*n)[s.path] = append((*n)[s.path], s)
	}
}

func (n streamNames) drop(s *stream) {
	for _, name := range []string{s.sourceID, s.path} {
		kept := slices.DeleteFunc(n[name], func(o *stream) bool { return o == s })
		if len(kept) == 0 {
			delete(n, name)
		} else {
			n[name] = kept
		}
	}
}

// of returns the streams named name (by identity or path).
func (n streamNames) of(name string) []*stream { return n[name] }
