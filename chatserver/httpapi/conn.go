package httpapi

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// hijackWriter hands gorilla/websocket's upgrader the connection wrapped in
// an upgradedConn.
type hijackWriter struct {
	http.ResponseWriter
	conn *upgradedConn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &upgradedConn{Conn: conn}
	return w.conn, brw, nil
}

// upgradedConn is the connection as gorilla/websocket sees it. Until attach,
// it is the connection (the handshake response goes straight out). After,
// gorilla writes only the close frame of a read protocol error, and that
// goes to the connection's queue, so that it can neither land inside a frame
// the server is part-way through writing nor be followed by another frame;
// the write deadline gorilla sets with it is the queue's business too.
type upgradedConn struct {
	net.Conn
	c atomic.Pointer[wsConn]
}

func (u *upgradedConn) attach(c *wsConn) { u.c.Store(c) }

func (u *upgradedConn) Write(p []byte) (int, error) {
	c := u.c.Load()
	switch {
	case c == nil:
		return u.Conn.Write(p)
	case len(p) < 4 || p[0] != 0x80|websocket.CloseMessage || p[1]&0x7f < 2:
		// Everything else goes through the queue (queue.go); a whole close
		// frame with a code comes in one write (gorilla's WriteControl).
		return 0, errors.New("httpapi: the connection writes only through its queue")
	}
	c.protocolError(int(binary.BigEndian.Uint16(p[2:4]))) // the queue writes the same close frame
	return len(p), nil
}

func (u *upgradedConn) SetWriteDeadline(t time.Time) error {
	if u.c.Load() != nil {
		return nil
	}
	return u.Conn.SetWriteDeadline(t)
}

func (u *upgradedConn) SetDeadline(t time.Time) error {
	if u.c.Load() != nil {
		return u.SetReadDeadline(t)
	}
	return u.Conn.SetDeadline(t)
}

// isGone reports whether a read error means the connection is gone or was
// closed properly: the client's close frame (answered by closeHandler), EOF,
// a closed socket, or silence past the pong timeout.
func isGone(err error) bool {
	var ce *websocket.CloseError
	var ne net.Error
	return errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// lingerTime bounds lingeringClose.
const lingerTime = 2 * time.Second

// lingeringClose closes a connection whose client may still be sending (the
// reader stopped at a protocol error, mid-frame): closing a socket with
// unread bytes makes the kernel answer with a reset, and a reset can destroy
// what the client has not yet read of the close frame. So it sends FIN
// first and discards what comes in until the client closes too, for at most
// lingerTime. (Over TLS terminated in process, CloseWrite sends close_notify
// instead, which may itself wait up to 5 s.)
func lingeringClose(conn net.Conn) {
	defer conn.Close()
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	if conn.SetReadDeadline(time.Now().Add(lingerTime)) != nil {
		return // closed already: nothing to wait for
	}
	// What the client still sends is discarded; a read error only ends the wait.
	_, _ = io.Copy(io.Discard, io.LimitReader(conn, 1<<20))
}
