package correlate

// lru is a map whose entries keep the order they were last used in, so the
// least recently used can be evicted in O(1).
type lru[V any] struct {
	items map[string]*lruEntry[V]
	head  lruEntry[V] // sentinel: head.next is the most recent, head.prev the oldest
}

type lruEntry[V any] struct {
	key        string
	val        V
	prev, next *lruEntry[V]
}

func newLRU[V any]() *lru[V] {
	l := &lru[V]{items: make(map[string]*lruEntry[V])}
	l.head.next, l.head.prev = &l.head, &l.head
	return l
}

func (l *lru[V]) len() int { return len(l.items) }

// get returns the value for key and marks it most recently used.
func (l *lru[V]) get(key string) (V, bool) {
	e, ok := l.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	l.unlink(e)
	l.pushFront(e)
	return e.val, true
}

func (l *lru[V]) add(key string, v V) {
	e := &lruEntry[V]{key: key, val: v}
	l.items[key] = e
	l.pushFront(e)
}

func (l *lru[V]) oldest() (string, V, bool) {
	if l.head.prev == &l.head {
		var zero V
		return "", zero, false
	}
	return l.head.prev.key, l.head.prev.val, true
}

func (l *lru[V]) removeOldest() {
	e := l.head.prev
	if e == &l.head {
		return
	}
	l.unlink(e)
	delete(l.items, e.key)
}

func (l *lru[V]) unlink(e *lruEntry[V]) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (l *lru[V]) pushFront(e *lruEntry[V]) {
	e.next = l.head.next
	e.prev = &l.head
	l.head.next.prev = e
	l.head.next = e
}
