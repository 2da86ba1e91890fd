package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The instance id file is read at every start of a watch with a state
// directory, and may hold anything (a hand's edit, a disk's fault): an id
// read is the file's one line, of the bytes an id may hold, and reads the
// same once written back; a refusal names the file and, for a byte, its
// line and column, which point at that byte (or at the start of a second
// line).
func FuzzReadInstanceID(f *testing.F) {
	for _, s := range []string{"", "\n", "0123456789abcdef01234567\n", " \tw-1.a_b\r\n\n", "a\nb\n", "a b", "é", strings.Repeat("a", maxInstanceID+1), "x\r\ry"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "instance-id")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		id, err := readInstanceID(path)
		if err == nil {
			if id != string(bytes.Trim(data, " \t\r\n")) || len(id) > maxInstanceID || strings.IndexFunc(id, func(r rune) bool { return r > 0x7f || !instanceIDByte(byte(r)) }) >= 0 {
				t.Fatalf("read id %q from %q", id, data)
			}
			if id == "" {
				return
			}
			if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if again, err := readInstanceID(path); again != id || err != nil {
				t.Fatalf("%q written back reads as %q, %v", id, again, err)
			}
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, path+": ") {
			t.Fatalf("error does not name the file first: %v", err)
		}
		var line, col int
		if _, place, ok := strings.Cut(msg, ": line "); ok {
			if _, err := fmt.Sscanf(place, "%d, column %d:", &line, &col); err != nil {
				t.Fatalf("place %q: %v", place, err)
			}
			lines := bytes.Split(data, []byte("\n"))
			if line < 1 || line > len(lines) || col < 1 {
				t.Fatalf("line %d, column %d is not in %q", line, col, data)
			}
			if strings.Contains(msg, "a second line") {
				// Where the second line starts, which may be blank.
				if line == 1 || col != 1 {
					t.Fatalf("%v: in %q", err, data)
				}
				return
			}
			if col > len(lines[line-1]) || instanceIDByte(lines[line-1][col-1]) {
				t.Fatalf("%v: at line %d, column %d of %q", err, line, col, data)
			}
		}
	})
}
