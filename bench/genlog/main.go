// Command genlog writes a synthetic OpenUnison log for benchmarks and tests:
//
//	go run ./bench/genlog -size 100MB -seed 1 -o FILE
//
// The same flags always give the same bytes. What it wrote (lines, token
// lines, grace reuses, races, replays, failures) goes to stderr, and as JSON
// to -stats FILE, so a benchmark can check a scanner's counts against it.
// With -proxy the JSON is {"proxy": the proxy log's counts, "openunison":
// the OpenUnison log's, when -ou wrote one}.
//
// Sizes follow coreutils: KB, MB, GB are powers of 1000; K, M, G and KiB,
// MiB, GiB are powers of 1024; a bare number is bytes.
//
// Exit status: 0 on success, 1 when writing fails, 2 for bad flags.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/graceguard/graceguard/internal/loggen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("genlog", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		size      = fs.String("size", "100MB", "bytes to write: 512KiB, 100MB, 1GB, …")
		seed      = fs.Int64("seed", 1, "seed; equal flags give equal bytes")
		out       = fs.String("o", "", "output file, or - for stdout (required)")
		statsFile = fs.String("stats", "", "also write the counts as JSON to this file")
		users     = fs.Int("users", 0, "distinct users (default 500)")
		share     = fs.Float64("token-share", 0, "share of lines on the token endpoint (default 0.03)")
		start     = fs.String("start", "", "first timestamp, RFC 3339 (default 2026-11-23T00:00:00Z)")
		proxy     = fs.String("proxy", "", "write a proxy pod's access log in this format to -o instead: "+proxyFormats()+"; -size is then about its size")
		ouOut     = fs.String("ou", "", "with -proxy: also write OpenUnison's log behind the proxy to this file")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "genlog: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	if *out == "" {
		return usage("-o FILE is required (- for stdout)")
	}
	n, err := parseSize(*size)
	if err != nil {
		return usage("-size: %v", err)
	}
	cfg := loggen.Config{Size: n, Seed: *seed, Users: *users, TokenShare: *share}
	if *start != "" {
		if cfg.Start, err = time.Parse(time.RFC3339, *start); err != nil {
			return usage("-start: %v", err)
		}
	}

	if err := cfg.Validate(); err != nil {
		return usage("%v", err)
	}
	if *proxy != "" {
		return runProxy(loggen.ProxyFormat(*proxy), cfg, *out, *ouOut, *statsFile, stdout, stderr)
	}
	if *ouOut != "" {
		return usage("-ou needs -proxy")
	}

	w := stdout
	var f *os.File
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintln(stderr, "genlog:", err)
			return 1
		}
		w = f
	}
	began := time.Now()
	st, err := loggen.Write(w, cfg)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			// A truncated log would be cached and measured as if whole.
			os.Remove(*out)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "genlog:", err)
		return 1
	}
	took := time.Since(began)
	fmt.Fprintf(stderr, "genlog: %d bytes, %d lines (%.0f B/line), %d token lines (%.2f%%), %d grace reuses (%d races, %d replays), %d failures, in %v (%.0f MB/s)\n",
		st.Bytes, st.Lines, float64(st.Bytes)/float64(st.Lines), st.TokenLines, 100*float64(st.TokenLines)/float64(st.Lines),
		st.GraceReuses, st.Races, st.Replays, st.Failures, took.Round(time.Millisecond), float64(st.Bytes)/took.Seconds()/1e6)
	return writeStats(*statsFile, st, stderr)
}

// writeStats writes v as JSON to the file name, if any; its exit status.
func writeStats(name string, v any, stderr io.Writer) int {
	if name == "" {
		return 0
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(stderr, "genlog:", err)
		return 1
	}
	return 0
}

// proxyStats is -stats with -proxy: the proxy log's counts, and the
// OpenUnison log's when -ou wrote one.
type proxyStats struct {
	Proxy      loggen.ProxyStats `json:"proxy"`
	OpenUnison *loggen.Stats     `json:"openunison,omitempty"`
}

// units maps a size suffix (lower case) to its multiplier, as coreutils
// reads them.
var units = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseSize reads a byte count such as 100MB, 1GB, 512KiB or 1.5GB.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := units[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size (try 512KiB, 100MB, 1GB)", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (try 512KiB, 100MB, 1GB)", s)
	}
	bytes := math.Round(v * mult)
	if bytes < 1 || bytes > 1<<50 {
		return 0, fmt.Errorf("%q is out of range (1 byte to 1 PiB)", s)
	}
	return int64(bytes), nil
}

func proxyFormats() string {
	var names []string
	for _, f := range loggen.ProxyFormats() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// runProxy writes one proxy pod's access log (about cfg.Size bytes) to out
// and, if ouOut is set, the OpenUnison log behind it; the counts go to
// statsFile, if set.
func runProxy(f loggen.ProxyFormat, cfg loggen.Config, out, ouOut, statsFile string, stdout, stderr io.Writer) int {
	known := false
	for _, k := range loggen.ProxyFormats() {
		known = known || k == f
	}
	if !known {
		fmt.Fprintf(stderr, "genlog: -proxy: %q is none of %s\n", f, proxyFormats())
		return 2
	}
	// A proxy's log holds about 2.1 (nginx) to 2.7 (JSON) bytes per byte
	// of OpenUnison's; the log comes out within some 10% of -size.
	ratio := 2.1
	switch f {
	case loggen.ProxyNginxJSON, loggen.ProxyEnvoyGateway, loggen.ProxyTraefikJSON:
		ratio = 2.7
	}
	cfg.Size = max(int64(float64(cfg.Size)/ratio), 1)
	create := func(name string) (io.Writer, func() error, error) {
		if name == "-" {
			return stdout, func() error { return nil }, nil
		}
		fh, err := os.Create(name)
		if err != nil {
			return nil, nil, err
		}
		return fh, fh.Close, nil
	}
	pw, pclose, err := create(out)
	if err != nil {
		fmt.Fprintln(stderr, "genlog:", err)
		return 1
	}
	ow, oclose := io.Discard, func() error { return nil }
	if ouOut != "" {
		if ow, oclose, err = create(ouOut); err != nil {
			fmt.Fprintln(stderr, "genlog:", err)
			return 1
		}
	}
	st, ps, err := loggen.WritePaired([]io.Writer{ow}, cfg, loggen.Proxy{Format: f, Writers: []io.Writer{pw}})
	for _, c := range []func() error{pclose, oclose} {
		if cerr := c(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.Remove(out)
		fmt.Fprintln(stderr, "genlog:", err)
		return 1
	}
	fmt.Fprintf(stderr, "genlog: %s: %d bytes, %d lines, %d token requests (%.2f%%); OpenUnison: %d bytes, %d token lines\n",
		f, ps.Bytes, ps.Lines, ps.TokenRecords, 100*float64(ps.TokenRecords)/float64(ps.Lines), st.Bytes, st.TokenLines)
	stats := proxyStats{Proxy: ps}
	if ouOut != "" {
		stats.OpenUnison = &st
	}
	return writeStats(statsFile, stats, stderr)
}
