//go:build !unix

package main

import "os"

// reopenSignalName names the signal of the unix builds; there is none
// here, and the logs are never reopened.
const reopenSignalName = "SIGUSR1"

func notifyReopen(chan<- os.Signal) {}
