package bridge

// deque is a growable ring buffer. It shrinks when mostly empty, so a
// drained backlog gives its memory back.
type deque[T any] struct {
	buf  []T
	head int
	n    int
}

const dequeMinCap = 64

func (d *deque[T]) len() int { return d.n }

// at returns a pointer to element i (0 is the front).
func (d *deque[T]) at(i int) *T {
	return &d.buf[(d.head+i)&(len(d.buf)-1)]
}

func (d *deque[T]) pushBack(v T) {
	if d.n == len(d.buf) {
		d.resize(max(dequeMinCap, 2*len(d.buf)))
	}
	d.buf[(d.head+d.n)&(len(d.buf)-1)] = v
	d.n++
}

func (d *deque[T]) popFront() T {
	var zero T
	v := d.buf[d.head]
	d.buf[d.head] = zero
	d.head = (d.head + 1) & (len(d.buf) - 1)
	d.n--
	if len(d.buf) > dequeMinCap && d.n < len(d.buf)/4 {
		d.resize(len(d.buf) / 2)
	}
	return v
}

// resize moves the elements into a buffer of size c, a power of two >= n.
func (d *deque[T]) resize(c int) {
	buf := make([]T, c)
	for i := 0; i < d.n; i++ {
		buf[i] = d.buf[(d.head+i)&(len(d.buf)-1)]
	}
	d.buf, d.head = buf, 0
}

func (d *deque[T]) clear() {
	*d = deque[T]{}
}
