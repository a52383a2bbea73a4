// Package uring submits many socket sends in one system call through
// Linux's io_uring. It holds only what reddot's stream writers need: one
// ring, non-blocking sends, and their results. No Go module for io_uring is
// available to this project, so this is the smallest piece that does the
// job: the ring layout and constants come from <linux/io_uring.h>.
package uring

import (
	"errors"
	"fmt"
	"math"
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
	gen     uint32 // Flush generation, in the high half of user_data
	broken  error  // set when the kernel stopped answering; nothing is submitted after
}

// NotSubmitted is the result of an operation the kernel never took: the
// caller may do it another way. A negative errno means it was attempted
// (-ECANCELED: attempted with an unknown outcome, after a failure of the
// ring itself).
const NotSubmitted = math.MinInt32

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
func (r *Ring) Send(fd int32, buf []byte) { r.queue(opSend, fd, buf) }

// Recv queues a non-blocking receive into buf, like Send.
func (r *Ring) Recv(fd int32, buf []byte) { r.queue(opRecv, fd, buf) }

func (r *Ring) queue(op uint8, fd int32, buf []byte) {
	if len(r.pending) == r.size {
		panic("uring: more operations than the ring holds; Flush first")
	}
	r.pending = append(r.pending, Send{Fd: fd, Buf: buf, op: op})
}

// Len is the number of queued sends.
func (r *Ring) Len() int { return len(r.pending) }

// Flush submits every queued operation and returns them with their
// results, valid until the next Send or Recv. Nothing waits: a socket whose
// buffer is full (or, for a receive, empty) yields -EAGAIN or a short
// count, and the caller carries on another way. Normally this is one
// system call. Whatever the kernel did not take is reported as
// NotSubmitted and taken back out of the ring, so the next Flush starts
// clean; when the ring itself fails, Flush returns the error and the ring
// refuses further work.
func (r *Ring) Flush() ([]Send, error) {
	out := r.pending
	r.pending = r.pending[:0]
	n := uint32(len(out))
	if n == 0 {
		return nil, nil
	}
	for i := range out {
		out[i].Res = NotSubmitted
	}
	if r.broken != nil {
		return out, r.broken
	}
	r.gen++
	start := atomic.LoadUint32(r.sqTail)
	for i := range out {
		s := &out[i]
		idx := (start + uint32(i)) & r.sqMask
		e := &r.sqes[idx]
		*e = sqe{opcode: s.op, fd: s.Fd, len: uint32(len(s.Buf)), opFlags: sendFlags, userData: uint64(r.gen)<<32 | uint64(i)}
		if len(s.Buf) > 0 {
			e.addr = uint64(uintptr(unsafe.Pointer(&s.Buf[0])))
		}
		r.sqArray[idx] = idx
	}
	atomic.StoreUint32(r.sqTail, start+n)

	var err error
	done := uint32(0)
	for tries := 0; ; {
		consumed := atomic.LoadUint32(r.sqHead) - start
		unconsumed := n - consumed
		if unconsumed == 0 && done == consumed {
			break
		}
		var flags, wait uintptr
		if unconsumed == 0 {
			// Everything is taken; non-blocking operations complete
			// during submission, so this rarely waits.
			flags, wait = enterGetEvents, uintptr(consumed-done)
		}
		_, _, errno := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(unconsumed), wait, flags, 0, 0)
		got := r.reap(out)
		done += got
		progress := got > 0 || atomic.LoadUint32(r.sqHead)-start != consumed
		switch {
		case errno == syscall.EINTR || (errno == 0 && progress):
			continue
		case errno == 0 || errno == syscall.EAGAIN || errno == syscall.EBUSY:
			// The kernel is short of memory or completion space, or took
			// nothing: retry a little, then give the rest back.
			if tries++; tries < 100 {
				continue
			}
			if errno == 0 {
				errno = syscall.EAGAIN
			}
		}
		// Take back what the kernel did not consume; wait no longer for
		// what it did: those keep -ECANCELED, outcome unknown.
		head := atomic.LoadUint32(r.sqHead)
		atomic.StoreUint32(r.sqTail, head)
		for i := head - start; i < n; i++ {
			out[i].Res = NotSubmitted
		}
		for i := uint32(0); i < head-start; i++ {
			if out[i].Res == NotSubmitted {
				out[i].Res = -int32(unix.ECANCELED)
			}
		}
		if head-start != done {
			r.broken = fmt.Errorf("io_uring_enter: %w (operations lost in the ring)", errno)
			return out, r.broken
		}
		err = fmt.Errorf("io_uring_enter: %w", errno)
		break
	}
	runtime.KeepAlive(out)
	return out, err
}

// reap records the completions of this generation and returns how many.
func (r *Ring) reap(out []Send) uint32 {
	got := uint32(0)
	head := atomic.LoadUint32(r.cqHead)
	for tail := atomic.LoadUint32(r.cqTail); head != tail; head++ {
		c := &r.cqes[head&r.cqMask]
		if uint32(c.userData>>32) == r.gen && uint32(c.userData) < uint32(len(out)) {
			out[uint32(c.userData)].Res = c.res
			got++
		}
	}
	atomic.StoreUint32(r.cqHead, head)
	return got
}

// Broken reports why the ring refuses work, or nil while it works.
func (r *Ring) Broken() error { return r.broken }

// Close releases the ring.
func (r *Ring) Close() error {
	for _, m := range r.mem {
		_ = unix.Munmap(m)
	}
	r.mem = nil
	return syscall.Close(r.fd)
}
