// Command floor measures what one broadcast costs the kernel on this
// machine, with no push server involved: a sender accepts N loopback
// connections and writes one small SSE-sized message to every one of them
// at a fixed rate, either with one write(2) per connection or with
// io_uring batches (as reddot serve does); a receiver process reads them.
// It prints the sender's CPU per message and how long one pass over all
// connections took. scripts/floor.sh runs both sides pinned to separate
// cores. The figures bound what any server can reach here: see
// docs/performance.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/reddot-dev/reddot/internal/uring"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	mode := flag.String("mode", "uring", "send with write or uring, or run the receiver (client); accept and connect: the two sides of the connect floor")
	n := flag.Int("n", 10000, "connections")
	addr := flag.String("addr", "127.0.0.1:19990", "loopback address to listen on / dial")
	rate := flag.Int("rate", 2, "passes per second")
	dur := flag.Duration("d", 8*time.Second, "how long to send")
	flag.Parse()
	switch *mode {
	case "accept":
		acceptFloor(*addr, *n)
		return
	case "connect":
		connectFloor(*addr, *n)
		return
	}
	if *mode == "client" {
		done := make(chan struct{})
		for range *n {
			c, err := net.Dial("tcp", *addr)
			for wait := time.Now().Add(5 * time.Second); err != nil && time.Now().Before(wait); {
				time.Sleep(20 * time.Millisecond) // the sender is still starting
				c, err = net.Dial("tcp", *addr)
			}
			if err != nil {
				log.Fatal(err)
			}
			go func() { _, _ = io.Copy(io.Discard, c); done <- struct{}{} }()
		}
		for range *n {
			<-done
		}
		return
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	conns := make([]*net.TCPConn, 0, *n)
	fds := make([]int32, 0, *n)
	for len(conns) < *n {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		tc := c.(*net.TCPConn)
		rc, _ := tc.SyscallConn()
		_ = rc.Control(func(fd uintptr) { fds = append(fds, int32(fd)) })
		conns = append(conns, tc)
	}
	msg := []byte("id: AdNoD6oDAAlkZW1vLm5ld3MAAQACAA\nevent: message\ndata: {\"id\":\"01JDX0000000000000000000000\",\"topic\":\"bench\",\"seq\":12,\"data\":{\"t\":1795760191000000000,\"n\":5}}\n\n")
	var ring *uring.Ring
	if *mode == "uring" {
		if ring, err = uring.New(256); err != nil {
			log.Fatal(err)
		}
	}
	time.Sleep(time.Second) // let the receiver settle before measuring
	c0, passes, writes := cpu(), 0, 0
	var loop time.Duration
	t := time.NewTicker(time.Second / time.Duration(*rate))
	end := time.Now().Add(*dur)
	for now := range t.C {
		if now.After(end) {
			break
		}
		start := time.Now()
		for i := 0; i < len(conns); {
			if ring == nil {
				_, _ = conns[i].Write(msg)
				i++
				continue
			}
			for ; i < len(fds) && ring.Len() < ring.Size(); i++ {
				ring.Send(fds[i], msg)
			}
			sends, err := ring.Flush()
			if err != nil {
				log.Fatal(err)
			}
			for _, s := range sends {
				if s.Res != int32(len(msg)) {
					fmt.Fprintln(os.Stderr, "short send:", s.Res)
				}
			}
		}
		writes += len(conns)
		passes++
		loop += time.Since(start)
	}
	used := cpu() - c0
	fmt.Printf("{\"mode\":%q,\"connections\":%d,\"rate\":%d,\"messages\":%d,\"cpu_per_message_us\":%.2f,\"pass_ms\":%.1f}\n",
		*mode, *n, *rate, writes, float64(used.Nanoseconds())/float64(writes)/1e3, float64(loop.Microseconds())/float64(passes)/1e3)
	for _, c := range conns {
		_ = c.Close()
	}
}
