package parser

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// The lines of TestParse (line_test.go) and scanner_test.go, as OpenUnison
// writes them.
const (
	reuseLine = "[2022-12-24 00:34:56,424][XNIO-1 task-1] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp/token - uid=mmosley,ou=shadow,o=Tremolo - Expired token used within grace period [10.1.67.56] - [f9b20cfb111e9d922865823e502ddb0585c7b1bb2]"
	loginLine = "[2026-11-23 10:01:00,100][XNIO-1 task-3] INFO  AccessLog - [AuSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/auth - uid=mmosley,ou=shadow,o=Tremolo - NONE [203.0.113.7] - [f1]"
	// An AzSuccess of another application: noise, whole or cut.
	apiLine = "[2026-11-23 00:00:38,415][XNIO-1 task-12] INFO  AccessLog - [AzSuccess] - k8s-api - https://k8sapi.apps.example.com/apis - uid=prossi2,ou=shadow,o=Tremolo - NONE [10.9.89.174] - [f9bff32072bf384f7d85a0feda42c40cbd91b524a]"
)

// damagedBlock puts line between noise lines, with room after it, as a
// scan's block holds it: SplitCandidates' vector kernel skips noise in
// runs, and a damaged record must stop it.
func damagedBlock(line string) []byte {
	noise := strings.Repeat(noiseLine+"\n", 4)
	return []byte(noise + line + "\n" + noise)
}

// candidatesOf returns the records SplitCandidates hands out of block.
func candidatesOf(block []byte) []string {
	var got []string
	SplitCandidates(block, func(rec []byte, _ Kind, _ int, _ int64) { got = append(got, string(rec)) })
	return got
}

// checkDamaged holds a damaged event record to what scan needs of it:
// Classify names its kind, so the scan parses it; SplitCandidates (the
// vector kernel included) and the Scanner hand it out; Parse rejects it
// with a SyntaxError at col (when col > 0), as an other event keeping its
// raw text. It returns the error's message.
func checkDamaged(t *testing.T, line string, kind Kind, col int) string {
	t.Helper()
	if k := ClassifyLine([]byte(line)); k != kind {
		t.Fatalf("ClassifyLine = %s, want %s, for %q", k, kind, line)
	}
	if k := Classify([]byte(line + "\n\tat x")); k != kind {
		t.Fatalf("Classify of the record with a continuation line = %s, want %s, for %q", k, kind, line)
	}
	got := candidatesOf(damagedBlock(line))
	if len(got) != 1 || got[0] != line {
		t.Fatalf("SplitCandidates handed out %q, want the damaged line %q", got, line)
	}
	sc := NewScanner(bytes.NewReader(damagedBlock(line)))
	var scanned []string
	for sc.Scan() {
		if r := sc.Record().Text; Classify(r) != KindOther {
			scanned = append(scanned, string(r))
		}
	}
	if len(scanned) != 1 || scanned[0] != line {
		t.Fatalf("the Scanner's records that Classify picks: %q, want the damaged line %q", scanned, line)
	}
	ev, err := Parse([]byte(line), nil)
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("Parse error %v, want a *SyntaxError, for %q", err, line)
	}
	if col > 0 && se.Column != col {
		t.Fatalf("Parse error %v: column %d, want %d, for %q", err, se.Column, col, line)
	}
	if ev.Kind != KindOther || ev.Raw != line {
		t.Fatalf("a broken record must stay an other event with its raw text: kind %s raw %q", ev.Kind, ev.Raw)
	}
	// The same with a CRLF line end: the column counts the line without it.
	if _, err := Parse([]byte(line+"\r"), nil); !errors.As(err, &se) || (col > 0 && se.Column != col) {
		t.Fatalf("with a CRLF: Parse error %v, want column %d, for %q", err, col, line)
	}
	return se.Msg
}

// A grace reuse cut at any point from its tag's '[' on is a parse error
// at the column where the line ends, never other: a reuse is the one
// record graceguard exists for. Cut before its tag, the line no longer
// says it is one (its stamp, thread, level and logger are those of every
// OpenIDConnectIdP record).
func TestTruncatedGraceReuseIsAParseError(t *testing.T) {
	t.Parallel()
	msg := strings.Index(reuseLine, "[ExpiredRefreshTokenUsed]")
	for n := msg + 1; n < len(reuseLine); n++ {
		cut := reuseLine[:n]
		checkDamaged(t, cut, KindGraceReuse, n+1)
	}
}

