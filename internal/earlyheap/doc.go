// Package earlyheap asks Linux, before most of the Go heap is touched, to
// back it with transparent huge pages. Importing it (cmd/graceguard does,
// for its side effect) is all it takes.
//
// Why an initialiser of its own: on a machine whose page faults are slow
// (~10 µs each on a guest whose page tables its hypervisor shadows), the
// first 4 MiB the runtime maps for the heap were ~570 faults of a 100 MB
// scan, 4 KiB at a time, spread over the package initialisers and the
// scan. cmd's huge heap (hugeheap_linux.go) advises only what the heap
// grows by later, and advising those first pages from main came too late:
// they were already mapped one by one. This package imports nothing that
// has an initialiser (the madvise call is a few lines of assembly), so Go
// runs its initialiser before almost every other package's: it advises the
// heap's first arena (a mapping made later does not carry the advice, so
// only what the runtime has mapped so far gains), and collapses the 2 MiB
// holding the pages touched so far into one huge page.
//
// It must do nothing else: no allocation beyond one word, no imports with
// initialisers, and no failure it reports. Where THP is off, on other
// systems or architectures, or if a call fails, the heap is the same heap
// in small pages. GODEBUG=disablethp=1 (the runtime's switch) is honoured
// by cmd, which takes the advice back (Advised) before any other work;
// nothing here can read the environment this early.
package earlyheap
