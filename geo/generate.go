package geo

// The test and demo databases under testdata/geoip are generated, and
// committed so a fresh clone needs no generator run; testdb's tests fail when
// they drift from the layout.
//go:generate go run ./internal/gendb -out ../testdata/geoip
