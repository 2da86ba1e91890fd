// Command gentorture writes an OpenUnison log at a steady rate and rotates
// it as logrotate would (rename, or copytruncate), for the torture run of
// bench/torture.sh. Every line is a refresh with its own session id (the
// line's number), by one of a thousand users, so whoever reads the log can
// tell which lines it saw while the history stays small. It prints the number
// of lines written when done.
//
//	go run ./bench/gentorture -o app.log -rate 5000 -rotate 2s -for 60s
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	out := flag.String("o", "", "the log `FILE` (required)")
	rate := flag.Int("rate", 5000, "lines a second")
	every := flag.Duration("rotate", 2*time.Second, "rotate this often")
	dur := flag.Duration("for", 60*time.Second, "write for this long")
	keep := flag.Int("keep", 10, "rotated generations kept (name.1 … name.N)")
	copyTruncate := flag.Bool("copytruncate", false, "rotate by copy and truncate instead of rename")
	flag.Parse()
	if *out == "" || *rate <= 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: gentorture -o FILE [-rate N] [-rotate D] [-for D] [-keep N] [-copytruncate]")
		os.Exit(2)
	}
	n, err := run(*out, *rate, *every, *dur, *keep, *copyTruncate)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentorture:", err)
		os.Exit(1)
	}
	fmt.Println(n)
}

// run writes in ticks of 10 ms, so the rate holds without a sleep a line.
func run(path string, rate int, every, dur time.Duration, keep int, copyTruncate bool) (int, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	start := time.Now()
	logStart := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	n, lastRotate := 0, start
	for now := range tick.C {
		if now.Sub(start) >= dur {
			// A last line an hour later in the log's time: what waits to be
			// paired within a window is judged once the log moves past it.
			at := logStart.Add(time.Duration(n)*time.Second/time.Duration(rate) + time.Hour).Format("2006-01-02 15:04:05.000")
			fmt.Fprintf(w, "[%s,%s][main] INFO  Startup - torture over\n", at[:19], at[20:])
			if err := w.Flush(); err != nil {
				return n, err
			}
			break
		}
		want := int(now.Sub(start).Seconds() * float64(rate))
		for ; n < want; n++ {
			at := logStart.Add(time.Duration(n) * time.Second / time.Duration(rate)).Format("2006-01-02 15:04:05.000")
			fmt.Fprintf(w, "[%s,%s][XNIO-1 task-%d] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=t%04d,ou=shadow,o=Tremolo - NONE [198.51.100.%d] - [f%040d]\n",
				at[:19], at[20:], n%64, n%1000, n%250+1, n)
		}
		if err := w.Flush(); err != nil {
			return n, err
		}
		if now.Sub(lastRotate) >= every {
			lastRotate = now
			if f, err = rotate(f, path, keep, copyTruncate); err != nil {
				return n, err
			}
			w.Reset(f)
		}
	}
	return n, f.Close()
}

// rotate shifts name.N to name.N+1 (dropping the oldest), then renames the
// file to name.1 and reopens it, or copies it there and truncates it.
func rotate(f *os.File, path string, keep int, copyTruncate bool) (*os.File, error) {
	os.Remove(fmt.Sprintf("%s.%d", path, keep))
	for i := keep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1))
	}
	if copyTruncate {
		data, err := os.ReadFile(path)
		if err != nil {
			return f, err
		}
		if err := os.WriteFile(path+".1", data, 0o644); err != nil {
			return f, err
		}
		return f, os.Truncate(path, 0)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		return f, err
	}
	f.Close()
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}
