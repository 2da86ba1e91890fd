// Command genreplays writes an OpenUnison log of token replays for the
// torture benchmark (bench/torture-alerts.sh): each replay is a refresh from
// the user's home address and a grace reuse of the rotated token from
// another, three lines, one user per replay, so every replay must raise
// exactly one reuse-ip-mismatch alert. It writes -rate lines a second for
// -for, renames the file away every -rotate as logrotate does (app.log.N to
// app.log.N+1, then app.log to app.log.1: .1 is the newest; all kept) and
// prints the number of replays written.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	out := flag.String("o", "app.log", "log file")
	rate := flag.Int("rate", 5000, "lines per second")
	rotate := flag.Duration("rotate", 2*time.Second, "rename the file away this often (0: never)")
	dur := flag.Duration("for", 60*time.Second, "how long to write")
	flag.Parse()
	if err := run(*out, *rate, *rotate, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "genreplays:", err)
		os.Exit(1)
	}
}

func run(path string, rate int, rotate, dur time.Duration) error {
	open := func() (*os.File, *bufio.Writer, error) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		return f, bufio.NewWriter(f), err
	}
	f, w, err := open()
	if err != nil {
		return err
	}
	const tick = 10 * time.Millisecond
	perTick := max(rate*int(tick/time.Millisecond)/1000/3, 1) // replays per tick
	start := time.Now()
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	lastRotate, generation, n := start, 0, 0
	for t := time.NewTicker(tick); time.Since(start) < dur; <-t.C {
		for range perTick {
			writeReplay(w, n, base.Add(time.Duration(n)*time.Millisecond))
			n++
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if rotate > 0 && time.Since(lastRotate) >= rotate {
			f.Close()
			generation++
			// Shifted as logrotate does, so a follower reads .1 as the
			// newest generation (numbering them the other way round made
			// the torture's rotation runs lose the generations between).
			for i := generation - 1; i >= 1; i-- {
				if err := os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1)); err != nil {
					return err
				}
			}
			if err := os.Rename(path, path+".1"); err != nil {
				return err
			}
			if f, w, err = open(); err != nil {
				return err
			}
			lastRotate = time.Now()
		}
	}
	f.Close()
	fmt.Println(n)
	return nil
}

func writeReplay(w *bufio.Writer, n int, at time.Time) {
	const url = "https://k8sou.example.com/auth/idp/k8sIdp/token"
	dn := fmt.Sprintf("uid=r%d,ou=shadow,o=Tremolo", n)
	ts := func(t time.Time) string { return t.Format("2006-01-02 15:04:05,000") }
	fmt.Fprintf(w, "[%s][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [198.51.100.23] - [h%039d]\n", ts(at), url, dn, n)
	fmt.Fprintf(w, "[%s][XNIO-1 task-2] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [192.0.2.66] - [s%039d]\n", ts(at), url, dn, n)
	fmt.Fprintf(w, "[%s][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [192.0.2.66] - [s%039d]\n", ts(at), url, dn, n)
}
