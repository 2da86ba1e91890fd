package kube

import (
	"slices"
	"strings"
	"testing"

	klabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

var selectorCases = []struct {
	sel string
	ok  bool
}{
	{"app=openunison-orchestra", true},
	{"application=openunison-orchestra,app.kubernetes.io/instance in (a,b)", true},
	{"app == x", true},
	{"app!=x", true},
	{"app", true},
	{"!app", true},
	{"app notin (a, b ,c)", true},
	{"app in ()", true},
	{"app in (,)", true},
	{"app in (a,,b)", true},
	{"in in (in)", true},
	{"tier=", true},
	{"x>1,y<5", true},
	{"x>1,y<-5", false}, // -5 is no label value
	{"", true},
	{"  ", true},
	{"example.com/app=x", true},
	{"app=x\x00", true},          // a NUL ends the selector here,
	{"app=x\x00garbage(", false}, // but not there
	{"app\x00=x", true},
	{"x>a", false},
	{"x>", false},
	{"app in (", false},
	{"app in a", false},
	{"app=x y", false},
	{"app=(x)", false},
	{"=x", false},
	{"app,", false},
	{",app", false},
	{"app=x,", false},
	{"!app=x", false},
	{"app===x", false},
	{"App_1.x=Y-2", true},
	{"_app=x", false},
	{"app=-x", false},
	{"a/b/c=x", false},
	{"/app=x", false},
	{"Example.com/app=x", false},
	{"app=" + strings.Repeat("x", 64), false},
	{strings.Repeat("k", 64) + "=x", false},
	{"app=é", false},
	{"app!x", false},
	{"app<=3", false},
}

// checkSelector accepts the selectors apimachinery's labels.Parse accepts,
// and refuses the others.
func TestCheckSelector(t *testing.T) {
	t.Parallel()
	for _, tt := range selectorCases {
		err := checkSelector(tt.sel)
		if (err == nil) != tt.ok {
			t.Errorf("%q: %v, want ok %v", tt.sel, err, tt.ok)
		}
		if _, kerr := klabels.Parse(tt.sel); (kerr == nil) != (err == nil) {
			t.Errorf("%q: %v, but labels.Parse says %v", tt.sel, err, kerr)
		}
	}
}

func FuzzCheckSelectorMatchesLabelsParse(f *testing.F) {
	for _, tt := range selectorCases {
		f.Add(tt.sel)
	}
	f.Fuzz(func(t *testing.T, sel string) {
		err := checkSelector(sel)
		if _, kerr := klabels.Parse(sel); (kerr == nil) != (err == nil) {
			t.Fatalf("%q: %v, but labels.Parse says %v", sel, err, kerr)
		}
	})
}

var nameCases = []string{
	"openunison", "openunison-orchestra-7d9c-x2x4z", "a", "0", "a.b", "a..b", ".a", "a.", "-a", "a-", "A", "a_b",
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 127) + "a",
	"", "é", "a/b", "Not/A/Namespace", "Not_A_Pod",
}

// The names are checked as apimachinery's validation checks them, with
// its messages.
func TestNames(t *testing.T) {
	t.Parallel()
	for _, s := range nameCases {
		compareNames(t, s)
	}
}

func FuzzNamesMatchValidation(f *testing.F) {
	for _, s := range nameCases {
		f.Add(s)
	}
	f.Fuzz(compareNames)
}

func compareNames(t *testing.T, s string) {
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"label", dns1123Label(s), validation.IsDNS1123Label(s)},
		{"subdomain", dns1123Subdomain(s), validation.IsDNS1123Subdomain(s)},
		{"label key", labelKey(s), validation.IsQualifiedName(s)},
		{"label value", labelValue(s), validation.IsValidLabelValue(s)},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s %q:\n%q\nwant\n%q", c.what, s, c.got, c.want)
		}
	}
}
