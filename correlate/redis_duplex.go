package correlate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// duplex is one connection to Redis on which a watcher catching up writes
// each batch's commands without waiting for the replies of the batches
// before it, and a goroutine of its own reads the replies as they come:
// Redis runs one connection's commands in the order they arrive, so the
// batches apply in the order written, and Redis always has the next batch
// queued while the watcher reads the replies of the one before and builds
// the one after. go-redis cannot do this: its pipeline writes a batch,
// then reads all its replies, on a connection it holds meanwhile, and two
// of its pipelines in flight take two pooled connections, which Redis
// interleaves.
//
// It speaks RESP2 and only what a batch sends (commands whose replies are
// *redis.Cmd or *redis.StringCmd), with the client's dialer (TLS
// included), credentials, database, name and timeouts; go-redis hooks do
// not see these commands. A connection that fails (an I/O error, a
// timeout, a reply it cannot read) fails every batch written to it whose
// replies were not all read, and the next batch dials a new one.
type duplex struct {
	opt *redis.Options

	mu     sync.Mutex // the writers'
	conn   *duplexConn
	closed bool
}

// duplexConn is one connection and the batches written to it.
type duplexConn struct {
	nc      net.Conn
	rd      *bufio.Reader
	flights chan *flight // written (or being written), replies unread, in order
	opt     *redis.Options

	mu          sync.Mutex // over the fields below and the read deadline
	outstanding int        // flights whose replies are not all read
	err         error      // why the connection is dead; nil while it lives
	lastUsed    time.Time
}

// flight is a batch's commands on their way: sinks are the commands their
// replies go to, in order (nil: a reply only checked for an error); done
// is closed once every reply is read (or the batch failed), err the
// batch's first error, as a go-redis pipeline's Exec returns it.
type flight struct {
	sinks []redis.Cmder
	done  chan struct{}
	err   error
}

func (f *flight) finish(err error) {
	f.err = err
	close(f.done)
}

// wait waits for the flight's replies and returns its error.
func (f *flight) wait() error {
	<-f.done
	return f.err
}

// maxInFlight bounds the flights written to a connection and not yet read:
// a writer past it waits for the reader, which never waits for a writer.
const maxInFlight = 16

// newDuplex returns a duplex over the client's options, or nil when they
// ask for what it does not speak (credentials that change by themselves).
func newDuplex(opt *redis.Options) *duplex {
	if opt.StreamingCredentialsProvider != nil || opt.Dialer == nil {
		return nil
	}
	return &duplex{opt: opt}
}

// errDuplexClosed fails the batches sent after the store closed.
var errDuplexClosed = errors.New("redis: the store is closed")

// send writes wire, the commands whose replies go to sinks, after every
// batch sent before; the flight's wait tells how they went.
func (d *duplex) send(ctx context.Context, wire []byte, sinks []redis.Cmder) *flight {
	f := &flight{sinks: sinks, done: make(chan struct{})}
	if len(sinks) == 0 { // no reply will come to finish it
		f.finish(nil)
		return f
	}
	for _, c := range sinks {
		switch c.(type) {
		case nil, *redis.Cmd, *redis.StringCmd:
		default:
			f.finish(fmt.Errorf("redis: %q's reply (%T) cannot be read on a duplex connection", c.Name(), c))
			return f
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		f.finish(errDuplexClosed)
		return f
	}
	c, err := d.live(ctx)
	if err != nil {
		f.finish(err)
		return f
	}
	c.expect()
	c.flights <- f
	if wt := d.opt.WriteTimeout; wt > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(wt))
	}
	if _, err := c.nc.Write(wire); err != nil {
		// The reader fails this flight and those before it still unread.
		c.kill(fmt.Errorf("redis %s: write a batch: %w", d.opt.Addr, err))
	}
	return f
}

// live returns the connection to write to, dialling a new one when there
// is none, the last one failed, or it sat unused longer than the client lets
// a pooled connection (a server's timeout may have closed it).
func (d *duplex) live(ctx context.Context) (*duplexConn, error) {
	if c := d.conn; c != nil {
		c.mu.Lock()
		dead := c.err != nil || d.opt.ConnMaxIdleTime > 0 && c.outstanding == 0 && time.Since(c.lastUsed) > d.opt.ConnMaxIdleTime
		c.mu.Unlock()
		if !dead {
			return c, nil
		}
		d.retire()
	}
	c, err := dialDuplex(ctx, d.opt)
	if err != nil {
		return nil, err
	}
	d.conn = c
	go c.read()
	return c, nil
}

// retire closes the current connection; its reader fails what it still
// waits for and ends.
func (d *duplex) retire() {
	c := d.conn
	d.conn = nil
	c.kill(errors.New("redis: duplex connection retired"))
	close(c.flights)
}

// close closes the connection; batches sent after fail.
func (d *duplex) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.retire()
	}
	d.closed = true
}

