package earlyheap

const (
	sysMadvise = 28
	sysMincore = 27
)
