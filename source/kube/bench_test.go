package kube

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/source"
)

// Catching up on a container's log through the API, one line a batch:
// go test ./source/kube -run X -bench CatchUp -benchtime 3x
func BenchmarkCatchUp(b *testing.B) {
	const n = 100_000
	srv := kubefake.New(b)
	srv.AddPod(ns, "ou-a", labels, container)
	texts := make([]string, n)
	size := 0
	for i := range texts {
		texts[i] = fmt.Sprintf("[2026-11-23 10:00:00,000][XNIO-1 task-%d] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=u%d,ou=shadow,o=Tremolo - NONE [198.51.100.23] - [f%040d]", i%16, i, i)
		size += len(texts[i]) + len("2026-11-23T10:00:00.123456789Z \n")
	}
	for i := 0; i < n; i += 1000 {
		srv.Log(ns, "ou-a", container, t0.Add(time.Duration(i)*time.Millisecond), texts[i:i+1000]...)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		out := make(chan source.Batch, 4)
		src, err := New(Options{Config: srv.ClientConfig(), Namespace: ns, Selector: selector, Container: container}, out)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			src.Run(ctx)
			close(done)
		}()
		for got := 0; got < n; {
			if bt := <-out; len(bt.Data) > 0 {
				got++
			}
		}
		cancel()
		for {
			select {
			case <-out:
				continue
			case <-done:
			}
			break
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "lines/s")
}
