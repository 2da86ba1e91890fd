package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"testing"

	"github.com/graceguard/graceguard/rules"
)

// Whatever a file that starts like a compressed one holds (a generation
// cut short, a disk's fault, a hand's), scanning it ends in its summary
// and, if it could not be decompressed to its end, a ReadError naming it,
// never a crash; the log's bytes counted are those the decompressor gave.
//
//	go test ./pipeline -run X -fuzz FuzzScanCompressed -fuzztime 1m
func FuzzScanCompressed(f *testing.F) {
	log := []byte("[2026-11-23 10:00:00,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=a,o=T - NONE [192.0.2.1] - [f0]\n" +
		"[2026-11-23 10:00:01,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=a,o=T - NONE [192.0.2.1] - [f0]\n")
	f.Add(gzipped(f, log))
	f.Add(gzipped(f, log[:40], log[40:]))
	f.Add(zstded(f, log))
	if _, err := exec.LookPath("bzip2"); err == nil {
		f.Add(bzipped(f, log))
	}
	f.Add([]byte("\x1f\x8b"))
	f.Add([]byte("BZh9"))
	set := rules.Builtin()
	f.Fuzz(func(t *testing.T, data []byte) {
		// A few bytes of zstd can say megabytes of log: enough to scan,
		// too many to scan at every turn of the fuzzer.
		if len(data) > 2048 {
			return
		}
		sum, err := Scan(context.Background(), []Input{{Name: "f.gz", R: bytes.NewReader(data)}}, ScanOptions{Rules: set, Deliver: (&collected{}).deliver})
		judged := sum.Bytes
		if len(sum.Inputs) != 1 {
			t.Fatalf("inputs %+v: want the one", sum.Inputs)
		}
		in := sum.Inputs[0]
		if err == nil {
			if in.Decompressed && in.CompressedBytes > int64(len(data)) {
				t.Fatalf("read %d bytes of a file of %d", in.CompressedBytes, len(data))
			}
			return
		}
		var re *ReadError
		var de *DecompressError
		if !errors.As(err, &re) || re.Source != "f.gz" || !errors.As(err, &de) || !in.Decompressed {
			t.Fatalf("error %v (input %+v): want a ReadError of f.gz holding a DecompressError", err, in)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("error %v reads as an input that merely ended", err)
		}
		if judged > de.Decompressed || de.Compressed > int64(len(data)) {
			t.Fatalf("judged %d bytes of the %d decompressed from %d of %d", judged, de.Decompressed, de.Compressed, len(data))
		}
	})
}
