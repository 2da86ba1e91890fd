//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// reopenSignalName is the signal idp serve reopens its logs on: nginx's,
// which logrotate's configs for nginx send in postrotate.
const reopenSignalName = "SIGUSR1"

func notifyReopen(c chan<- os.Signal) { signal.Notify(c, syscall.SIGUSR1) }
