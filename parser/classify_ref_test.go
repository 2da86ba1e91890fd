package parser

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/loggen"
)

// refClassifyLine is ClassifyLine as first written, plainly, before it was
// tuned for speed: the tuned one must give the same kind for every line.
func refClassifyLine(line []byte) Kind {
	line = trimCR(line)
	if len(line) <= stampLen || line[0] != '[' || line[stampLen-1] != ']' || line[stampLen] != '[' {
		return refClassifyProxy(line)
	}
	msg, access, oidc := refMessageOf(line)
	switch {
	case access:
		return refClassifyAccess(msg)
	case oidc:
		if refNamesReuse(msg) {
			return KindGraceReuse
		}
		if bytes.HasPrefix(msg, []byte("Session does not exist from refresh_token")) || bytes.HasPrefix(msg, []byte("Session expired")) {
			return KindRefusal
		}
	}
	return KindOther
}

// refClassifyProxy is classifyProxy without the search for idpMarker that
// skips most lines, reading the path with strings.
func refClassifyProxy(line []byte) Kind {
	var f proxyFields
	if !scanProxy(line, &f) {
		return KindOther
	}
	path, _, _ := strings.Cut(string(f.target), "?")
	path, _, _ = strings.Cut(path, "#")
	if strings.HasSuffix(path, "/token") && strings.Contains(path, "/auth/idp/") {
		return KindProxy
	}
	return KindOther
}

func refThreadEnd(line []byte) int {
	for from := stampLen + 1; from < len(line); {
		i := bytes.IndexByte(line[from:], ']')
		if i < 0 {
			return -1
		}
		at := from + i
		if at+1 < len(line) && line[at+1] == ' ' {
			return at
		}
		from = at + 1
	}
	return -1
}

func refMessageOf(line []byte) (msg []byte, access, oidc bool) {
	if len(line) < minHeader || line[stampLen] != '[' {
		return nil, false, false
	}
	end := refThreadEnd(line)
	if end < 0 {
		return nil, false, false
	}
	rest := line[end+2:]
	sp := bytes.IndexByte(rest, ' ')
	if sp < 1 {
		return nil, false, false
	}
	rest = rest[sp:]
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	switch {
	case bytes.HasPrefix(rest, []byte(accessPrefix)):
		return rest[len(accessPrefix):], true, false
	case bytes.HasPrefix(rest, []byte(oidcPrefix)):
		return rest[len(oidcPrefix):], false, true
	}
	return nil, false, false
}

func refClassifyAccess(msg []byte) Kind {
	var kind Kind
	switch {
	case bytes.HasPrefix(msg, []byte(tagAzSuccess)):
		kind, msg = KindTokenOK, msg[len(tagAzSuccess):]
	case bytes.HasPrefix(msg, []byte(tagAzFail)):
		kind, msg = KindTokenFail, msg[len(tagAzFail):]
	case bytes.HasPrefix(msg, []byte(tagAuSuccess)):
		kind, msg = KindLogin, msg[len(tagAuSuccess):]
	default:
		return KindOther
	}
	// A login is one on any URL, whatever follows its tag.
	if kind == KindLogin {
		return kind
	}
	app := bytes.Index(msg, sepField)
	if app < 0 {
		return KindOther
	}
	rest := msg[app+len(sepField):]
	// The URL ends at its separator or, cut short, at the line's end less
	// a separator's first bytes.
	url := rest
	if u := bytes.Index(rest, sepField); u >= 0 {
		url = rest[:u]
	} else {
		url = bytes.TrimSuffix(bytes.TrimSuffix(url, []byte(" -")), []byte(" "))
	}
	if !bytes.HasSuffix(url, []byte("/token")) || !bytes.Contains(url, []byte("/auth/idp/")) {
		return KindOther
	}
	// Only a whole record tells its DN; a broken one is named.
	if _, dn, ok := refSplitURLUser(rest); ok && kind == KindTokenOK && refIsAnonymous(dn) {
		return KindOther
	}
	return kind
}

