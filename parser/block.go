package parser

import "bytes"

// BlockStats counts what SplitCandidates read.
type BlockStats struct {
	Lines, Records, Cut int64
	// FramingErrors counts the lines that carry a container runtime's
	// stamp ("2026-…Z stdout F", kubectl --timestamps) in a plain log, as
	// the Assembler does: another format's lines mixed in, read as the
	// record before them continued.
	FramingErrors int64
	// Headed counts the records that open with a log4j2 header: what tells
	// an OpenUnison log from another file (SplitCandidates only).
	Headed int64
}

// SplitCandidates walks a block of plain (unwrapped) OpenUnison output that
// begins and ends at record boundaries, classifies each record's first line,
// and calls fn only for the records ClassifyLine does not call other: the
// record (its first line and continuation lines, without the final newline),
// its kind, its offset in the block and the line number of its first line
// within the block (from 1). A block is ~97% noise; deciding it inside the
// loop spares a call through fn per record. Records are slices of block: no
// copying, which is what lets a scan of a plain log run at memory speed on
// every core. A record longer than MaxRecord is cut there. The Scanner and
// SplitCandidates agree on records, kinds and counts for plain input (tests
// hold both to splitRecordsRef, the same walk without the classification).
func SplitCandidates(block []byte, fn func(rec []byte, kind Kind, off int, line int64)) BlockStats {
	var st BlockStats
	n := len(block)
	// A record is closed when the next one opens, so it is classified when
	// it opens (by its first line, which the walk holds then) and its kind
	// kept until its end is known: one pass, no closure per record.
	recStart, kind := -1, KindOther
	var recLine int64
	end := 0
	for pos := 0; pos < n; pos = end + 1 {
		if skipped, lines, last := noiseLines(block[pos:]); lines > 0 {
			// Each of those lines opens a record of its own, of kind
			// other: the one open is closed, all but the last are.
			if recStart >= 0 {
				st.close(block, recStart, pos-1, kind, recLine, fn)
			}
			st.Lines += int64(lines)
			st.Headed += int64(lines)
			st.Records += int64(lines - 1)
			recStart, recLine, kind = pos+last, st.Lines, KindOther
			if pos += skipped; pos == n {
				end = n - 1 // the block's last newline: the last record ends there
				break
			}
		}
		nl, rare := lineEnd(block[pos:], oidcPrefix[oidcRare])
		end = pos + nl
		line := block[pos:end]
		st.Lines++
		headed := IsRecordStart(line)
		if recStart >= 0 {
			if !headed {
				if stampPrefixLen(line) > 0 {
					st.FramingErrors++
				}
				continue // a continuation line
			}
			st.close(block, recStart, pos-1, kind, recLine, fn)
		} else if len(bytes.TrimSpace(line)) == 0 {
			continue // blank lines before the first record belong to nothing
		}
		if headed {
			st.Headed++
		}
		recStart, recLine = pos, st.Lines
		kind = classifyFirst(trimCR(line[:min(len(line), MaxRecord)]), rare)
	}
	if recStart >= 0 {
		st.close(block, recStart, end, kind, recLine, fn)
	}
	return st
}

// close counts the record block[start:end] and hands it to fn unless it is
// noise.
func (st *BlockStats) close(block []byte, start, end int, kind Kind, line int64, fn func([]byte, Kind, int, int64)) {
	st.Records++
	if end-start > MaxRecord {
		end = start + MaxRecord
		st.Cut++
	}
	if kind != KindOther {
		fn(block[start:end], kind, start, line)
	}
}

