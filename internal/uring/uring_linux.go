// Package uring submits many socket sends in one system call through
// Linux's io_uring. It holds only what reddot's stream writers need: one
// ring, non-blocking sends, and their results. No Go module for io_uring is
// available to this project, so this is the smallest piece that does the
// job: the ring layout and constants come from <linux/io_uring.h>.
package uring

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring is one io_uring instance. It is not safe for concurrent use.
type Ring struct {
	fd      int
	sqHead  *uint32
	sqTail  *uint32
	sqMask  uint32
	sqArray []uint32
	sqes    []sqe
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    []cqe
	size    int
	mem     [][]byte
	pending []Send
}

// Send is one queued operation: a send of Buf to the socket Fd, or a
// receive into Buf. Res receives the byte count or a negative errno.
type Send struct {
	Fd  int32
	Buf []byte
	Res int32
	op  uint8
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqOffsets
	cqOff                                                                  cqOffsets
}

type sqOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type sqe struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, opFlags  uint32
	userData      uint64
	bufIndex      uint16
	personality   uint16
	spliceFdIn    int32
	addr3, pad2   uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

const (
	opSend         = 26     // IORING_OP_SEND
	opRecv         = 27     // IORING_OP_RECV
	setupSubmitAll = 1 << 7 // IORING_SETUP_SUBMIT_ALL: keep going past a failed SQE
	setupCoopTask  = 1 << 8 // IORING_SETUP_COOP_TASKRUN: no interrupt for completions
	featSingleMmap = 1 << 0 // IORING_FEAT_SINGLE_MMAP
	enterGetEvents = 1 << 0 // IORING_ENTER_GETEVENTS
	offSQEs        = 0x10000000
	sendFlags      = unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
)

func init() {
	if unsafe.Sizeof(params{}) != 120 || unsafe.Sizeof(sqe{}) != 64 || unsafe.Sizeof(cqe{}) != 16 {
		panic("uring: struct layout does not match the kernel's")
	}
}

// New sets up a ring for up to entries sends per Flush. It fails where the
// kernel has no io_uring, forbids it (kernel.io_uring_disabled, seccomp) or
// lacks the features used here (Linux 5.19 or later).
func New(entries int) (*Ring, error) {
	var p params
	p.flags = setupSubmitAll | setupCoopTask
	fd, _, errno := syscall.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd), size: int(p.sqEntries)}
	if p.features&featSingleMmap == 0 {
		r.Close()
		return nil, errors.New("io_uring: kernel too old (no single mmap)")
	}
	ringSize := max(int(p.sqOff.array+p.sqEntries*4), int(p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(cqe{}))))
	mem, err := unix.Mmap(r.fd, 0, ringSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	r.mem = append(r.mem, mem)
	sqesMem, err := unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	r.mem = append(r.mem, sqesMem)
	base := unsafe.Pointer(&mem[0])
	r.sqHead = (*uint32)(unsafe.Add(base, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(base, p.sqOff.ringMask))
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Add(base, p.sqOff.array)), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(base, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(base, p.cqOff.cqes)), p.cqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&sqesMem[0])), p.sqEntries)
	return r, nil
}

// Size is the most sends one Flush takes.
func (r *Ring) Size() int { return r.size }

// Send queues a send of buf to fd and returns its index for Results. buf
// must stay untouched until Flush returns; the caller must keep fd open
// until then.
func (r *Ring) Send(fd int32, buf []byte) {
	if len(r.pending) == r.size {
		panic("uring: more sends than the ring holds; Flush first")
	}
	r.pending = append(r.pending, Send{Fd: fd, Buf: buf, op: opSend})
}

// Recv queues a non-blocking receive into buf, like Send.
func (r *Ring) Recv(fd int32, buf []byte) {
	if len(r.pending) == r.size {
		panic("uring: more operations than the ring holds; Flush first")
	}
	r.pending = append(r.pending, Send{Fd: fd, Buf: buf, op: opRecv})
}

// Len is the number of queued sends.
func (r *Ring) Len() int { return len(r.pending) }

// Flush submits every queued operation in one system call and returns
// them with their results, valid until the next Send or Recv. Nothing
// waits: a socket whose buffer is full (or, for a receive, empty) yields
// -EAGAIN or a short count, and the caller carries on another way.
func (r *Ring) Flush() ([]Send, error) {
	n := uint32(len(r.pending))
	if n == 0 {
		return nil, nil
	}
	tail := atomic.LoadUint32(r.sqTail)
	for i := range r.pending {
		s := &r.pending[i]
		idx := (tail + uint32(i)) & r.sqMask
		e := &r.sqes[idx]
		*e = sqe{opcode: s.op, fd: s.Fd, len: uint32(len(s.Buf)), opFlags: sendFlags, userData: uint64(i)}
		if len(s.Buf) > 0 {
			e.addr = uint64(uintptr(unsafe.Pointer(&s.Buf[0])))
		}
		s.Res = -int32(unix.ECANCELED)
		r.sqArray[idx] = idx
	}
	atomic.StoreUint32(r.sqTail, tail+n)
	var err error
	for done := uint32(0); done < n; {
		// Non-blocking sends complete during submission, so waiting for
		// all of them does not block.
		submit := uint32(0)
		if done == 0 {
			submit = n
		}
		_, _, errno := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(submit), uintptr(n-done), enterGetEvents, 0, 0)
		if errno != 0 && errno != syscall.EINTR {
			err = fmt.Errorf("io_uring_enter: %w", errno)
			break
		}
		head := atomic.LoadUint32(r.cqHead)
		for ctail := atomic.LoadUint32(r.cqTail); head != ctail; head++ {
			c := &r.cqes[head&r.cqMask]
			if c.userData < uint64(n) {
				r.pending[c.userData].Res = c.res
				done++
			}
		}
		atomic.StoreUint32(r.cqHead, head)
	}
	runtime.KeepAlive(r.pending)
	out := r.pending
	r.pending = r.pending[:0]
	return out, err
}

// Close releases the ring.
func (r *Ring) Close() error {
	for _, m := range r.mem {
		_ = unix.Munmap(m)
	}
	r.mem = nil
	return syscall.Close(r.fd)
}
