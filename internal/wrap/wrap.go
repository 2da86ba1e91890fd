// Package wrap writes OpenUnison lines the way container runtimes store
// them: CRI (with long lines split into partial P pieces), docker json-file
// (split at a size, as docker splits at 16 KiB) and `kubectl logs
// --timestamps`. It exists for tests and fixtures; the parser must read back
// exactly the lines that went in.
package wrap

import (
	"encoding/json"
	"strings"
	"time"
)

// Stamp is the runtime timestamp written on every wrapped line.
var Stamp = time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)

func stamp() string { return Stamp.Format(time.RFC3339Nano) }

// CRI wraps each line, splitting any longer than split bytes into P pieces
// ending with an F piece (split <= 0: never).
func CRI(lines []string, split int) string {
	var b strings.Builder
	for _, l := range lines {
		for _, p := range pieces(l, split) {
			flag := "P"
			if p.last {
				flag = "F"
			}
			b.WriteString(stamp() + " stdout " + flag + " " + p.text + "\n")
		}
	}
	return b.String()
}

// Docker wraps each line as json-file does, splitting long lines into
// records without the final newline.
func Docker(lines []string, split int) string {
	var b strings.Builder
	for _, l := range lines {
		for _, p := range pieces(l, split) {
			text := p.text
			if p.last {
				text += "\n"
			}
			rec, _ := json.Marshal(struct {
				Log    string `json:"log"`
				Stream string `json:"stream"`
				Time   string `json:"time"`
			}{text, "stdout", stamp()})
			b.Write(rec)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Kubectl prefixes each line with an RFC 3339 time, as --timestamps does.
func Kubectl(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(stamp() + " " + l + "\n")
	}
	return b.String()
}

type piece struct {
	text string
	last bool
}

func pieces(l string, split int) []piece {
	if split <= 0 || len(l) <= split {
		return []piece{{l, true}}
	}
	var out []piece
	for len(l) > split {
		out = append(out, piece{l[:split], false})
		l = l[split:]
	}
	return append(out, piece{l, true})
}
