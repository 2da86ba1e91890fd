package main

import "github.com/spf13/pflag"

// alertFlags are the flags scan and watch share: which rules judge, and
// how the alerts they raise are printed.
type alertFlags struct {
	format      string
	ruleFiles   []string
	minSeverity string
	timezone    string
	color       string
}

// addFlags defines them; rulesNote ends --rules' help.
func (a *alertFlags) addFlags(f *pflag.FlagSet, rulesNote string) {
	f.StringVar(&a.format, "format", "text", "alert format on stdout: text or json (one object per line)")
	f.StringArrayVar(&a.ruleFiles, "rules", nil, "rule `FILE` adding to, replacing or disabling the built-in rules ("+rulesNote+")")
	f.StringVar(&a.minSeverity, "min-severity", "info", "print alerts of at least this severity: info, low, medium, high, critical")
	f.StringVar(&a.timezone, "timezone", "UTC", "time zone OpenUnison's timestamps are in (IANA name, e.g. Europe/Berlin)")
	f.StringVar(&a.color, "color", "auto", "colour text alerts: auto (when stdout is a terminal), always or never")
}
