// Command gofloor does grep -cF's job in Go: it counts the lines of a file
// that hold a fixed string, read() into one buffer, one goroutine. It is a
// yardstick for bench/scan.sh, not part of graceguard: what a Go program
// pays to start and to read a log on this machine before it parses or
// judges anything. A scan slower than grep by more than this program is
// slower by what graceguard itself does; a scan as slow as this program
// would still be as fast as Go lets a reader be.
//
//	go run ./bench/gofloor PATTERN FILE
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] == "" {
		fmt.Fprintln(os.Stderr, "usage: gofloor PATTERN FILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gofloor:", err)
		os.Exit(2)
	}
	n, err := countLines(f, []byte(os.Args[1]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gofloor:", err)
		os.Exit(2)
	}
	fmt.Println(n)
}

// countLines counts the lines of r holding pat, each once however often it
// holds it, as grep -c does. Only whole lines are searched: the unfinished
// one at a read's end is kept for the next. A line longer than the buffer
// is an error; the benchmark's logs have none.
func countLines(r io.Reader, pat []byte) (int, error) {
	buf := make([]byte, 256<<10)
	n, kept := 0, 0
	for {
		m, err := r.Read(buf[kept:])
		if err != nil && err != io.EOF {
			return n, err
		}
		data := buf[:kept+m]
		end := bytes.LastIndexByte(data, '\n') + 1
		if err == io.EOF {
			end = len(data)
		} else if end == 0 && len(data) == len(buf) {
			return n, fmt.Errorf("a line longer than %d bytes", len(buf))
		}
		for chunk := data[:end]; ; {
			i := bytes.Index(chunk, pat)
			if i < 0 {
				break
			}
			n++
			j := bytes.IndexByte(chunk[i:], '\n')
			if j < 0 {
				break
			}
			chunk = chunk[i+j+1:]
		}
		if err == io.EOF {
			return n, nil
		}
		kept = copy(buf, data[end:])
	}
}
