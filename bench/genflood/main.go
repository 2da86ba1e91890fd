// Command genflood writes an OpenUnison log in which every line is a refresh
// by a different user, from a different address: the flood that must not
// grow graceguard's memory without bound. With -files N the users are
// spread over N files (one replica's log each), named FILE-00.log, …
//
//	go run ./bench/genflood -users 1000000 -o flood.log
//	go run ./bench/genflood -users 10000 -files 64 -o dir/flood
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	users := flag.Int("users", 1_000_000, "distinct users, one refresh each")
	files := flag.Int("files", 0, "spread the users over `N` files named FILE-00.log, FILE-01.log, …")
	out := flag.String("o", "", "output `FILE` (required)")
	flag.Parse()
	if *out == "" || *users <= 0 || *files < 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: genflood -users N [-files N] -o FILE")
		os.Exit(2)
	}
	names := []string{*out}
	if *files > 0 {
		names = names[:0]
		for i := range *files {
			names = append(names, fmt.Sprintf("%s-%02d.log", *out, i))
		}
	}
	var outs []*os.File
	var ws []*bufio.Writer
	for _, name := range names {
		f, err := os.Create(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genflood:", err)
			os.Exit(1)
		}
		outs, ws = append(outs, f), append(ws, bufio.NewWriterSize(f, 64<<10))
	}
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for i := range *users {
		write(ws[i%len(ws)], start, i)
	}
	for i, w := range ws {
		if err := w.Flush(); err != nil {
			fmt.Fprintln(os.Stderr, "genflood:", err)
			os.Exit(1)
		}
		if err := outs[i].Close(); err != nil {
			fmt.Fprintln(os.Stderr, "genflood:", err)
			os.Exit(1)
		}
	}
}

// write writes user i's refresh, 10 ms after user i-1's.
func write(w io.Writer, start time.Time, i int) {
	at := start.Add(time.Duration(i) * 10 * time.Millisecond).Format("2006-01-02 15:04:05.000")
	fmt.Fprintf(w, "[%s,%s][XNIO-1 task-%d] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=flood%07d,ou=shadow,o=Tremolo - NONE [10.%d.%d.%d] - [f%040d]\n",
		at[:19], at[20:], i%64, i, (i>>16)&255, (i>>8)&255, i&255, i)
}
