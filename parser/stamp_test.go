package parser

import (
	"fmt"
	"testing"
	"time"
)

// parseStamp agrees with refParseStamp, byte by byte, when any one byte
// of a stamp is any value: every digit and separator check, and each
// byte's place in the three words stampFields reads.
func TestParseStampEveryByte(t *testing.T) {
	stamps := []string{
		"[2022-12-24 00:34:56,424]", "[2026-02-30 23:59:60.999]", "[0000-01-01 00:00:00,000]",
		"[9999-12-31 23:59:59,999]", "[1970-01-01 00:00:00.001]", "[2024-02-29 12:30:45,500]",
	}
	for _, s := range stamps {
		for i := 1; i < stampLen; i++ {
			for c := range 256 {
				b := []byte(s)
				b[i] = byte(c)
				for _, loc := range []*time.Location{nil, time.FixedZone("odd", 5400)} {
					got, gerr := parseStamp(b, loc)
					want, werr := refParseStamp(b, loc)
					if fmt.Sprint(gerr) != fmt.Sprint(werr) || got != want {
						t.Fatalf("parseStamp(%q) = %v, %v; reference %v, %v", b, got, gerr, want, werr)
					}
				}
			}
		}
	}
}
