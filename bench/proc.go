package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTick = time.Second / 100

// ProcSample is one reading of a process's memory and CPU from /proc.
type ProcSample struct {
	RSSKiB int64         // VmRSS of /proc/PID/status
	CPU    time.Duration // utime+stime of /proc/PID/stat
}

// ReadProc samples process pid (Linux only).
func ReadProc(pid int) (ProcSample, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, err
	}
	rss, err := parseVmRSS(status)
	if err != nil {
		return ProcSample{}, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return ProcSample{}, err
	}
	return ProcSample{RSSKiB: rss, CPU: cpu}, nil
}

// parseVmRSS returns the VmRSS line of /proc/PID/status in KiB.
func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad VmRSS line %q", bytes.TrimSpace(line))
		}
		if len(f) > 1 && !bytes.EqualFold(f[1], []byte("kB")) {
			return 0, fmt.Errorf("unexpected VmRSS unit %q", f[1])
		}
		return n, nil
	}
	return 0, fmt.Errorf("no VmRSS in status (a kernel thread or a zombie?)")
}

// parseStatCPU returns utime+stime of a /proc/PID/stat line. The command
// name may hold spaces and parentheses, so fields count from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat line")
	}
	f := bytes.Fields(stat[i+1:])
	// After the name: state(3) ppid(4) … utime(14) stime(15); f[0] is field 3.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat line has %d fields after the name, want ≥ 13", len(f))
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed utime/stime in stat line")
	}
	return time.Duration(ut+st) * clockTick, nil
}
