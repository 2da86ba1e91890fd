package prom

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
)

// ContentType is the text exposition format's, as /metrics answers.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ValueType is what a family's samples are, as its # TYPE line says.
type ValueType int

const (
	CounterValue ValueType = iota + 1
	GaugeValue
	summaryValue // the Go collector's GC pauses only: no one else needs quantiles
)

func (t ValueType) String() string {
	switch t {
	case CounterValue:
		return "counter"
	case GaugeValue:
		return "gauge"
	case summaryValue:
		return "summary"
	}
	return "untyped"
}

// A Desc is a family: its name, help, type and label names.
type Desc struct {
	name, help string
	typ        ValueType
	labels     []string
	// byName is the labels' indexes in order of their names: the order
	// the exposition writes them and sorts samples by.
	byName []int
}

// NewDesc describes a family whose samples have the labels named, for a
// Collector to emit. A name or label name Prometheus would refuse panics,
// as does a label named twice.
func NewDesc(name, help string, typ ValueType, labels ...string) *Desc {
	if !validName(name, true) {
		panic(fmt.Sprintf("prom: %q is not a valid metric name", name))
	}
	d := &Desc{name: name, help: help, typ: typ, labels: labels, byName: make([]int, len(labels))}
	for i, l := range labels {
		if !validName(l, false) || len(l) > 1 && l[:2] == "__" || typ == summaryValue && l == "quantile" {
			panic(fmt.Sprintf("prom: %s: %q is not a valid label name", name, l))
		}
		d.byName[i] = i
	}
	slices.SortFunc(d.byName, func(a, b int) int { return cmp.Compare(labels[a], labels[b]) })
	for i := 1; i < len(d.byName); i++ {
		if labels[d.byName[i]] == labels[d.byName[i-1]] {
			panic(fmt.Sprintf("prom: %s: label %q named twice", name, labels[d.byName[i]]))
		}
	}
	return d
}

// validName says whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), or
// a label name (the same without colons).
func validName(s string, metric bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' || metric && c == ':'
		if !ok {
			return false
		}
	}
	return true
}

func (d *Desc) checkLabelValues(values []string) {
	if len(values) != len(d.labels) {
		panic(fmt.Sprintf("prom: %s: inconsistent label cardinality: expected %d label values but got %d in %q",
			d.name, len(d.labels), len(values), values))
	}
}

// A Collector is anything a Registry exposes: the metrics of this package,
// and a program's own collectors of counts read at scrape time.
type Collector interface {
	// Describe is the families the collector emits, every one it may.
	Describe() []*Desc
	// Collect emits the collector's samples, on the scraping goroutine.
	Collect(*Scrape)
}

// A Scrape gathers what the collectors emit, for one exposition.
type Scrape struct {
	reg      *Registry
	families map[*Desc]*family
}

type family struct {
	desc    *Desc
	samples []sample
}

type sample struct {
	labelValues []string
	value       float64
	summary     *summary
}

type summary struct {
	count     uint64
	sum       float64
	quantiles [][2]float64 // quantile, value; in order of quantile
}

// Emit adds a sample of d, a family its collector described, with one
// label value for each of d's labels.
func (s *Scrape) Emit(d *Desc, v float64, labelValues ...string) {
	d.checkLabelValues(labelValues)
	s.emit(d, v, append([]string(nil), validUTF8(labelValues)...))
}

// emit is Emit for label values that will not change before the
// exposition is written.
func (s *Scrape) emit(d *Desc, v float64, labelValues []string) {
	f := s.family(d)
	f.samples = append(f.samples, sample{labelValues: labelValues, value: v})
}

func (s *Scrape) family(d *Desc) *family {
	f := s.families[d]
	if f == nil {
		if s.reg.descs[d.name] != d {
			panic(fmt.Sprintf("prom: %s collected but not described by a registered collector", d.name))
		}
		f = &family{desc: d}
		s.families[d] = f
	}
	return f
}

// A Registry is the collectors one /metrics exposes. There is no default
// one: each command makes its own, so a test's never meets another's.
type Registry struct {
	mu         sync.RWMutex
	collectors []Collector
	descs      map[string]*Desc
}

// NewRegistry makes an empty registry.
func NewRegistry() *Registry { return &Registry{descs: map[string]*Desc{}} }

