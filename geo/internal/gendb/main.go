// Command gendb writes graceguard's test GeoIP databases (see package
// testdb). go generate in the geo package runs it:
//
//	go run ./internal/gendb -out ../testdata/geoip
//
// With -table it prints the layout as a Markdown table instead.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/graceguard/graceguard/geo/testdb"
)

func main() {
	out := flag.String("out", "testdata/geoip", "directory to write the databases to")
	table := flag.Bool("table", false, "print the layout as a Markdown table and write nothing")
	flag.Parse()
	var err error
	if *table {
		err = testdb.WriteTable(os.Stdout)
	} else {
		err = testdb.WriteFiles(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendb:", err)
		os.Exit(1)
	}
}
