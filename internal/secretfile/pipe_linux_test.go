package secretfile

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A pipe is what a shell's process substitution (--password-file
// <(pass show redis)) and /dev/stdin from a pipe name: read until its
// writer closes it, within pipeWait, and refused without its content when
// the writer keeps it open. Regular files only, until this, refused both.
// Not parallel: it shortens pipeWait.
func TestReadAPipe(t *testing.T) {
	defer func(was time.Duration) { pipeWait = was }(pipeWait)
	pipeWait = 200 * time.Millisecond
	for _, tt := range []struct {
		name    string
		write   string
		close   bool
		want    string
		wantErr string
		wantIs  error
	}{
		{name: "process substitution", write: " " + secret + "\n", close: true, want: secret},
		{name: "nothing written", close: true, wantErr: ": file is empty", wantIs: errEmpty},
		{name: "writer keeps it open", write: secret + "\n", wantErr: ": the pipe's writer did not close it within 200ms", wantIs: errPipeOpen},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			if _, err := w.WriteString(tt.write); err != nil {
				t.Fatal(err)
			}
			if tt.close {
				w.Close()
			}
			// What bash hands the command for <(…): the pipe by its
			// descriptor's name, opened anew.
			path := "/dev/fd/" + strconv.Itoa(int(r.Fd()))
			got, err := Read(path)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Read = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != path+tt.wantErr || !errors.Is(err, tt.wantIs) || got != "" {
				t.Fatalf("Read = %q, %v; want the error %q", got, err, path+tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the content: %v", err)
			}
		})
	}
}
