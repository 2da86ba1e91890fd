package pipeline

// One order of events across sources, shared by scan's merge and watch's:
// by log time, and on a tie by what the event does, then by where it was
// logged, so the same files give the same alerts whatever order they are
// named or read in.

import (
	"cmp"
	"strings"

	"github.com/graceguard/graceguard/parser"
)

// tieRank orders events of different sources logged in the same
// millisecond: what teaches the history (a refresh, a login) goes before
// what is judged against it (a grace reuse, a failure). A grace reuse means
// the token it presents was already rotated by a refresh, so when the two
// carry the same millisecond the refresh happened first; judging the reuse
// before it would compare the replaying address with a refresh older than
// the one that made the token stale.
func tieRank(k parser.Kind) int {
	switch k {
	case parser.KindTokenOK, parser.KindLogin:
		return 0
	}
	return 1
}

// eventOrder compares two events of different sources: time, then tieRank,
// then the source's name and the offset, which are stable for the same
// files whatever order they are given in. Within one source the log's own
// order is kept by the callers, who only compare the heads of sources.
func eventOrder(a, b *parser.Event) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(tieRank(a.Kind), tieRank(b.Kind)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	return cmp.Compare(a.Offset, b.Offset)
}
