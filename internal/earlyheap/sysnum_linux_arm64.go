package earlyheap

const (
	sysMadvise = 233
	sysMincore = 232
	sysOpenat  = 56
	sysRead    = 63
	sysClose   = 57
)
