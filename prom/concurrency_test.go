package prom

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Updates from many goroutines while others scrape: every update counts,
// and -race sees no unguarded access (children made during a scrape
// included).
func TestConcurrentUpdatesAndScrapes(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	c := NewCounter(Opts{Name: "c_total", Help: "C."})
	g := NewGauge(Opts{Name: "g", Help: "G."})
	cv := NewCounterVec(Opts{Name: "cv_total", Help: "CV."}, []string{"worker", "n"})
	gv := NewGaugeVec(Opts{Name: "gv", Help: "GV."}, []string{"worker"})
	r.MustRegister(c, g, cv, gv, NewGoCollector(), NewProcessCollector())

	const workers, rounds = 4, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var scrapers sync.WaitGroup
	for range 2 {
		scrapers.Add(1)
		go func() {
			defer scrapers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var b strings.Builder
				if err := r.Write(&b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprint(w)
			for i := range rounds {
				c.Inc()
				c.Add(0.5)
				g.Add(1)
				g.Sub(1)
				cv.WithLabelValues(name, fmt.Sprint(i%10)).Inc()
				gv.WithLabelValues(name).Set(float64(i))
				if i%100 == 0 {
					gv.DeleteLabelValues(name)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	scrapers.Wait()

	if got, want := c.Value(), float64(workers*rounds)*1.5; got != want {
		t.Errorf("counter %v, want %v", got, want)
	}
	if got := g.Value(); got != 0 {
		t.Errorf("gauge %v, want 0", got)
	}
	for w := range workers {
		for n := range 10 {
			if got := cv.WithLabelValues(fmt.Sprint(w), fmt.Sprint(n)).Value(); got != rounds/10 {
				t.Errorf("worker %d n %d: %v, want %d", w, n, got, rounds/10)
			}
		}
	}
	if got := strings.Count(exposition(t, r), "\ncv_total{"); got != workers*10 {
		t.Errorf("%d cv_total samples, want %d", got, workers*10)
	}
}
