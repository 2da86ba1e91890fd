package prom

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"
)

func exposition(t testing.TB, reg *Registry) string {
	t.Helper()
	var b strings.Builder
	if err := reg.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// collectorFunc is a custom collector made of two functions.
type collectorFunc struct {
	descs   []*Desc
	collect func(*Scrape)
}

func (c collectorFunc) Describe() []*Desc { return c.descs }
func (c collectorFunc) Collect(s *Scrape) { c.collect(s) }

func TestExposition(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		register func(*Registry)
		want     string
	}{
		{"counter and gauge", func(r *Registry) {
			c := NewCounter(Opts{Name: "c_total", Help: "A counter."})
			c.Inc()
			c.Add(2.5)
			g := NewGauge(Opts{Name: "g", Help: "A gauge."})
			g.Set(10)
			g.Inc()
			g.Dec()
			g.Dec()
			g.Add(0.5)
			g.Sub(2)
			r.MustRegister(c, g)
		}, "# HELP c_total A counter.\n# TYPE c_total counter\nc_total 3.5\n" +
			"# HELP g A gauge.\n# TYPE g gauge\ng 7.5\n"},

		{"families sorted by name, whatever the order registered", func(r *Registry) {
			r.MustRegister(NewGauge(Opts{Name: "b", Help: "B."}), NewGauge(Opts{Name: "a_total", Help: "A."}), NewGauge(Opts{Name: "a", Help: "A."}))
		}, "# HELP a A.\n# TYPE a gauge\na 0\n# HELP a_total A.\n# TYPE a_total gauge\na_total 0\n# HELP b B.\n# TYPE b gauge\nb 0\n"},

		{"help escaped: backslash and newline, not quotes", func(r *Registry) {
			r.MustRegister(NewGauge(Opts{Name: "g", Help: "a \\ b\nc \"d\""}))
		}, "# HELP g a \\\\ b\\nc \"d\"\n# TYPE g gauge\ng 0\n"},

		{"empty help", func(r *Registry) {
			r.MustRegister(NewGauge(Opts{Name: "g"}))
		}, "# HELP g \n# TYPE g gauge\ng 0\n"},

		{"label values escaped: backslash, quote, newline", func(r *Registry) {
			v := NewCounterVec(Opts{Name: "c_total", Help: "C."}, []string{"l"})
			v.WithLabelValues("a\\b\"c\nd\te").Inc()
			r.MustRegister(v)
		}, "# HELP c_total C.\n# TYPE c_total counter\nc_total{l=\"a\\\\b\\\"c\\nd\te\"} 1\n"},

		{"labels in order of their names, samples sorted by their values in that order", func(r *Registry) {
			v := NewGaugeVec(Opts{Name: "g", Help: "G."}, []string{"z", "a"})
			v.WithLabelValues("1", "y").Set(1)
			v.WithLabelValues("2", "x").Set(2)
			v.WithLabelValues("0", "y").Set(3)
			v.WithLabelValues("", "x").Set(4)
			r.MustRegister(v)
		}, "# HELP g G.\n# TYPE g gauge\n" +
			"g{a=\"x\",z=\"\"} 4\ng{a=\"x\",z=\"2\"} 2\ng{a=\"y\",z=\"0\"} 3\ng{a=\"y\",z=\"1\"} 1\n"},

		{"floats as expfmt writes them", func(r *Registry) {
			v := NewGaugeVec(Opts{Name: "g", Help: "G."}, []string{"v"})
			for name, f := range map[string]float64{
				"a zero": 0, "b negative zero": math.Copysign(0, -1), "c one": 1, "d minus one": -1, "e tenth": 0.1,
				"f million": 1e6, "g 123456": 123456, "h nine digits": 123456789, "i tiny": 1e-7, "j 0.0001": 0.0001,
				"k NaN": math.NaN(), "l +Inf": math.Inf(1), "m -Inf": math.Inf(-1), "n 2^53": 1 << 53, "o max": math.MaxFloat64,
			} {
				v.WithLabelValues(name).Set(f)
			}
			r.MustRegister(v)
		}, "# HELP g G.\n# TYPE g gauge\n" +
			"g{v=\"a zero\"} 0\ng{v=\"b negative zero\"} 0\ng{v=\"c one\"} 1\ng{v=\"d minus one\"} -1\n" +
			"g{v=\"e tenth\"} 0.1\ng{v=\"f million\"} 1e+06\ng{v=\"g 123456\"} 123456\ng{v=\"h nine digits\"} 1.23456789e+08\n" +
			"g{v=\"i tiny\"} 1e-07\ng{v=\"j 0.0001\"} 0.0001\ng{v=\"k NaN\"} NaN\ng{v=\"l +Inf\"} +Inf\ng{v=\"m -Inf\"} -Inf\n" +
			"g{v=\"n 2^53\"} 9.007199254740992e+15\ng{v=\"o max\"} 1.7976931348623157e+308\n"},

		{"a vector with no children writes nothing, not even HELP", func(r *Registry) {
			r.MustRegister(NewCounterVec(Opts{Name: "c_total", Help: "C."}, []string{"l"}), NewGaugeVec(Opts{Name: "g", Help: "G."}, []string{"l"}))
		}, ""},

		{"a deleted child is gone", func(r *Registry) {
			v := NewGaugeVec(Opts{Name: "g", Help: "G."}, []string{"a", "b"})
			v.WithLabelValues("x", "1").Set(1)
			v.WithLabelValues("x", "2").Set(2)
			if !v.DeleteLabelValues("x", "1") || v.DeleteLabelValues("x", "1") || v.DeleteLabelValues("x") {
				panic("DeleteLabelValues said wrong")
			}
			r.MustRegister(v)
		}, "# HELP g G.\n# TYPE g gauge\ng{a=\"x\",b=\"2\"} 2\n"},

		{"func metrics read at scrape", func(r *Registry) {
			n := 41.0
			r.MustRegister(NewCounterFunc(Opts{Name: "f_total", Help: "F."}, func() float64 { n++; return n }),
				NewGaugeFunc(Opts{Name: "g", Help: "G."}, func() float64 { return -2 }))
		}, "# HELP f_total F.\n# TYPE f_total counter\nf_total 42\n# HELP g G.\n# TYPE g gauge\ng -2\n"},

		{"custom collector", func(r *Registry) {
			up := NewDesc("up", "Up.", GaugeValue)
			ev := NewDesc("evicted_total", "Evicted, by what.", CounterValue, "what")
			quiet := NewDesc("quiet", "Emits nothing.", GaugeValue)
			r.MustRegister(collectorFunc{[]*Desc{up, ev, quiet}, func(s *Scrape) {
				s.Emit(up, 1)
				buf := []string{"users"}
				s.Emit(ev, 3, buf...)
				buf[0] = "addresses" // Emit copied the values
				s.Emit(ev, 2, buf...)
			}})
		}, "# HELP evicted_total Evicted, by what.\n# TYPE evicted_total counter\n" +
			"evicted_total{what=\"addresses\"} 2\nevicted_total{what=\"users\"} 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n"},

		{"summary: quantiles with their label last, then _sum and _count", func(r *Registry) {
			d := NewDesc("pause_seconds", "Pauses.", summaryValue, "b", "a")
			r.MustRegister(collectorFunc{[]*Desc{d}, func(s *Scrape) {
				f := s.family(d)
				f.samples = append(f.samples, sample{labelValues: []string{"2", "1"},
					summary: &summary{count: 3, sum: 0.5, quantiles: [][2]float64{{0, 0.001}, {0.5, 0.25}, {1, 1}}}})
			}})
		}, "# HELP pause_seconds Pauses.\n# TYPE pause_seconds summary\n" +
			"pause_seconds{a=\"1\",b=\"2\",quantile=\"0\"} 0.001\npause_seconds{a=\"1\",b=\"2\",quantile=\"0.5\"} 0.25\n" +
			"pause_seconds{a=\"1\",b=\"2\",quantile=\"1\"} 1\npause_seconds_sum{a=\"1\",b=\"2\"} 0.5\npause_seconds_count{a=\"1\",b=\"2\"} 3\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewRegistry()
			tc.register(r)
			if got := exposition(t, r); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	r.MustRegister(NewGauge(Opts{Name: "g", Help: "G."}))
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if body := rec.Body.String(); body != "# HELP g G.\n# TYPE g gauge\ng 0\n" {
		t.Errorf("body %q", body)
	}
}

// A collector that emits one sample twice breaks the format; the scrape
// fails whole rather than show Prometheus a family it would reject.
func TestTwiceCollectedIsAnError(t *testing.T) {
	t.Parallel()
	d := NewDesc("g", "G.", GaugeValue, "l")
	r := NewRegistry()
	r.MustRegister(collectorFunc{[]*Desc{d}, func(s *Scrape) { s.Emit(d, 1, "x"); s.Emit(d, 2, "x") }})
	var b strings.Builder
	if err := r.Write(&b); err == nil || b.Len() != 0 {
		t.Errorf("err %v, wrote %q", err, b.String())
	}
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 500 {
		t.Errorf("status %d, want 500", rec.Code)
	}
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

func TestPanics(t *testing.T) {
	t.Parallel()
	mustPanic(t, "a collector registered twice", func() {
		c := NewCounter(Opts{Name: "c_total"})
		NewRegistry().MustRegister(c, c)
	})
	mustPanic(t, "two metrics of one name", func() {
		r := NewRegistry()
		r.MustRegister(NewCounter(Opts{Name: "x"}))
		r.MustRegister(NewGaugeVec(Opts{Name: "x"}, []string{"l"}))
	})
	mustPanic(t, "a collector describing one name twice", func() {
		d := NewDesc("x", "", GaugeValue)
		NewRegistry().MustRegister(collectorFunc{[]*Desc{d, NewDesc("x", "", CounterValue)}, func(*Scrape) {}})
	})
	v := NewCounterVec(Opts{Name: "c_total"}, []string{"a", "b"})
	mustPanic(t, "too few label values", func() { v.WithLabelValues("1") })
	mustPanic(t, "too many label values", func() { v.WithLabelValues("1", "2", "3") })
	mustPanic(t, "no label values", func() { NewGaugeVec(Opts{Name: "g"}, []string{"a"}).WithLabelValues() })
	mustPanic(t, "a negative Add to a counter", func() { NewCounter(Opts{Name: "c"}).Add(-1) })
	mustPanic(t, "a negative Add to a vector's counter", func() { v.WithLabelValues("1", "2").Add(-0.5) })
	mustPanic(t, "an invalid metric name", func() { NewCounter(Opts{Name: "a-b"}) })
	mustPanic(t, "an empty metric name", func() { NewGauge(Opts{}) })
	mustPanic(t, "a metric name starting with a digit", func() { NewGauge(Opts{Name: "1a"}) })
	mustPanic(t, "an invalid label name", func() { NewCounterVec(Opts{Name: "c"}, []string{"a:b"}) })
	mustPanic(t, "a reserved label name", func() { NewCounterVec(Opts{Name: "c"}, []string{"__name"}) })
	mustPanic(t, "a label named twice", func() { NewCounterVec(Opts{Name: "c"}, []string{"a", "b", "a"}) })
	mustPanic(t, "a custom collector's wrong label count", func() {
		d := NewDesc("x", "", GaugeValue, "l")
		r := NewRegistry()
		r.MustRegister(collectorFunc{[]*Desc{d}, func(s *Scrape) { s.Emit(d, 1) }})
		r.Write(&strings.Builder{})
	})
	mustPanic(t, "a sample of a family not described", func() {
		d := NewDesc("x", "", GaugeValue)
		r := NewRegistry()
		r.MustRegister(collectorFunc{nil, func(s *Scrape) { s.Emit(d, 1) }})
		r.Write(&strings.Builder{})
	})
	// A name valid with a colon, and a label value of any bytes, do not.
	NewCounter(Opts{Name: "job:requests:rate5m"})
	NewGaugeVec(Opts{Name: "g"}, []string{"_a1"}).WithLabelValues("\xff\x00")
}

// Two label lists whose joins would be equal are two children.
func TestChildrenKeyedByEveryValue(t *testing.T) {
	t.Parallel()
	v := NewCounterVec(Opts{Name: "c_total"}, []string{"a", "b"})
	v.WithLabelValues("ab", "").Inc()
	v.WithLabelValues("a", "b").Add(2)
	v.WithLabelValues("", "ab").Add(3)
	if a, b, c := v.WithLabelValues("ab", "").Value(), v.WithLabelValues("a", "b").Value(), v.WithLabelValues("", "ab").Value(); a != 1 || b != 2 || c != 3 {
		t.Errorf("children %v %v %v, want 1 2 3", a, b, c)
	}
}

// A label value that is not UTF-8 (a file name may hold any bytes) goes
// out with U+FFFD for its invalid bytes, as Prometheus would refuse the
// scrape; values differing only there are one series.
func TestLabelValuesAreValidUTF8(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	v := NewCounterVec(Opts{Name: "lines_total", Help: "h"}, []string{"source"})
	v.WithLabelValues("app\xff.log").Inc()
	v.WithLabelValues("app\xfe.log").Inc()
	r.MustRegister(v)
	want := "# HELP lines_total h\n# TYPE lines_total counter\nlines_total{source=\"app\uFFFD.log\"} 2\n"
	if got := exposition(t, r); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// A watcher forgets a gone file's series by the name it was made with.
	if !v.DeleteLabelValues("app\xff.log") {
		t.Error("the series of a name that is not UTF-8 cannot be deleted by that name")
	}
	if got := exposition(t, r); got != "" {
		t.Errorf("after the delete:\n%s", got)
	}
	// A collector's own samples go out valid too.
	r2 := NewRegistry()
	d := NewDesc("files", "h", GaugeValue, "name")
	r2.MustRegister(collectorFunc{[]*Desc{d}, func(s *Scrape) { s.Emit(d, 1, "x\xffy") }})
	if got, want := exposition(t, r2), "# HELP files h\n# TYPE files gauge\nfiles{name=\"x\uFFFDy\"} 1\n"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
