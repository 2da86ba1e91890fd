// Package prom owns graceguard's metrics: counters and gauges, their label
// vectors and read-at-scrape functions, the collectors that read the Go
// runtime and the process, a Registry, and the Prometheus text exposition
// format 0.0.4 that /metrics serves.
//
// It replaces prometheus/client_golang, whose dependencies (protobuf,
// procfs, expfmt, runtime/metrics' tables) cost every graceguard process,
// scan included, milliseconds of initialisation it never used. So it must
// not grow them back: no protobuf or OpenMetrics, no content negotiation,
// no global default registry, and no work at init time (a Desc is made when
// a metric is, never by the package being linked in).
//
// Its output is client_golang's, byte for byte, for the metrics graceguard
// has (pipeline's TestMetricsExposition holds it to that): families sorted
// by name, each with # HELP and # TYPE, samples sorted by label values,
// labels in order of their names, floats as expfmt formats them.
package prom

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Opts name and describe a metric.
type Opts struct {
	Name, Help string
}

// value is a float64 updated atomically.
type value struct{ bits atomic.Uint64 }

// Value is the metric's value now.
func (v *value) Value() float64 { return math.Float64frombits(v.bits.Load()) }

func (v *value) set(f float64) { v.bits.Store(math.Float64bits(f)) }

