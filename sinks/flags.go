package sinks

import (
	"github.com/spf13/pflag"

	"github.com/graceguard/graceguard/alert"
)

// flagSet is the command-line flags one sink type contributes; set values
// add sinks beside those of the config file's sinks: list.
type flagSet interface {
	addFlags(fs *pflag.FlagSet)
	// configs returns the sinks the set flags make, and the problems of
	// flags given together wrongly (each naming the flag, never a secret).
	configs(minSev alert.Severity) ([]Config, []string)
}

// Flags are the command-line settings every registered sink type
// contributes (--slack-webhook-url, --webhook-url, --alerts-file, …); each
// also has a config key and a GRACEGUARD_* variable in cmd/graceguard.
type Flags struct {
	sets []flagSet
}

// NewFlags returns the flags of every registered sink type, unset.
func NewFlags() *Flags {
	f := &Flags{}
	for _, in := range integrations {
		if in.flags != nil {
			f.sets = append(f.sets, in.flags())
		}
	}
	return f
}

// AddFlags defines the flags on fs.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	for _, s := range f.sets {
		s.addFlags(fs)
	}
}

// Configs turns the set flags into sink configs (named slack, webhook,
// alerts-file and syslog), each at least minSev. Problems name the flag and
// never quote a secret.
func (f *Flags) Configs(minSev alert.Severity) ([]Config, error) {
	var cfgs []Config
	var problems []string
	for _, s := range f.sets {
		more, p := s.configs(minSev)
		problems = append(problems, p...)
		for _, c := range more {
			for _, p := range c.validate() {
				problems = append(problems, c.Origin+": "+p)
			}
		}
		cfgs = append(cfgs, more...)
	}
	if len(problems) > 0 {
		return nil, &ConfigError{problems}
	}
	return cfgs, nil
}
