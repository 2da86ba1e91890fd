// Command genflood writes an OpenUnison log in which every line is a refresh
// by a different user, from a different address: the flood that must not
// grow graceguard's memory without bound.
//
//	go run ./bench/genflood -users 1000000 -o flood.log
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	users := flag.Int("users", 1_000_000, "distinct users, one refresh each")
	out := flag.String("o", "", "output `FILE` (required)")
	flag.Parse()
	if *out == "" || *users <= 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: genflood -users N -o FILE")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genflood:", err)
		os.Exit(1)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for i := range *users {
		at := start.Add(time.Duration(i) * 10 * time.Millisecond).Format("2006-01-02 15:04:05.000")
		fmt.Fprintf(w, "[%s,%s][XNIO-1 task-%d] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=flood%07d,ou=shadow,o=Tremolo - NONE [10.%d.%d.%d] - [f%040d]\n",
			at[:19], at[20:], i%64, i, (i>>16)&255, (i>>8)&255, i&255, i)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genflood:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "genflood:", err)
		os.Exit(1)
	}
}