// MustRegister adds collectors. A family name already registered panics,
// registered by the same collector or not: two families of one name would
// be one to Prometheus.
func (r *Registry) MustRegister(cs ...Collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		ds := c.Describe()
		for i, d := range ds {
			if r.descs[d.name] != nil || slices.ContainsFunc(ds[:i], func(e *Desc) bool { return e.name == d.name }) {
				panic(fmt.Sprintf("prom: %s registered twice", d.name))
			}
		}
		for _, d := range ds {
			r.descs[d.name] = d
		}
		r.collectors = append(r.collectors, c)
	}
}

// Write writes the exposition of every registered collector in the text
// format. Two samples of one family with the same label values are an
// error, and then nothing is written.
func (r *Registry) Write(w io.Writer) error {
	b, err := r.appendText(nil)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Handler serves the exposition, as /metrics: uncompressed, and with the
// format's Content-Type alone (promhttp adds gzip and an escaping
// parameter; Prometheus reads either).
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b, err := r.appendText(nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
}

// collect runs every collector for one scrape. The lock is released even
// when a collector panics (a family it did not describe, a wrong label
// count): net/http recovers from the panic, and a lock left held would
// block every later scrape and registration.
func (r *Registry) collect() *Scrape {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := &Scrape{reg: r, families: make(map[*Desc]*family, len(r.descs))}
	for _, c := range r.collectors {
		c.Collect(s)
	}
	return s
}

func (r *Registry) appendText(b []byte) ([]byte, error) {
	s := r.collect()
	fams := make([]*family, 0, len(s.families))
	for _, f := range s.families {
		fams = append(fams, f)
	}
	slices.SortFunc(fams, func(a, b *family) int { return cmp.Compare(a.desc.name, b.desc.name) })
	for _, f := range fams {
		d := f.desc
		slices.SortFunc(f.samples, func(a, b sample) int { return d.compare(a.labelValues, b.labelValues) })
		for i := 1; i < len(f.samples); i++ {
			if d.compare(f.samples[i-1].labelValues, f.samples[i].labelValues) == 0 {
				return nil, fmt.Errorf("prom: %s collected twice with label values %q", d.name, f.samples[i].labelValues)
			}
		}
		b = append(b, "# HELP "...)
		b = append(b, d.name...)
		b = append(b, ' ')
		b = appendEscaped(b, d.help, false)
		b = append(b, "\n# TYPE "...)
		b = append(b, d.name...)
		b = append(b, ' ')
		b = append(b, d.typ.String()...)
		b = append(b, '\n')
		for _, smp := range f.samples {
			if smp.summary == nil {
				b = d.appendSample(b, "", smp.labelValues, "", smp.value)
				continue
			}
			for _, q := range smp.summary.quantiles {
				b = d.appendSample(b, "", smp.labelValues, string(appendFloat(nil, q[0])), q[1])
			}
			b = d.appendSample(b, "_sum", smp.labelValues, "", smp.summary.sum)
			b = d.appendSample(b, "_count", smp.labelValues, "", float64(smp.summary.count))
		}
	}
	return b, nil
}

// compare orders two samples' label values as client_golang does: by
// value, label by label in order of the labels' names.
func (d *Desc) compare(a, b []string) int {
	for _, i := range d.byName {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// appendSample appends one line: the name and suffix, the labels in order
// of their names (a summary's quantile last), and the value.
func (d *Desc) appendSample(b []byte, suffix string, labelValues []string, quantile string, v float64) []byte {
	b = append(b, d.name...)
	b = append(b, suffix...)
	if len(labelValues) > 0 || quantile != "" {
		b = append(b, '{')
		for n, i := range d.byName {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, d.labels[i]...)
			b = append(b, `="`...)
			b = appendEscaped(b, labelValues[i], true)
			b = append(b, '"')
		}
		if quantile != "" {
			if len(labelValues) > 0 {
				b = append(b, ',')
			}
			b = append(b, `quantile="`...)
			b = append(b, quantile...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	return append(b, '\n')
}

// appendEscaped escapes a help text (backslash and newline) or, quoted, a
// label value (and the double quote): the format's only escapes, so every
// other byte goes out as it is (label values are valid UTF-8 by then:
// validUTF8).
func appendEscaped(b []byte, s string, quoted bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quoted:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats as expfmt does: the shortest 'g' form (so 1e+06, not
// 1000000), and +Inf, -Inf and NaN.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, '1')
	case f == 0:
		return append(b, '0')
	case f == -1:
		return append(b, "-1"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
