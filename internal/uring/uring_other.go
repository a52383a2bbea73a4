//go:build !linux

// Package uring submits many socket sends in one system call through
// Linux's io_uring; elsewhere New fails and callers write as usual.
package uring

import "errors"

// Ring is unavailable on this platform.
type Ring struct{}

// Send is one queued send.
type Send struct {
	Fd  int32
	Buf []byte
	Res int32
}

// New always fails here.
func New(int) (*Ring, error) { return nil, errors.New("io_uring needs Linux") }

func (*Ring) Size() int              { return 0 }
func (*Ring) Send(int32, []byte)     {}
func (*Ring) Len() int               { return 0 }
func (*Ring) Flush() ([]Send, error) { return nil, nil }
func (*Ring) Close() error           { return nil }
func (*Ring) Recv(int32, []byte)     {}
func (*Ring) Broken() error          { return nil }

// NotSubmitted is the result of an operation the kernel never took.
const NotSubmitted = -1 << 31
