package parser

import (
	"strings"
	"testing"
)

// checkScanURL holds scanURL to what it replaced: indexSepString for the
// URL's end, idpName for the name within the URL.
func checkScanURL(t *testing.T, s string) {
	t.Helper()
	u, name, nameEnd, ok := scanURL(s)
	if want := indexSepString(s); u != want {
		t.Fatalf("scanURL(%q) ends the URL at %d, want %d", s, u, want)
	}
	if u < 0 {
		return
	}
	wantName, wantOK := idpName(s[:u])
	if ok != wantOK || ok && s[name:nameEnd] != wantName {
		t.Fatalf("scanURL(%q) name %d:%d %v, want %q %v", s, name, nameEnd, ok, wantName, wantOK)
	}
}

var scanURLEdges = []string{
	"https://k8sou.apps.example.com/auth/idp/k8sIdp/token - uid=a,o=T - NONE [192.0.2.1] - [s]",
	"https://k8sapi.apps.example.com/api/v1/namespaces/openunison/configmaps - d - m [::1] - [s]",
	"https://x/auth/idp/k/token - d",
	"/auth/idp/ - d", "/auth/idp/k - d", "/auth/idp/k/ - d", "/auth/idp//token - d",
	"/auth/idp - /auth/idp/k/token", "u - /auth/idp/k/", "https://x/auth/idp/k - /y",
	"1234567/auth/idp/k/x - ", "12345678/auth/idp/k/x - ", "123456789012345/auth/idp/ - ",
	"/auth/idp/auth/idp/x/y - z", "//auth/idp/a/b - z", "/auth/id/auth/idp/a - z",
	"https://x/auth/idp/k/token", "https://x/auth/idp/k/token -", "https://x/auth/idp/k/token - ",
	"a -b - c", "a  - b", " - ", "-", "", " ", "a - ", "a b c - d", "abcdefg - ", "abcdefgh - ",
	"/.\x01/./ - \x01!", "\x2e/auth/idp/\x01/ - ", "x/auth/idp/k\x2e/ - ", "x /auth/idp/k - ",
	"https://x/auth/idp/k8sIdp/token\r - d", "ab/auth/idp/\xff\xfe/c - d",
}

func TestScanURL(t *testing.T) {
	for _, s := range scanURLEdges {
		checkScanURL(t, s)
		// Every alignment of the marker and the separator to the words.
		for pad := 1; pad < 9; pad++ {
			checkScanURL(t, strings.Repeat("p", pad)+s)
			checkScanURL(t, s[:len(s)/2]+strings.Repeat("/", pad)+s[len(s)/2:])
		}
	}
}

func FuzzScanURL(f *testing.F) {
	for _, s := range scanURLEdges {
		f.Add(s)
	}
	f.Fuzz(checkScanURL)
}

// tagEnd and indexSepShort take shortcuts for the common tags and short
// application names; they agree with the searches they shortcut.
func TestTagEndAndSepShort(t *testing.T) {
	cases := []string{
		"[AzSuccess] - k8sidp - u", "[AuSuccess] - a - u", "[AzFail] - a", "[ExpiredRefreshTokenUsed] - u",
		"[AzSuccess] -", "[AzSuccess]", "[AzFail]x - a", "[Other] - a", "[] - a", "[A] - ", "",
		"k8sidp - https://x", "k8s-api - u", "a b - c", "abcdefg - u", "abcdefgh - u", "abcdef -", "abcdef- - x",
		"a - ", "a -", " - ", "abcdefgh", "a\x01b - c", "a b c d - e",
	}
	for _, s := range cases {
		if got, want := tagEnd(s), indexTagEnd(s); got != want {
			t.Errorf("tagEnd(%q) = %d, indexTagEnd says %d", s, got, want)
		}
		if got, want := indexSepShort(s), indexSepString(s); got != want {
			t.Errorf("indexSepShort(%q) = %d, indexSepString says %d", s, got, want)
		}
	}
}
