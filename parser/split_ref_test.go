package parser

import "bytes"

// splitRecordsRef is the record walk of SplitCandidates without its
// classification, kept as the reference the tests hold SplitCandidates and
// the Scanner to: it calls fn with every record, the length of its first
// line, its offset in the block and the line number of its first line.
func splitRecordsRef(block []byte, fn func(rec []byte, firstLen, off int, line int64)) BlockStats {
	var st BlockStats
	recStart, recEnd, firstEnd := -1, 0, 0
	var recLine int64
	emit := func() {
		rec := block[recStart:recEnd]
		if len(rec) > MaxRecord {
			rec = rec[:MaxRecord]
			st.Cut++
		}
		st.Records++
		if IsRecordStart(rec[:min(firstEnd, recStart+len(rec))-recStart]) {
			st.Headed++
		}
		fn(rec, min(firstEnd, recStart+len(rec))-recStart, recStart, recLine)
	}
	for pos := 0; pos < len(block); {
		end := len(block)
		if nl := bytes.IndexByte(block[pos:], '\n'); nl >= 0 {
			end = pos + nl
		}
		line := block[pos:end]
		st.Lines++
		switch {
		case recStart >= 0 && !IsRecordStart(line):
			recEnd = end
			if stampPrefixLen(line) > 0 {
				st.FramingErrors++ // a runtime's line in a plain log
			}
		case recStart < 0 && len(bytes.TrimSpace(line)) == 0:
			// blank lines before the first record belong to nothing
		default:
			if recStart >= 0 {
				emit()
			}
			recStart, recEnd, firstEnd, recLine = pos, end, end, st.Lines
		}
		pos = end + 1
	}
	if recStart >= 0 {
		emit()
	}
	return st
}