// classifyFirst is ClassifyLine for a record's first line without a final
// '\r', where rare says whether the line holds OpenIDConnectIdP's rarest
// byte. Most of OpenUnison's lines are ruled out without reading their
// header: every kind ClassifyLine gives a whole log4j2 line either ends in
// the "[IP] - [SESSION]" trailer, so in ']', or is a refusal, whose line
// holds OpenIDConnectIdP's logger, so that byte (one line in eight has it).
// A line cut short, or with its trailer broken, may end in anything: a
// grace reuse's still holds the logger, and an access line's holds its
// tag, "[Az" or "[Au", past the stamp. No whole tagged access line lacks
// the trailer (the LDAP access lines do, a third of the generated log's
// lines, and hold no tag), and fewer than one in a hundred of the lines
// that lack it holds a '[' past its thread's at all.
//
// A line that ends in ']' but lacks that byte is an access line or
// nothing, and the access lines ClassifyLine keeps hold "[AuSuccess]"
// (a login) or a URL ending "/token": "Au" or "ke". Four in five of
// OpenUnison's ']'-ended lines hold neither, and one vector pass over the
// line, already in the cache, costs less than reading its header. Both
// pairs can only matter in the message, so the stamp is not searched.
func classifyFirst(line []byte, rare bool) Kind {
	if isLog4jShape(line) {
		if line[len(line)-1] != ']' {
			if (!rare || indexOIDC(line) < 0) && !hasAccessTag(line) {
				return KindOther
			}
		} else if !rare && !hasPair(line[stampLen:]) {
			return KindOther
		}
	}
	return ClassifyLine(line)
}

// hasAccessTag reports whether a log4j2 line holds "[A" past the '[' that
// opens its thread: the start of an access line's "[AzSuccess]",
// "[AzFail]" or "[AuSuccess]". (Reading the header to find the message
// cost twice the instructions of this search, which only lines not ending
// in ']' and not OpenIDConnectIdP's pay, and only where the vector kernel
// did not rule them out.)
func hasAccessTag(line []byte) bool {
	return bytes.Contains(line[stampLen+1:], []byte("[A"))
}

// oidcRare is the offset in oidcPrefix of its rarest byte in OpenUnison's
// lines, 'P' (its first, 'O', is common).
const oidcRare = 15

// indexOIDC is bytes.Index(b, oidcPrefix), looking for its rarest byte.
func indexOIDC(b []byte) int { return indexByRare(b, oidcPrefix, oidcRare) }

// indexByRare is bytes.Index(b, needle) for a needle whose byte at at is
// rare in the text searched: Index looks for the needle's first byte and,
// when that is common, falls back to comparing at every position; this
// looks for the rare byte with IndexByte (vector instructions) and compares
// around each.
func indexByRare(b []byte, needle string, at int) int {
	rare := needle[at]
	for i := at; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], rare)
		if j < 0 {
			return -1
		}
		i += j
		if i-at+len(needle) <= len(b) && string(b[i-at:i-at+len(needle)]) == needle {
			return i - at
		}
	}
	return -1
}

// LastRecordStart returns the offset of the last line in b that starts a
// record and can be seen whole enough to tell (at least the "[yyyy-" prefix),
// or -1. A block reader cuts there so that every block holds whole records.
func LastRecordStart(b []byte) int {
	for end := len(b); end > 0; {
		i := bytes.LastIndexByte(b[:end], '\n')
		if i < 0 {
			return -1
		}
		if i+1 < len(b) && IsRecordStart(b[i+1:]) {
			return i + 1
		}
		end = i
	}
	return -1
}

// DetectFormat decides a source's wrapper from its first bytes: the first
// non-empty line. It returns FormatUnknown when b holds no such line.
func DetectFormat(b []byte) Format {
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			// An unfinished line is enough unless it is blank.
			if len(bytes.TrimSpace(b)) == 0 {
				return FormatUnknown
			}
			return detectFormat(b)
		}
		if line := b[:nl]; len(bytes.TrimSpace(line)) > 0 {
			return detectFormat(line)
		}
		b = b[nl+1:]
	}
	return FormatUnknown
}

// IsProxyLog reports whether the first bytes of a plain source are a
// proxy's access log: a line that looks like a proxy's (an access line of
// any path, a klog line, a line of Envoy's own log) comes before any line
// of OpenUnison's. Its records are then its lines (SplitLines), where
// OpenUnison's would join lines that open no record to the one before.
func IsProxyLog(head []byte) bool {
	for len(head) > 0 {
		line := head
		if nl := bytes.IndexByte(head, '\n'); nl >= 0 {
			line, head = head[:nl], head[nl+1:]
		} else {
			head = nil
		}
		line = trimCR(line)
		switch {
		case looksProxy(line) || isEnvoyLog(line):
			return true
		case IsRecordStart(line) && isLog4jShape(line):
			return false
		}
	}
	return false
}

