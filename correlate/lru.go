package correlate

// lru is a map whose entries keep the order they were last used in, so the
// least recently used can be evicted in O(1).
type lru[K comparable, V any] struct {
	items map[K]*lruEntry[K, V]
	head  lruEntry[K, V] // sentinel: head.next is the most recent, head.prev the oldest
}

type lruEntry[K comparable, V any] struct {
	key        K
	val        V
	prev, next *lruEntry[K, V]
}

func newLRU[K comparable, V any]() *lru[K, V] {
	l := &lru[K, V]{items: make(map[K]*lruEntry[K, V])}
	l.head.next, l.head.prev = &l.head, &l.head
	return l
}

func (l *lru[K, V]) len() int { return len(l.items) }

// get returns the value for key and marks it most recently used.
func (l *lru[K, V]) get(key K) (V, bool) {
	e, ok := l.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	l.unlink(e)
	l.pushFront(e)
	return e.val, true
}

func (l *lru[K, V]) add(key K, v V) {
	e := &lruEntry[K, V]{key: key, val: v}
	l.items[key] = e
	l.pushFront(e)
}

func (l *lru[K, V]) oldest() (K, V, bool) {
	if l.head.prev == &l.head {
		var zk K
		var zero V
		return zk, zero, false
	}
	return l.head.prev.key, l.head.prev.val, true
}

func (l *lru[K, V]) removeOldest() {
	e := l.head.prev
	if e == &l.head {
		return
	}
	l.unlink(e)
	delete(l.items, e.key)
}

func (l *lru[K, V]) unlink(e *lruEntry[K, V]) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (l *lru[K, V]) pushFront(e *lruEntry[K, V]) {
	e.next = l.head.next
	e.prev = &l.head
	l.head.next.prev = e
	l.head.next = e
}

// put sets the value of a key already present and marks it most recently
// used; false when the key is absent (the caller adds it, minding the cap).
func (l *lru[K, V]) put(key K, v V) bool {
	e, ok := l.items[key]
	if !ok {
		return false
	}
	e.val = v
	l.unlink(e)
	l.pushFront(e)
	return true
}

// touch returns key's entry, marked most recently used, or nil: a caller
// that reads the value and then sets it looks the key up once, not twice
// (the key's hash is most of a lookup's cost), and can share the stored
// key's strings instead of cloning them again.
func (l *lru[K, V]) touch(key K) *lruEntry[K, V] {
	e, ok := l.items[key]
	if !ok {
		return nil
	}
	l.unlink(e)
	l.pushFront(e)
	return e
}

// newest returns the most recently used entry.
func (l *lru[K, V]) newest() (K, V, bool) {
	if l.head.next == &l.head {
		var zk K
		var zero V
		return zk, zero, false
	}
	return l.head.next.key, l.head.next.val, true
}