// The same for a token request's AzSuccess and AzFail and for a login's
// AuSuccess: once its line has said what it is (a token request by its
// URL, a login by its tag), a cut anywhere is a parse error. Cut inside
// the URL, an AzSuccess or AzFail is the same as one of any application.
func TestTruncatedTokenAndLoginLinesAreParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, line, named string
		kind              Kind
	}{
		{"token_ok", lineA, "/token", KindTokenOK},
		{"token_fail", lineC, "/token", KindTokenFail},
		{"login", loginLine, "[AuSuccess] - ", KindLogin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			from := strings.Index(tc.line, tc.named) + len(tc.named)
			for n := from; n < len(tc.line); n++ {
				checkDamaged(t, tc.line[:n], tc.kind, n+1)
			}
		})
	}
}

// Damage other than a cut, in each part of the trailer and the tag: a
// parse error at the column where the grammar broke (that of mark's first
// byte in the damaged line, plus off; 0: not checked), which the message
// names.
func TestDamagedEventLines(t *testing.T) {
	t.Parallel()
	ip, session := "[10.1.67.56]", " - [f9b20cfb111e9d922865823e502ddb0585c7b1bb2]"
	reuse := func(old, new string) string { return strings.Replace(reuseLine, old, new, 1) }
	anonymous := strings.Replace(lineA, "uid=mmosley,ou=shadow", "uid=Anonymous", 1)
	for _, tc := range []struct {
		name, line string
		kind       Kind
		mark       string
		off        int
		msg        string
	}{
		{"reuse: IP bracket unclosed", reuse(ip, "[10.1.67.56"), KindGraceReuse, "[10.1.67.56 - ", len("[10.1.67.56"), `IP address is not closed by "]"`},
		{"reuse: IP bracket unclosed, the session cut", reuse(ip+session, "[10.1.67.56 - [f9b20cf"), KindGraceReuse, "[10.1.67.56 - ", len("[10.1.67.56"), `IP address is not closed by "]"`},
		{"reuse: IP bracket unclosed, text in it", reuse(ip, "[10.1.67.56 x"), KindGraceReuse, "[10.1.67.56 x", len("[10.1.67.56"), `IP address is not closed by "]"`},
		{"reuse: IP bracket not opened", reuse(ip, "10.1.67.56]"), KindGraceReuse, "10.1.67.56]", 0, `want "[" before the IP address`},
		{"reuse: no space before the IP", reuse(" "+ip, ip), KindGraceReuse, ip, 0, `want " [" before the IP address`},
		{"reuse: garbage in the IP", reuse(ip, "[10.1.6x.56]"), KindGraceReuse, "[10.1.6x.56]", 1, `bad IP address "10.1.6x.56"`},
		{"reuse: an empty IP", reuse(ip, "[]"), KindGraceReuse, "[]", 1, `bad IP address ""`},
		{"reuse: session bracket unclosed, text after", reuse("bb2]", "bb2 x"), KindGraceReuse, "bb2 x", len("bb2 x"), `record ends inside [SESSION]`},
		// The DN may hold "] - [x]": from its end, the record ends badly.
		{"reuse: text after the session", reuseLine + " x", KindGraceReuse, "bb2] x", len("bb2] x"), `no trailing "[IP] - [SESSION]" at the end of the record`},
		{"reuse: no separator between IP and session", reuse(ip+" - ", ip+"-"), KindGraceReuse, ip, len(ip), `want " - " between [IP] and [SESSION]`},
		{"reuse: no space before the session", reuse(ip+" - ", ip+" -"), KindGraceReuse, ip, len(ip) + 2, `want " - " between [IP] and [SESSION]`},
		{"reuse: no session", reuse(session, ""), KindGraceReuse, ip, len(ip), `record ends after [IP]`},
		{"reuse: no separator after the DN", reuse("Tremolo - Expired", "Tremolo Expired"), KindGraceReuse, " " + ip, 0, `missing " - " between the user DN and the message`},
		{"reuse: tag not followed by its separator", reuse("] - https", "]: https"), KindGraceReuse, "]: https", 1, `want " - " after [ExpiredRefreshTokenUsed]`},
		{"reuse: a URL run into the DN", reuse("/token - ", "/token "), KindGraceReuse, " " + ip, 0, `missing " - " between the user DN and the message`},
		{"token_ok: IP bracket unclosed", strings.Replace(lineA, "[203.0.113.7]", "[203.0.113.7", 1), KindTokenOK, "[203.0.113.7 - ", len("[203.0.113.7"), `IP address is not closed by "]"`},
		{"token_fail: IP bracket unclosed", strings.Replace(lineC, "[203.0.113.99]", "[203.0.113.99", 1), KindTokenFail, "[203.0.113.99 - ", len("[203.0.113.99"), `IP address is not closed by "]"`},
		// Its DN cannot be told from the text of a broken trailer for sure:
		// the line is named, not dropped.
		{"token_ok, anonymous: IP bracket unclosed", strings.Replace(anonymous, "[203.0.113.7]", "[203.0.113.7", 1), KindTokenOK, "[203.0.113.7 - ", len("[203.0.113.7"), `IP address is not closed by "]"`},
		{"login: garbage in the IP", strings.Replace(loginLine, "[203.0.113.7]", "[203.0.113.7.8]", 1), KindLogin, "[203.0.113.7.8]", 1, `bad IP address`},
		{"login: no separator after the application", strings.Replace(loginLine, "k8sidp - ", "k8sidp ", 1), KindLogin, " [203.0.113.7]", 0, `missing " - " between the user DN and the message`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			col := strings.Index(tc.line, tc.mark) + 1 + tc.off
			if strings.Count(tc.line, tc.mark) != 1 {
				t.Fatalf("mark %q is not once in %q", tc.mark, tc.line)
			}
			if msg := checkDamaged(t, tc.line, tc.kind, col); !strings.Contains(msg, tc.msg) {
				t.Errorf("Parse error %q, want it to say %q", msg, tc.msg)
			}
		})
	}
}

