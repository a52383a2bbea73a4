//go:build !linux

package main

import "log"

func acceptFloor(string, int)  { log.Fatal("the connect floor needs Linux") }
func connectFloor(string, int) { log.Fatal("the connect floor needs Linux") }
