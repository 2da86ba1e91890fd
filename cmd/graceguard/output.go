package main

import (
	"io"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/sinks"
)

// resolveOutput checks the flags scan and watch share for printing alerts
// (--format, --min-severity, --color) and reading times (--timezone).
func resolveOutput(format, minSeverity, timezone, color string, out io.Writer) (sinks.WriterOptions, *time.Location, error) {
	var opt sinks.WriterOptions
	f, err := sinks.ParseFormat(format)
	if err != nil {
		return opt, nil, usageErrorf("--format: %w", err)
	}
	minSev, err := alert.ParseSeverity(minSeverity)
	if err != nil {
		return opt, nil, usageErrorf("--min-severity: %w", err)
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		return opt, nil, usageErrorf("--timezone %q: %v", timezone, err)
	}
	c, err := wantColor(color, out)
	if err != nil {
		return opt, nil, err
	}
	return sinks.WriterOptions{Format: f, Color: c, MinSeverity: minSev}, loc, nil
}
