package earlyheap

const (
	sysMadvise = 28
	sysMincore = 27
	sysOpenat  = 257
	sysRead    = 0
	sysClose   = 3
)
