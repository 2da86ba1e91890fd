package parser

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedLines adds every line of the repository's sample logs to a fuzz corpus.
func seedLines(f *testing.F, whole bool) {
	f.Helper()
	files, _ := filepath.Glob("../testdata/openunison/*")
	if len(files) == 0 {
		f.Fatal("no sample logs in ../testdata/openunison")
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if whole {
			f.Add(data)
			continue
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			f.Add(l)
		}
	}
}

// Parse never panics, and Classify never calls "other" what Parse would
// give a kind, nor names a kind Parse disagrees with. An event's line cut
// anywhere after it has said what it is is never dropped as other when
// Parse rejects it.
func FuzzParse(f *testing.F) {
	seedLines(f, false)
	for _, l := range damagedLines() {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		ev, err := Parse(rec, nil)
		c := Classify(rec)
		if c == KindOther && ev.Kind != KindOther {
			t.Fatalf("Classify says other, Parse says %s for %q", ev.Kind, rec)
		}
		if err == nil && ev.Kind != c {
			t.Fatalf("Classify says %s, Parse says %s for %q", c, ev.Kind, rec)
		}
		if err != nil && ev.Kind != KindOther {
			t.Fatalf("a record with an error must be other, got %s", ev.Kind)
		}
		if ev.Raw != string(rec) {
			t.Fatalf("Raw %q, want the record", ev.Raw)
		}
		// A refusal's WARN names no client: the AzFail after it does; a
		// proxy record may name none (Envoy's text format without XFF).
		if err == nil && ev.Kind != KindOther && ev.Kind != KindRefusal && ev.Kind != KindProxy && !ev.IP.IsValid() {
			t.Fatalf("a %s event without an IP: %q", ev.Kind, rec)
		}
		if (ev.Kind == KindProxy) != (ev.Proxy != nil) {
			t.Fatalf("kind %s with proxy record %v", ev.Kind, ev.Proxy)
		}
		if err == nil {
			cutsAreNamed(t, rec, &ev)
		}
	})
}

// cutsAreNamed holds Classify to naming every cut of a whole event's first
// line that Parse rejects, from where the line says what it is: a grace
// reuse from its tag's '[', a login from its tag, a token request from its
// URL's end. An AzSuccess whose cut reads whole but for its address, with
// an anonymous DN, is no event and may be other.
func cutsAreNamed(t *testing.T, rec []byte, ev *Event) {
	t.Helper()
	line := rec
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	}
	line = trimCR(line)
	if len(line) > 2048 || !isLog4jShape(line) {
		return
	}
	h, err := splitHeader(line)
	if err != nil {
		t.Fatalf("Parse read %q whole, splitHeader says %v", line, err)
	}
	from := -1
	switch ev.Kind {
	case KindGraceReuse:
		from = h.msg + 1
	case KindLogin:
		from = h.msg + len(tagAuSuccess)
	case KindTokenOK, KindTokenFail:
		tag := len(tagAzSuccess)
		if ev.Kind == KindTokenFail {
			tag = len(tagAzFail)
		}
		from = h.msg + tag + len(ev.App) + len(sepField) + len(ev.URL)
	}
	if from < 0 {
		return
	}
	for n := from; n < len(line); n++ {
		cut := line[:n]
		cev, err := Parse(cut, nil)
		if err == nil || ClassifyLine(cut) != KindOther {
			continue
		}
		var se *SyntaxError
		if ev.Kind == KindTokenOK && errors.As(err, &se) && strings.HasPrefix(se.Msg, "bad IP address") && IsAnonymousDN(cev.User) {
			continue
		}
		t.Fatalf("a %s line cut to %q: Parse says %v, Classify other", ev.Kind, cut, err)
	}
}

