package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The instance id names a watcher in Redis's keys and in the alert ids it
// claims, so what an operator (or a damaged disk) left in the state
// directory is read within a bound and checked, not taken whole.
func TestInstanceIDFromTheStateDirectory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		want    string // "" with wantErr ""
		wantErr string // a part of the error; "" for none
	}{
		{name: "kept id", content: "3f9c0a1b2c3d4e5f60718293\n", want: "3f9c0a1b2c3d4e5f60718293"},
		{name: "an operator's name, spaces around", content: "  watcher-eu.1_b \n", want: "watcher-eu.1_b"},
		{name: "the longest", content: strings.Repeat("a", 128), want: strings.Repeat("a", 128)},
		{name: "too long", content: strings.Repeat("a", 129) + "\n", wantErr: "129 bytes"},
		{name: "a whole file of it", content: strings.Repeat("abcdefgh", 1<<17), wantErr: "more than 4096 bytes"},
		{name: "a space inside", content: "watcher one\n", wantErr: "line 1, column 8"},
		{name: "a control byte", content: "abc\x1b[31m\n", wantErr: "line 1, column 4"},
		{name: "not ASCII", content: "wätcher\n", wantErr: "line 1, column 2"},
		{name: "two lines", content: "a\nb\n", wantErr: "line 2, column 1"},
		{name: "a key separator", content: "a:b\n", wantErr: "line 1, column 2"},
		{name: "a no-break space first", content: "\n \u00a0ab\n", wantErr: "line 2, column 2: byte 0xc2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "instance-id")
			if err := os.WriteFile(path, []byte(tt.content), 0o640); err != nil {
				t.Fatal(err)
			}
			got, err := instanceID(dir)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("instanceID = %.40q, %v; want %.40q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("instanceID = %.40q (%d bytes), want an error about %s", got, len(got), tt.wantErr)
			}
			var ue usageError
			if !errors.As(err, &ue) {
				t.Errorf("error %v is not a usage error (exit 2)", err)
			}
			for _, part := range []string{path, tt.wantErr, "remove the file"} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not say %q", err, part)
				}
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes: it quotes the file", len(err.Error()))
			}
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Error("the refused file was changed")
			}
		})
	}
}

func TestInstanceIDMadeOnceAndKept(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	first, err := instanceID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 24 {
		t.Errorf("new id %q: want 24 hex digits", first)
	}
	again, err := instanceID(dir)
	if err != nil || again != first {
		t.Errorf("second read = %q, %v; want the kept %q", again, err, first)
	}
	// An empty or blank file is one that was never written whole: a new id.
	if err := os.WriteFile(filepath.Join(dir, "instance-id"), []byte(" \n"), 0o640); err != nil {
		t.Fatal(err)
	}
	fresh, err := instanceID(dir)
	if err != nil || fresh == first || len(fresh) != 24 {
		t.Errorf("after a blank file: %q, %v; want a new id", fresh, err)
	}
	if a, b := mustInstanceID(t, ""), mustInstanceID(t, ""); a == b {
		t.Errorf("without a state directory two runs share the id %q", a)
	}
}

func mustInstanceID(t *testing.T, dir string) string {
	t.Helper()
	id, err := instanceID(dir)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
