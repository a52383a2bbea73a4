//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// The request and answer of the connect floor: as long as a WebSocket
// upgrade, with nothing to check.
const (
	floorRequest = "GET /v1/ws?topics=bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	floorAnswer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)

// acceptFloor is the server side of the connect floor: a goroutine per
// connection reads one request head and answers it, as a Go server does
// before any work of its own. It holds the connections until the client
// closes them.
func acceptFloor(addr string, n int) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	done, answered := make(chan struct{}, n), make(chan struct{}, n)
	var c0 time.Duration
	for i := range n {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		if i == 1 { // after the client's probe
			c0 = cpu()
		}
		go func() {
			defer func() { _ = c.Close(); done <- struct{}{} }()
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					answered <- struct{}{} // the client's probe, which sends nothing
					return
				}
				if len(line) <= 2 {
					break
				}
			}
			_, _ = c.Write([]byte(floorAnswer))
			answered <- struct{}{}
			var one [1]byte
			_, _ = c.Read(one[:]) // until the client leaves
		}()
	}
	for range n {
		<-answered
	}
	used := cpu() - c0
	fmt.Printf("{\"mode\":\"accept\",\"connections\":%d,\"server_cpu_per_conn_us\":%.1f}\n", n-1, float64(used.Nanoseconds())/float64(n-1)/1e3)
	for range n {
		<-done
	}
}

// connectFloor opens n connections at once with the cheapest client
// possible here — non-blocking sockets on one epoll, no goroutine or
// buffer per connection — sends each the request and waits for every
// answer. It prints how long that took and its own CPU per connection.
func connectFloor(addr string, n int) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		log.Fatal(err)
	}
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Fatal(err)
	}
	for wait := time.Now().Add(5 * time.Second); ; { // the server is still starting
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(wait) {
			log.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The probe above is one of the server's n connections.
	n--
	fds := make([]int, 0, n)
	c0, start := cpu(), time.Now()
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			log.Fatal(err)
		}
		if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
			log.Fatal(err)
		}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			log.Fatal(err)
		}
		fds = append(fds, fd)
	}
	sent := make(map[int32]bool, n)
	answered := 0
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 512)
	for answered < n {
		k, err := unix.EpollWait(ep, events, 5000)
		if err != nil && !errors.Is(err, unix.EINTR) {
			log.Fatal(err)
		}
		if k == 0 {
			log.Fatalf("no progress for 5s with %d of %d answered", answered, n)
		}
		for _, ev := range events[:max(k, 0)] {
			fd := int(ev.Fd)
			switch {
			case ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0:
				log.Fatalf("connection failed (events %#x)", ev.Events)
			case ev.Events&unix.EPOLLIN != 0:
				if m, err := unix.Read(fd, buf); err != nil || m == 0 {
					log.Fatalf("reading the answer: %d bytes, %v", m, err)
				}
				_ = unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, fd, nil)
				answered++
			case ev.Events&unix.EPOLLOUT != 0 && !sent[ev.Fd]:
				if _, err := unix.Write(fd, []byte(floorRequest)); err != nil {
					log.Fatal(err)
				}
				sent[ev.Fd] = true
				_ = unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: ev.Fd})
			}
		}
	}
	took, used := time.Since(start), cpu()-c0
	fmt.Printf("{\"mode\":\"connect\",\"connections\":%d,\"total_ms\":%.1f,\"client_cpu_per_conn_us\":%.1f}\n",
		n, float64(took.Microseconds())/1e3, float64(used.Nanoseconds())/float64(n)/1e3)
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}