func refSplitURLUser(rest []byte) (url, dn []byte, ok bool) {
	u := bytes.Index(rest, sepField)
	if u < 0 {
		return nil, nil, false
	}
	url = rest[:u]
	body, _, _, ok := refSplitTrailer(rest[u+len(sepField):])
	if !ok {
		return nil, nil, false
	}
	d := bytes.LastIndex(body, sepField)
	if d < 0 {
		return nil, nil, false
	}
	return url, body[:d], true
}

func refSplitTrailer(msg []byte) (body, ip, session []byte, ok bool) {
	n := len(msg)
	if n < len("x [] - []") || msg[n-1] != ']' {
		return nil, nil, nil, false
	}
	open := bytes.LastIndexByte(msg[:n-1], '[')
	if open < len(" [] - ") || string(msg[open-len("] - "):open]) != "] - " {
		return nil, nil, nil, false
	}
	session = msg[open+1 : n-1]
	ipEnd := open - len("] - ")
	ipOpen := bytes.LastIndexByte(msg[:ipEnd], '[')
	if ipOpen < 1 || msg[ipOpen-1] != ' ' {
		return nil, nil, nil, false
	}
	return msg[:ipOpen-1], msg[ipOpen+1 : ipEnd], session, true
}

func refIsAnonymous(dn []byte) bool {
	const prefix = "uid=anonymous,"
	return len(dn) == 0 || (len(dn) >= len(prefix) && bytes.EqualFold(dn[:len(prefix)], []byte(prefix)))
}

// Near misses of every test the tuned code makes in its own way: "]" and
// " - " in odd places, short lines, the eight-byte boundaries of the thread.
var classifyEdgeLines = []string{
	"[2026-11-23 10:00:00,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://x/auth/idp/k/token - uid=a,o=T - NONE [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t]x] INFO  AccessLog - [AzSuccess] - k8sidp - https://x/auth/idp/k/token - uid=a,o=T - NONE [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][a]]]]]]]]]]]]]]]] INFO  AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][1234567] INFO  AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][12345678] INFO  AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][123456789] INFO  AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][\x01]\x01] INFO  AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][\x00]\x01\x01] INFO  AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t]  INFO  AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO",
	"[2026-11-23 10:00:00,000][t] LEVELX AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] I     AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] I      AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] DEBUG  AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO \xa0AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] IN FO AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  Acces",
	"[2026-11-23 10:00:00,000][t] INFO AccessLog",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzFail]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzFail] - a b - c - https://x/auth/idp/k/token - uid=a - N [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzFail] - a -b - https://x/auth/idp/k/token - uid=a - N [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzFail] - a - https://x/auth/idp/k/token -",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzFail] - a - https://x/auth/idp/k/token - ",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzFail] - a - https://x/auth/idp/k/token -x - uid=a - N [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - uid=Anonymous,o=Tremolo - N [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - /token - uid=a - N [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [Az",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AuSuccess]",
	"[2026-11-23 10:00:00,000][t] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed]",
	"[2026-11-23 10:00:00,000][t] INFO  OpenIDConnectIdX - [ExpiredRefreshTokenUsed] - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  OpenIDConnectId",
	"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  OpenIDConnectIdP - Session does not exist from refresh_token",
	"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  OpenIDConnectIdP - Session expired",
	"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  OpenIDConnectIdP - Session expire",
	"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  OpenIDConnectIdP - Session does not exist",
	"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  OpenIDConnectIdP - Invalid client_secret",
	"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  AccessLog - Session expired",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - uid=a - N [192.0.2.1] - [s]\r",
	// JSON values without quotes end where the JSON reader ends them.
	`{"time":0,"uri":/auth/idp/token}`,
	`{"uri":/auth/idp/k/token,"remote_addr":"192.0.2.1"}`,
	"{\"uri\":/auth/idp/k/token\t}",
	"{\"uri\":/auth/idp/k/token\r}",
	`{"uri":/auth/idp/k/token]}`,
}

