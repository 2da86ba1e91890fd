package earlyheap

const (
	sysMadvise = 233
	sysMincore = 232
)