// dialDuplex connects as go-redis would: the client's dialer, then AUTH,
// SELECT and CLIENT SETNAME as the options ask, answered before it returns.
func dialDuplex(ctx context.Context, opt *redis.Options) (*duplexConn, error) {
	dctx := ctx
	if opt.DialTimeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, opt.DialTimeout)
		defer cancel()
	}
	nc, err := opt.Dialer(dctx, opt.Network, opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("redis %s: dial: %w", opt.Addr, err)
	}
	c := &duplexConn{nc: nc, rd: bufio.NewReaderSize(nc, 64<<10), flights: make(chan *flight, maxInFlight), opt: opt, lastUsed: time.Now()}
	if err := c.handshake(dctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("redis %s: set up a connection: %w", opt.Addr, err)
	}
	return c, nil
}

func (c *duplexConn) handshake(ctx context.Context) error {
	opt := c.opt
	user, pass := opt.Username, opt.Password
	switch {
	case opt.CredentialsProviderContext != nil:
		var err error
		if user, pass, err = opt.CredentialsProviderContext(ctx); err != nil {
			return err
		}
	case opt.CredentialsProvider != nil:
		user, pass = opt.CredentialsProvider()
	}
	var cmds [][]any
	switch {
	case pass != "" && user != "":
		cmds = append(cmds, []any{"AUTH", user, pass})
	case pass != "":
		cmds = append(cmds, []any{"AUTH", pass})
	}
	if opt.DB > 0 {
		cmds = append(cmds, []any{"SELECT", opt.DB})
	}
	if opt.ClientName != "" {
		cmds = append(cmds, []any{"CLIENT", "SETNAME", opt.ClientName})
	}
	if len(cmds) == 0 {
		return nil
	}
	var b []byte
	for _, args := range cmds {
		var err error
		if b, err = appendCommand(b, args); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	_ = c.nc.SetDeadline(deadline)
	defer c.nc.SetDeadline(time.Time{})
	if _, err := c.nc.Write(b); err != nil {
		return err
	}
	for _, args := range cmds {
		v, err := readReply(c.rd)
		if err == nil {
			err, _ = v.(error)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
	}
	return nil
}

// expect counts a flight about to be written: while any waits, a read has
// the client's read timeout.
func (c *duplexConn) expect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outstanding++
	c.lastUsed = time.Now()
	if c.outstanding == 1 {
		c.deadlineLocked()
	}
}

// deadlineLocked bounds the next read by the read timeout while a flight
// waits, and not at all while none does (the reader then only watches for
// the server closing the connection).
func (c *duplexConn) deadlineLocked() {
	var t time.Time
	if rt := c.opt.ReadTimeout; rt > 0 && c.outstanding > 0 {
		t = time.Now().Add(rt)
	}
	_ = c.nc.SetReadDeadline(t)
}

// kill marks the connection dead with err (the first cause wins) and closes it.
func (c *duplexConn) kill(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.nc.Close()
}

func (c *duplexConn) dead() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// read reads the replies of the flights in order until the connection
// fails or is retired; then it fails every flight left.
func (c *duplexConn) read() {
	for {
		// Wait for a reply, or see the server close an idle connection.
		if _, err := c.rd.Peek(1); err != nil {
			c.kill(fmt.Errorf("redis %s: read replies: %w", c.opt.Addr, err))
			break
		}
		f, ok := <-c.flights
		if !ok {
			return
		}
		if err := c.readFlight(f); err != nil {
			c.kill(fmt.Errorf("redis %s: read replies: %w", c.opt.Addr, err))
			f.finish(c.dead())
			break
		}
	}
	err := c.dead()
	for f := range c.flights {
		f.finish(err)
	}
}

// readFlight reads a flight's replies into its commands; an error is the
// connection's (a reply that is a Redis error is the command's).
func (c *duplexConn) readFlight(f *flight) error {
	var first error
	for _, cmd := range f.sinks {
		if cmd == nil {
			answered, err := skipReply(c.rd)
			if err != nil {
				return err
			}
			if first == nil {
				first = answered
			}
			continue
		}
		v, err := readReply(c.rd)
		if err != nil {
			return err
		}
		if e, ok := v.(error); ok {
			cmd.SetErr(e)
		} else {
			switch cmd := cmd.(type) {
			case *redis.Cmd:
				if v == nil {
					cmd.SetErr(redis.Nil)
				} else {
					cmd.SetVal(v)
				}
			case *redis.StringCmd:
				if v == nil { // a nil bulk, as go-redis answers it
					cmd.SetErr(redis.Nil)
					break
				}
				s, ok := v.(string)
				if !ok {
					return fmt.Errorf("%w: %s answered %T", errProtocol, cmd.Name(), v)
				}
				cmd.SetVal(s)
			}
		}
		if first == nil {
			first = cmd.Err()
		}
	}
	c.mu.Lock()
	c.outstanding--
	c.lastUsed = time.Now()
	c.deadlineLocked()
	c.mu.Unlock()
	f.finish(first)
	return nil
}