func classifyCorpus(t *testing.T) [][]byte {
	t.Helper()
	var lines [][]byte
	for _, l := range classifyEdgeLines {
		lines = append(lines, []byte(l))
	}
	for _, l := range damagedLines() {
		lines = append(lines, []byte(l))
	}
	for _, l := range proxyLines {
		lines = append(lines, []byte(l.line))
	}
	files, _ := filepath.Glob("../testdata/openunison/*")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, bytes.Split(data, []byte("\n"))...)
	}
	var buf bytes.Buffer
	if _, err := loggen.Write(&buf, loggen.Config{Size: 4 << 20, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	lines = append(lines, bytes.Split(buf.Bytes(), []byte("\n"))...)
	// A proxy pod's log of every format: token requests, the rest of the
	// cluster's traffic, klog and Envoy info lines.
	for _, f := range loggen.ProxyFormats() {
		var ou, px bytes.Buffer
		if _, _, err := loggen.WritePaired([]io.Writer{&ou}, loggen.Config{Size: 256 << 10, Seed: 3},
			loggen.Proxy{Format: f, Writers: []io.Writer{&px}}); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, bytes.Split(px.Bytes(), []byte("\n"))...)
	}
	return lines
}

func TestClassifyLineMatchesReference(t *testing.T) {
	kinds := map[Kind]int{}
	for _, line := range classifyCorpus(t) {
		// Every prefix too: the tuned code reads lengths its own way.
		for _, l := range [][]byte{line, line[:len(line)/2], line[:min(len(line), 40)]} {
			got, want := ClassifyLine(l), refClassifyLine(l)
			if got != want {
				t.Fatalf("ClassifyLine %s, reference %s for %q", got, want, l)
			}
			kinds[got]++
		}
	}
	// Every kind, proxy records and refusal WARNs included.
	for k := range numKinds {
		if kinds[k] == 0 {
			t.Errorf("no line of kind %s in the corpus", k)
		}
	}
}

func FuzzClassifyLine(f *testing.F) {
	seedLines(f, false)
	for _, l := range classifyEdgeLines {
		f.Add([]byte(l))
	}
	for _, l := range damagedLines() {
		f.Add([]byte(l))
	}
	for _, l := range proxyLines {
		f.Add([]byte(l.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if got, want := ClassifyLine(line), refClassifyLine(line); got != want {
			t.Fatalf("ClassifyLine %s, reference %s for %q", got, want, line)
		}
	})
}

// IsAnonymousDN's shortcut on the fifth byte gives what folding the whole
// prefix gives, for DNs with runes that fold into its letters too.
func TestIsAnonymousDNShortcut(t *testing.T) {
	ref := func(dn string) bool {
		const prefix = "uid=anonymous,"
		return dn == "" || (len(dn) >= len(prefix) && strings.EqualFold(dn[:len(prefix)], prefix))
	}
	for _, dn := range []string{
		"", "uid=Anonymous,o=Tremolo", "UID=ANONYMOUS,", "uid=anonymous", "uid=anonymouſ,o=T", "uid=anonymouſ",
		"uId=aNonymous,x", "uid=bob,o=T", "uid=\u212Anonymous,o=T", "cn=anonymous,o=T", "u", "uid=Anonymous,o=Tremolo\xff",
	} {
		if got, want := IsAnonymousDN(dn), ref(dn); got != want {
			t.Errorf("IsAnonymousDN(%q) = %v, want %v", dn, got, want)
		}
		if got, want := isAnonymous([]byte(dn)), IsAnonymousDN(dn); got != want {
			t.Errorf("isAnonymous(%q) = %v, IsAnonymousDN says %v", dn, got, want)
		}
	}
}
