package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// target is one server instance under test and how the generator reaches
// it.
type target struct {
	base  string      // http://host:port
	wsURL string      // ws://host:port/ws, or the protocol's endpoint
	proto protocol    // chatProtocol unless speak chose another
	src   *sourcePool // the source addresses its connections come from; nil: the system's choice
}

func parseTargets(list string, allowRemote bool) ([]target, error) {
	var ts []target
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimRight(strings.TrimSpace(s), "/")
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("server %q: want http://host:port", s)
		}
		if !allowRemote && !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("server %q is not a loopback address; pass -allow-remote to target it", s)
		}
		ts = append(ts, target{base: s, wsURL: endpoint(chatProtocol{}, *u), proto: chatProtocol{}})
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("no server given")
	}
	return ts, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// waitHealthy polls /healthz until it answers 200.
func waitHealthy(ctx context.Context, t target, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/healthz", nil)
		resp, err := httpClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/healthz did not answer 200 within %v (last error: %w)", t.base, timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// login signs a user in, registering it on first use, and returns its token.
func login(ctx context.Context, t target, user, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/api/session", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s/api/session as %s: %s: %s", t.base, user, resp.Status, bytes.TrimSpace(b))
	}
	var r struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Token == "" {
		return "", fmt.Errorf("POST %s/api/session as %s: no token in %s", t.base, user, b)
	}
	return r.Token, nil
}

var dialer = &websocket.Dialer{
	HandshakeTimeout: 15 * time.Second,
	ReadBufferSize:   16 << 10,
	WriteBufferSize:  4 << 10,
	WriteBufferPool:  &sync.Pool{},
}

// upgradeHeader is what a WebSocket upgrade to t sends besides the
// handshake's own fields: the session token, where t's protocol signs in,
// and an Origin the server allows.
func upgradeHeader(t target, token string) http.Header {
	h := http.Header{}
	if t.proto.signsIn() {
		h.Set("Authorization", "Bearer "+token)
	}
	h.Set("Origin", t.base)
	return h
}

// dialConn is dial for connections whose writes may come from two
// goroutines (see wsConn).
func dialConn(ctx context.Context, t target, token string) (*wsConn, error) {
	c, err := dial(ctx, t, token)
	if err != nil {
		return nil, err
	}
	return &wsConn{Conn: c, proto: t.proto}, nil
}

// dial opens a WebSocket as the holder of token and reads the server's
// greeting (the chat server's hello, Socket.IO's open and connect).
func dial(ctx context.Context, t target, token string) (*websocket.Conn, error) {
	d := dialer
	if t.src != nil {
		if u, err := url.Parse(t.wsURL); err == nil {
			own := *dialer
			own.NetDialContext = t.src.dialer(u.Hostname()).DialContext
			d = &own
		}
	}
	c, resp, err := d.DialContext(ctx, t.wsURL, upgradeHeader(t, token))
	if resp != nil {
		resp.Body.Close() // a no-op: gorilla has read what it keeps of the body
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("GET %s: %s", t.wsURL, resp.Status)
		}
		return nil, fmt.Errorf("GET %s: %w", t.wsURL, err)
	}
	if err := greet(c, t.proto, t.wsURL); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// greet reads the server's greeting within 15 s, answering it as proto
// says, and leaves c without a read deadline.
func greet(c *websocket.Conn, proto protocol, wsURL string) error {
	if err := c.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
		return fmt.Errorf("%s: %w", wsURL, err)
	}
	if msg := proto.opening(); msg != nil {
		if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
			return fmt.Errorf("%s: %w", wsURL, err)
		}
	}
	var frame []byte
	for ready := false; !ready; {
		var (
			reply []byte
			err   error
		)
		if frame, err = readFrame(c, frame); err != nil {
			return fmt.Errorf("%s: reading hello: %w", wsURL, err)
		}
		if reply, ready, err = proto.greet(frame); err != nil {
			return fmt.Errorf("%s: %w", wsURL, err)
		}
		if reply != nil {
			if err := c.WriteMessage(websocket.TextMessage, reply); err != nil {
				return fmt.Errorf("%s: %w", wsURL, err)
			}
		}
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("%s: %w", wsURL, err)
	}
	return nil
}

// readFrame reads the next data frame into buf, reusing its storage.
func readFrame(c *websocket.Conn, buf []byte) ([]byte, error) {
	_, r, err := c.NextReader()
	if err != nil {
		return buf[:0], err
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// forEach runs fn(i) for i in [0, n) on at most par goroutines and returns
// the first error.
func forEach(n, par int, fn func(i int) error) error {
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for range min(par, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				i, stop := next, next >= n || first != nil
				next++
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// procStat reads a process's resident set size in KiB and CPU time.
func procStat(pid int) (rssKiB int64, cpu time.Duration, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which ends at the last ')': state is
	// field 3, utime and stime are fields 14 and 15, in clock ticks of 1/100 s.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return rssKiB, time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// procStats sums procStat over pids.
func procStats(pids []int) (rssKiB int64, cpu time.Duration, err error) {
	for _, pid := range pids {
		r, c, err := procStat(pid)
		if err != nil {
			return 0, 0, err
		}
		rssKiB += r
		cpu += c
	}
	return rssKiB, cpu, nil
}
