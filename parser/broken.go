package parser

import "strings"

// Saying where a record that names its event breaks the grammar. These
// run only for records already known to be broken, a few in a log, so
// they read plainly; the offsets they return count from 0 in the text
// they are given, and one past its end means the record ends too soon.

// reuseTagError describes a message that namesReuse accepts but that does
// not open with tagExpired: cut inside it, or the tag not followed by its
// separator.
func reuseTagError(msg string) *SyntaxError {
	i := 0
	for i < len(msg) && i < len(tagExpired) && msg[i] == tagExpired[i] {
		i++
	}
	if i == len(msg) {
		return &SyntaxError{Column: i + 1, Msg: `record ends inside "[ExpiredRefreshTokenUsed] - "`}
	}
	return &SyntaxError{Column: i + 1, Msg: `want " - " after [ExpiredRefreshTokenUsed]`}
}

// trailerError says where "DN - MESSAGE [IP] - [SESSION]" breaks in rest,
// which splitTrailerString could not split: the offset of the first byte
// out of place, and what was wanted there. The trailer is read from the
// record's end, as splitTrailer reads it, because the DN and the message
// may hold brackets and separators of their own.
func trailerError(rest string) (at int, what string) {
	n := len(rest)
	if n == 0 || rest[n-1] != ']' {
		return openTrailerError(rest)
	}
	open := strings.LastIndexByte(rest[:n-1], '[')
	switch {
	case open < 0:
		return n - 1, `want "[SESSION]" at the end of the record`
	case open >= len(" - ") && rest[open-len(" - "):open] == " - ":
		sep := open - len(" - ")
		if sep == 0 || rest[sep-1] != ']' {
			return unclosedIP(rest, sep)
		}
		// [IP] is closed; its "[", or the space before it, is missing.
		ipOpen := strings.LastIndexByte(rest[:sep-1], '[')
		if ipOpen < 0 {
			return strings.LastIndexByte(rest[:sep-1], ' ') + 1, `want "[" before the IP address`
		}
		if ipOpen == 0 || rest[ipOpen-1] != ' ' {
			return ipOpen, `want " [" before the IP address`
		}
		return open, `malformed trailing "[IP] - [SESSION]"` // splitTrailer accepts this shape
	}
	// The last bracket does not follow " - ": a garbled separator between
	// [IP] and [SESSION] (a few spaces and dashes), or it is [IP] and the
	// record ends before its session.
	if c := strings.LastIndexByte(rest[:open], ']'); c >= 0 && open-c-1 <= len(" - ") &&
		strings.Trim(rest[c+1:open], " -") == "" {
		k := 0
		for rest[c+1+k] == " - ["[k] {
			k++
		}
		return c + 1 + k, `want " - " between [IP] and [SESSION]`
	}
	return n, `record ends after [IP]: want " - [SESSION]"`
}

// openTrailerError is trailerError for a record that does not end in
// "]": cut short, or with text after its trailer. The grammar breaks at
// its end, unless [IP] was left open before " - [SESSION".
func openTrailerError(rest string) (at int, what string) {
	n := len(rest)
	if s := strings.LastIndex(rest, " - ["); s > 0 && rest[s-1] != ']' && !strings.ContainsAny(rest[s+len(" - ["):], "[]") {
		if ipOpen := strings.LastIndexByte(rest[:s], '['); ipOpen > 0 && rest[ipOpen-1] == ' ' &&
			!strings.ContainsAny(rest[ipOpen+1:s], "] ") {
			return s, `IP address is not closed by "]"`
		}
	}
	if s := strings.LastIndex(rest, "] - ["); s >= 0 && !strings.ContainsAny(rest[s+len("] - ["):], "[]") {
		return n, `record ends inside [SESSION]: want "]"`
	}
	if c := strings.LastIndexByte(rest, ']'); c >= 0 && len(rest)-c-1 < len(" - [") && strings.HasPrefix(" - [", rest[c+1:]) {
		return n, `record ends after [IP]: want " - [SESSION]"`
	}
	if s := strings.LastIndex(rest, " ["); s >= 0 && !strings.ContainsAny(rest[s+len(" ["):], "[] ") {
		return n, `record ends inside [IP]: want "]"`
	}
	return n, `no trailing "[IP] - [SESSION]" at the end of the record`
}

// unclosedIP describes a trailer whose " - [SESSION]" starts at sep
// without the "]" that closes [IP] before it.
func unclosedIP(rest string, sep int) (at int, what string) {
	ipOpen := strings.LastIndexByte(rest[:sep], '[')
	if ipOpen < 0 || strings.IndexByte(rest[ipOpen:sep], ']') >= 0 {
		return sep, `want "[IP]" before " - [SESSION]"`
	}
	// An address holds no space: [IP] ended at the first one.
	if sp := strings.IndexByte(rest[ipOpen:sep], ' '); sp >= 0 {
		return ipOpen + sp, `IP address is not closed by "]"`
	}
	return sep, `IP address is not closed by "]"`
}
