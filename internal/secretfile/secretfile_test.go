package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secret stands for the content of a secret file; no error may show it.
const secret = "Zq7-s3cret-Vk2"

func TestRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	atCap := secret + strings.Repeat("x", MaxSize-len(secret))
	link := filepath.Join(dir, "link")
	if err := os.Symlink(write("target", secret+"\n"), link); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		want       string
		wantErr    string // the whole message; FILE stands for the path
		wantIs     error
	}{
		{"bare", write("bare", secret), secret, "", nil},
		{"newline", write("nl", secret+"\n"), secret, "", nil},
		{"CRLF", write("crlf", secret+"\r\n"), secret, "", nil},
		{"spaces and tabs around", write("spaces", " \t"+secret+" \n\n"), secret, "", nil},
		{"spaces inside kept", write("inside", "a "+secret+"\tb\n"), "a " + secret + "\tb", "", nil},
		{"symbolic link, as a Kubernetes Secret's", link, secret, "", nil},
		{"exactly the cap", write("cap", atCap), atCap, "", nil},
		{"the cap and a newline", write("capnl", atCap+"\n"), "", "FILE: file is larger than 64 KiB, the most a secret file may hold", errTooLarge},
		{"one byte over the cap", write("over", atCap+"y"), "", "FILE: file is larger than 64 KiB, the most a secret file may hold", errTooLarge},
		{"empty", write("empty", ""), "", "FILE: file is empty", errEmpty},
		{"only white space", write("blank", " \r\n\t\n"), "", "FILE: file is empty", errEmpty},
		{"missing", filepath.Join(dir, "missing"), "", "no such file (its path is not shown: it may be the secret itself)", fs.ErrNotExist},
		{"the secret given for its path", secret, "", "no such file (its path is not shown: it may be the secret itself)", fs.ErrNotExist},
		{"directory", dir, "", "FILE: not a regular file (a directory)", errNotRegular},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Read(tt.path)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Errorf("Read = %.40q…, %v; want %.40q…", got, err, tt.want)
				}
				return
			}
			want := strings.ReplaceAll(tt.wantErr, "FILE", tt.path)
			if err == nil || err.Error() != want || !errors.Is(err, tt.wantIs) || got != "" {
				t.Fatalf("Read = %q, %v; want the error %q (is %v)", got, err, want, tt.wantIs)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the content: %v", err)
			}
		})
	}
}

// A file far larger than the cap is refused after reading no more than
// the cap and a byte: a sparse file of 1 GiB reads in no time that way,
// and its size alone would take ReadFile a gigabyte of memory.
func TestReadHugeFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "huge")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(secret); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Read(p)
	if !errors.Is(err, errTooLarge) || strings.Contains(err.Error(), secret) {
		t.Errorf("Read: %v; want %v", err, errTooLarge)
	}
}

// Read never panics; within the cap it gives the content trimmed, or the
// empty file's error; past it, the cap's. An error never holds the
// content: it is compared whole with what it must be.
func FuzzRead(f *testing.F) {
	for _, s := range []string{"", "\n", secret, " " + secret + "\r\n", "\x00\xff", "\u00a0x\u2003", "\v\f"} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(secret), true)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte, overCap bool) {
		if overCap {
			// Past the cap with the fuzzed bytes at both ends, where a
			// message quoting the start or the end of the file would
			// pick them up.
			content = append(append(append([]byte{}, content...), make([]byte, MaxSize+1)...), content...)
		}
		p, err := os.CreateTemp(dir, "s")
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(p.Name())
		if _, err := p.Write(content); err != nil {
			t.Fatal(err)
		}
		p.Close()
		got, err := Read(p.Name())
		trimmed := strings.TrimSpace(string(content))
		var want string
		switch {
		case len(content) > MaxSize:
			want = p.Name() + ": " + errTooLarge.Error()
		case trimmed == "":
			want = p.Name() + ": " + errEmpty.Error()
		default:
			if err != nil || got != trimmed {
				t.Fatalf("Read = %q, %v; want %q", got, err, trimmed)
			}
			return
		}
		if err == nil || err.Error() != want || got != "" {
			t.Fatalf("Read = %q, %v; want the error %q", got, err, want)
		}
		if len(trimmed) >= 4 && strings.Contains(err.Error(), trimmed) && !strings.Contains(want, trimmed) {
			t.Fatalf("the error shows the content: %v", err)
		}
	})
}

// A secret written where its file's name belongs is not shown whatever
// the open says of it: too long for a name (a bearer token, a JWT), or
// under a regular file (one with a slash, whose start names a file).
// Only a path something is at is shown.
func TestReadDoesNotShowAPathThatNamesNoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	token := "eyJhbGciOiJSUzI1NiJ9." + strings.Repeat("Zq7Vk2", 60)
	for _, tt := range []struct{ name, path, shown string }{
		{"a token too long for a file name", token, "eyJhbGci"},
		{"a path longer than any", strings.Repeat("Zq7Vk2/", 700), "Zq7Vk2"},
		{"under a regular file", file + "/Zq7-s3cret-Vk2", secret},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Read(tt.path)
			if !errors.Is(err, errNoOpen) {
				t.Fatalf("Read: %.120v…; want %v", err, errNoOpen)
			}
			if strings.Contains(err.Error(), tt.shown) {
				t.Errorf("the error shows the path, which may be the secret: %.120s…", err)
			}
		})
	}
}