// A DN may hold brackets and separators of its own, which a cut line
// makes look like a trailer: whatever the cut, the record is still a
// parse error naming a column no further than its end, never other.
func TestTruncatedGraceReuseWithBracketsInTheDN(t *testing.T) {
	t.Parallel()
	line := strings.Replace(reuseLine, "uid=mmosley,ou=shadow", `cn=\ Rosa Novak [ext] - [contractor],ou=shadow`, 1)
	msg := strings.Index(line, "[ExpiredRefreshTokenUsed]")
	for n := msg + 1; n < len(line); n++ {
		cut := line[:n]
		_, err := Parse([]byte(cut), nil)
		var se *SyntaxError
		switch {
		case ClassifyLine([]byte(cut)) != KindGraceReuse:
			t.Fatalf("ClassifyLine = %s for %q", ClassifyLine([]byte(cut)), cut)
		case len(candidatesOf(damagedBlock(cut))) != 1:
			t.Fatalf("SplitCandidates handed out %q, want the damaged line %q", candidatesOf(damagedBlock(cut)), cut)
		case !errors.As(err, &se) || se.Column < 1 || se.Column > n+1:
			t.Fatalf("Parse error %v for %q (%d bytes)", err, cut, n)
		}
	}
}

// The noise around them stays noise: an AzSuccess of another application
// cut anywhere, the LDAP access lines, an AzSuccess or an AzFail cut
// inside its URL.
func TestDamagedNoiseStaysNoise(t *testing.T) {
	t.Parallel()
	for n := len(apiLine) / 3; n < len(apiLine); n++ {
		if k := ClassifyLine([]byte(apiLine[:n])); k != KindOther {
			t.Fatalf("ClassifyLine = %s for %q", k, apiLine[:n])
		}
		if got := candidatesOf(damagedBlock(apiLine[:n])); len(got) != 0 {
			t.Fatalf("SplitCandidates handed out %q", got)
		}
	}
	for _, line := range []string{lineA, lineC} {
		url := strings.Index(line, "https://")
		for n := url; n < strings.Index(line, "/token")+len("/tok"); n++ {
			if k := ClassifyLine([]byte(line[:n])); k != KindOther {
				t.Fatalf("ClassifyLine = %s for %q", k, line[:n])
			}
		}
	}
}

// damagedLines are event lines broken as logs break them, seeds for the
// fuzz tests that read such lines: cut at each field of the trailer, and
// with each bracket unclosed or the address garbled.
func damagedLines() []string {
	lines := []string{
		strings.Replace(reuseLine, "[10.1.67.56]", "[10.1.67.56", 1),
		strings.Replace(reuseLine, "[10.1.67.56]", "10.1.67.56]", 1),
		strings.Replace(reuseLine, "[10.1.67.56]", "[10.1.67.x56]", 1),
		strings.Replace(reuseLine, "[10.1.67.56]", "[::ffff:10.1.67.56 ]", 1),
		strings.Replace(reuseLine, "[10.1.67.56] - ", "[10.1.67.56] -", 1),
		strings.Replace(reuseLine, "] - https", "]: https", 1),
		reuseLine + " x",
		strings.Replace(lineA, "[203.0.113.7]", "[203.0.113.7", 1),
		strings.Replace(lineC, "[203.0.113.99]", "[203.0.113.99", 1),
		strings.Replace(loginLine, "[203.0.113.7]", "[203.0.113.7.8]", 1),
	}
	for _, line := range []string{reuseLine, lineA, lineC, loginLine} {
		for _, at := range []string{"[Expired", "/token", "/token -", " - uid", "Tremolo - ", "grace period [", "NONE [", ".56", "] - [", "f9b20", "f1", "] - "} {
			if i := strings.LastIndex(line, at); i >= 0 {
				lines = append(lines, line[:i+len(at)])
			}
		}
	}
	return lines
}
