package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/graceguard/graceguard/idp"
)

// reopenLogs reopens logs on every signal from sigs until ctx ends: after
// a rename rotation the logs would otherwise go on into the renamed files.
// A log that cannot be reopened is said and goes on into the file it had,
// so nothing is lost; the next signal tries again.
func reopenLogs(ctx context.Context, sigs <-chan os.Signal, logs []*idp.LogFile, diag *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sigs:
		}
		for _, l := range logs {
			if err := l.Reopen(); err != nil {
				diag.Error("reopening a log failed; still writing to the file it had, the next "+reopenSignalName+" tries again",
					"file", l.Path(), "err", err)
				continue
			}
			diag.Info("log reopened", "file", l.Path())
		}
	}
}