// SplitLines is SplitCandidates for a proxy's access log (see IsProxyLog),
// whose records are its lines: it calls fn for the lines ClassifyLine does
// not call other. Blank lines are no records, as for the Scanner. A line
// longer than MaxRecord is cut there.
func SplitLines(block []byte, fn func(rec []byte, kind Kind, off int, line int64)) BlockStats {
	var st BlockStats
	// The next idpMarker in the block, found once for all the lines before
	// it: a line that holds none is other unless OpenUnison's grammar reads
	// it, and searching line by line restarted the search at every line.
	marker := -1
	for pos := 0; pos < len(block); {
		end := len(block)
		if nl := bytes.IndexByte(block[pos:], '\n'); nl >= 0 {
			end = pos + nl
		}
		line := block[pos:end]
		st.Lines++
		if marker < pos && marker != len(block) {
			if m := indexMarker(block[pos:]); m >= 0 {
				marker = pos + m
			} else {
				marker = len(block)
			}
		}
		if len(bytes.TrimSpace(line)) > 0 {
			st.Records++
			if len(line) > MaxRecord {
				line = line[:MaxRecord]
				st.Cut++
			}
			if marker < end || isLog4jShape(line) {
				if k := ClassifyLine(line); k != KindOther {
					fn(line, k, pos, st.Lines)
				}
			}
		}
		pos = end + 1
	}
	return st
}

// lineHeadMax is how much of a line CutRest reads to tell a record start
// or a container runtime's stamp (stampPrefixLen) before its newline.
const lineHeadMax = 64

// CutRest walks past what is left of a record a block reader cut at the
// end of a block: a record longer than the largest block (at least
// MaxRecord and a byte) is cut to MaxRecord anyway, so the block holding
// its start is handed on alone and the rest of it is read past, never
// split into blocks of its own. Split, the tail of a long line was a line
// and a record of its own in each block, and a tail that happened to open
// with a record start (a refresh logged inside a runaway line) became an
// event. The lines read past are counted, as the Scanner counts the lines
// its Assembler drops from a record cut short.
type CutRest struct {
	// Lines says the log's records are its lines (SplitLines): the rest
	// ends with the cut line.
	Lines bool
	// MidLine says the next bytes continue a line already counted (the
	// block ended inside it).
	MidLine bool
	// Stats counts the lines read past and the framing errors among them.
	Stats BlockStats
}

// CutLong says how much of block, which holds one record longer than the
// largest block (no record start past its first byte), a block reader
// hands on, and how what follows is read past. All of it, unless it ends
// in an unfinished line too short to tell whether it starts the next
// record (fewer than RecordStartLen bytes: the next record's "[20" at the
// block's very end looks like no record start yet). That line is left for
// the CutRest to read first, with what follows it: taken for the rest of
// the long line, it and the record it began were read past.
func CutLong(block []byte, lines bool) (keep int, rest CutRest) {
	rest.Lines = lines
	if !lines {
		if i := bytes.LastIndexByte(block, '\n') + 1; i > 0 && len(block)-i < RecordStartLen {
			return i, rest
		}
	}
	rest.MidLine = len(block) > 0 && block[len(block)-1] != '\n'
	return len(block), rest
}

// Skip reads past the start of b that belongs to the cut record and
// returns how many bytes that is, and whether the record ends inside b
// (b[n:] then starts the next record). final says b is all that is left of
// the input; otherwise Skip may leave a line's first bytes unread, too few
// to tell whether it starts a record, for the caller to hand in again with
// what follows them.
func (c *CutRest) Skip(b []byte, final bool) (n int, done bool) {
	pos := 0
	for pos < len(b) {
		if c.MidLine {
			i := bytes.IndexByte(b[pos:], '\n')
			if i < 0 {
				return len(b), false
			}
			pos += i + 1
			c.MidLine = false
			continue
		}
		if c.Lines {
			return pos, true
		}
		rest := b[pos:]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 && len(rest) < lineHeadMax && !final {
			return pos, false
		}
		line := rest
		if nl >= 0 {
			line = rest[:nl]
		}
		if IsRecordStart(line) {
			return pos, true
		}
		// A continuation line, counted as SplitCandidates counts one.
		c.Stats.Lines++
		if stampPrefixLen(line) > 0 {
			c.Stats.FramingErrors++
		}
		if nl < 0 {
			c.MidLine = true
			return len(b), false
		}
		pos += nl + 1
	}
	return pos, c.Lines && !c.MidLine
}