func (v *value) add(d float64) {
	for {
		old := v.bits.Load()
		if v.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// A Counter only goes up. It is safe for concurrent use.
type Counter struct {
	value
	desc        *Desc
	labelValues []string // a vector's child's; nil for a lone counter
}

// NewCounter makes a counter; register it to expose it.
func NewCounter(o Opts) *Counter { return &Counter{desc: NewDesc(o.Name, o.Help, CounterValue)} }

// Inc adds 1.
func (c *Counter) Inc() { c.add(1) }

// Add adds d, which must not be negative: a counter that went down would
// read as a restart to Prometheus' rate().
func (c *Counter) Add(d float64) {
	if d < 0 {
		panic("prom: counter cannot decrease in value")
	}
	c.add(d)
}

// Describe is the counter's family.
func (c *Counter) Describe() []*Desc { return []*Desc{c.desc} }

// Collect reads the counter, at a scrape.
func (c *Counter) Collect(s *Scrape) { s.emit(c.desc, c.Value(), c.labelValues) }

// A Gauge goes up and down. It is safe for concurrent use.
type Gauge struct {
	value
	desc        *Desc
	labelValues []string
}

// NewGauge makes a gauge; register it to expose it.
func NewGauge(o Opts) *Gauge { return &Gauge{desc: NewDesc(o.Name, o.Help, GaugeValue)} }

// Set sets the gauge to f.
func (g *Gauge) Set(f float64) { g.set(f) }

// Inc adds 1.
func (g *Gauge) Inc() { g.add(1) }

// Dec takes 1 away.
func (g *Gauge) Dec() { g.add(-1) }

// Add adds d.
func (g *Gauge) Add(d float64) { g.add(d) }

// Sub takes d away.
func (g *Gauge) Sub(d float64) { g.add(-d) }

// Describe is the gauge's family.
func (g *Gauge) Describe() []*Desc { return []*Desc{g.desc} }

// Collect reads the gauge, at a scrape.
func (g *Gauge) Collect(s *Scrape) { s.emit(g.desc, g.Value(), g.labelValues) }

// vec holds a family's children, one per combination of label values, made
// on first use.
type vec[M any] struct {
	desc     *Desc
	newChild func(labelValues []string) *M
	mu       sync.RWMutex
	children map[string]*M
}

// key is the children map's key for label values: the value itself for
// one label (the common case, looked up without allocating), else each
// value after its length, so no two lists of values share a key whatever
// bytes they hold.
func key(labelValues []string) string {
	if len(labelValues) == 1 {
		return labelValues[0]
	}
	n := 0
	for _, v := range labelValues {
		n += len(v) + 4
	}
	b := make([]byte, 0, n)
	for _, v := range labelValues {
		b = append(b, byte(len(v)>>24), byte(len(v)>>16), byte(len(v)>>8), byte(len(v)))
		b = append(b, v...)
	}
	return string(b)
}

func (v *vec[M]) with(labelValues []string) *M {
	v.desc.checkLabelValues(labelValues)
	labelValues = validUTF8(labelValues)
	k := key(labelValues)
	v.mu.RLock()
	m := v.children[k]
	v.mu.RUnlock()
	if m != nil {
		return m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if m = v.children[k]; m == nil {
		m = v.newChild(append([]string(nil), labelValues...))
		v.children[k] = m
	}
	return m
}

// delete forgets the child with these label values, as with() made it
// (invalid UTF-8 replaced): two values that differ only in invalid bytes
// share a child, so forgetting one forgets both until the other is used
// again.
func (v *vec[M]) delete(labelValues []string) bool {
	if len(labelValues) != len(v.desc.labels) {
		return false
	}
	k := key(validUTF8(labelValues))
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.children[k]
	delete(v.children, k)
	return ok
}

func (v *vec[M]) each(f func(*M)) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, m := range v.children {
		f(m)
	}
}

func (v *vec[M]) Describe() []*Desc { return []*Desc{v.desc} }

// A CounterVec is a family of counters told apart by label values.
type CounterVec struct{ vec[Counter] }

// NewCounterVec makes a counter family with the labels named; register it
// to expose it. Until a child is made it exposes nothing.
func NewCounterVec(o Opts, labels []string) *CounterVec {
	d := NewDesc(o.Name, o.Help, CounterValue, labels...)
	return &CounterVec{vec[Counter]{desc: d, children: map[string]*Counter{},
		newChild: func(lv []string) *Counter { return &Counter{desc: d, labelValues: lv} }}}
}

// WithLabelValues is the child counter with these label values, one per
// label in the order they were named, made on first use. A wrong number
// of values panics.
func (v *CounterVec) WithLabelValues(labelValues ...string) *Counter { return v.with(labelValues) }

// DeleteLabelValues forgets a child, and says whether there was one.
func (v *CounterVec) DeleteLabelValues(labelValues ...string) bool { return v.delete(labelValues) }

func (v *CounterVec) Collect(s *Scrape) { v.each(func(c *Counter) { c.Collect(s) }) }

// A GaugeVec is a family of gauges told apart by label values.
type GaugeVec struct{ vec[Gauge] }

// NewGaugeVec makes a gauge family with the labels named; register it to
// expose it. Until a child is made it exposes nothing.
func NewGaugeVec(o Opts, labels []string) *GaugeVec {
	d := NewDesc(o.Name, o.Help, GaugeValue, labels...)
	return &GaugeVec{vec[Gauge]{desc: d, children: map[string]*Gauge{},
		newChild: func(lv []string) *Gauge { return &Gauge{desc: d, labelValues: lv} }}}
}

// WithLabelValues is the child gauge with these label values (see
// CounterVec.WithLabelValues).
func (v *GaugeVec) WithLabelValues(labelValues ...string) *Gauge { return v.with(labelValues) }

// DeleteLabelValues forgets a child, and says whether there was one.
func (v *GaugeVec) DeleteLabelValues(labelValues ...string) bool { return v.delete(labelValues) }

func (v *GaugeVec) Collect(s *Scrape) { v.each(func(g *Gauge) { g.Collect(s) }) }

// A FuncMetric is read by calling a function at each scrape, for counts
// another part of the program keeps.
type FuncMetric struct {
	desc *Desc
	read func() float64
}

// Describe is the metric's family.
func (f *FuncMetric) Describe() []*Desc { return []*Desc{f.desc} }

// Collect reads the metric, at a scrape.
func (f *FuncMetric) Collect(s *Scrape) { s.emit(f.desc, f.read(), nil) }

// NewCounterFunc is a counter whose value read returns at each scrape; read
// must be safe to call from the scraping goroutine, and never go down.
func NewCounterFunc(o Opts, read func() float64) *FuncMetric {
	return &FuncMetric{NewDesc(o.Name, o.Help, CounterValue), read}
}

// NewGaugeFunc is a gauge whose value read returns at each scrape; read
// must be safe to call from the scraping goroutine.
func NewGaugeFunc(o Opts, read func() float64) *FuncMetric {
	return &FuncMetric{NewDesc(o.Name, o.Help, GaugeValue), read}
}

// validUTF8 is labelValues with every invalid UTF-8 sequence replaced by
// U+FFFD (a copy where one is). Label values are often file names, which
// Linux lets hold any bytes, and Prometheus refuses a whole scrape over a
// label value that is not UTF-8 (client_golang panicked instead). Values
// that differ only in their invalid bytes become one series.
func validUTF8(labelValues []string) []string {
	for i, v := range labelValues {
		if utf8.ValidString(v) {
			continue
		}
		valid := append([]string(nil), labelValues...)
		for j := i; j < len(valid); j++ {
			valid[j] = strings.ToValidUTF8(valid[j], string(utf8.RuneError))
		}
		return valid
	}
	return labelValues
}