// Proxy lines: Parse never panics, agrees with Classify, and a record it
// returns holds together (the client is the event's IP, the duration joins
// start and end, the path is a token endpoint's). Envoy's and Istio's two
// readers agree (envoyReadersAgree).
func FuzzProxyLine(f *testing.F) {
	for _, l := range proxyLines {
		f.Add([]byte(l.line))
	}
	f.Add([]byte(`{"time":"2026-11-26T09:00:04","path":"/auth/idp/k/token","remote_addr":"::ffff:192.0.2.1","request_time":"1e3"}`))
	f.Add([]byte(`x - [::1] - u v [1/Jan/2026:00:00:00 +0000] "POST /auth/idp/k/token" 1 2 "" "" 3 0 [a] a:1,, : , 1`))
	f.Fuzz(func(t *testing.T, line []byte) {
		envoyReadersAgree(t, line)
		ev, err := Parse(line, nil)
		c := ClassifyLine(line)
		if c == KindOther && ev.Kind != KindOther || err == nil && c != ev.Kind {
			t.Fatalf("ClassifyLine says %s, Parse says %s (%v) for %q", c, ev.Kind, err, line)
		}
		if ev.Kind != KindProxy {
			return
		}
		p := ev.Proxy
		if ev.IP != p.Client || p.Duration < 0 || !p.End.Equal(p.Start.Add(p.Duration)) || p.Precision <= 0 {
			t.Fatalf("record %+v, event IP %v", p, ev.IP)
		}
		// The log's clock reads a token request's line as its event does.
		if at, ok := ProxyLineTime(line, nil); err == nil && (!ok || !at.Equal(ev.Time)) {
			t.Fatalf("ProxyLineTime %v %v, the event's time %v", at, ok, ev.Time)
		}
		if !strings.HasSuffix(p.Path, "/token") && !strings.Contains(string(line), `\`) {
			t.Fatalf("path %q is no token endpoint", p.Path)
		}
	})
}

// The Scanner never panics, bounds every record, accounts for every byte,
// and for plain input agrees with splitRecordsRef.
func FuzzScanner(f *testing.F) {
	seedLines(f, true)
	f.Add([]byte(cri("stdout", "P", "[2026-11-23 10:00:00,000][t] INFO  A") + cri("stdout", "F", " - x")))
	f.Add([]byte(docker("[2026-11-23 10:00:00,000][t] INFO  A") + docker(" - x\n")))
	f.Add([]byte("{\"log\":\"\\ud800\\n\"}\n\xff\xfe\r\n"))
	f.Add([]byte(strings.Join(damagedLines(), "\n")))
	f.Fuzz(func(t *testing.T, in []byte) {
		sc := NewScanner(bytes.NewReader(in))
		var texts []string
		for sc.Scan() {
			r := sc.Record()
			if len(r.Text) > MaxRecord || r.Offset < 0 || r.Offset > int64(len(in)) {
				t.Fatalf("record of %d bytes at offset %d", len(r.Text), r.Offset)
			}
			Classify(r.Text)
			texts = append(texts, string(r.Text))
		}
		if sc.Err() != nil {
			t.Fatal(sc.Err())
		}
		if st := sc.Stats(); st.Bytes != int64(len(in)) {
			t.Fatalf("read %d of %d bytes", st.Bytes, len(in))
		}
		if sc.Format() != FormatPlain || sc.ProxyLog() || bytes.IndexByte(in, '\r') >= 0 {
			return
		}
		sameCandidates(t, in)
		var blocks []string
		splitRecordsRef(in, func(rec []byte, first, _ int, _ int64) {
			if ClassifyLine(rec[:first]) != Classify(rec) {
				t.Fatalf("ClassifyLine and Classify disagree on %q", rec)
			}
			blocks = append(blocks, string(rec))
		})
		if strings.Join(blocks, "\x00") != strings.Join(texts, "\x00") {
			t.Fatalf("splitRecordsRef %q\nScanner %q", blocks, texts)
		}
	})
}

func TestParseSurvivesInvalidUTF8Fuzzed(t *testing.T) {
	rec := []byte("[2026-11-23 10:00:00,000][\xff] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://x/auth/idp/\xfe/token - uid=\xc3,o=T - Expired [192.0.2.1] - [null]")
	ev, err := Parse(rec, nil)
	if err != nil || ev.Kind != KindGraceReuse || utf8.ValidString(ev.User) {
		t.Fatalf("kind %s err %v user %q", ev.Kind, err, ev.User)
	}
}
