package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	status := "Name:\treddot\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n"
	if n, err := parseVmRSS([]byte(status)); err != nil || n != 12345 {
		t.Fatalf("got %d, %v", n, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Fatal("no VmRSS line: want an error")
	}
	if _, err := parseVmRSS([]byte("VmRSS:\t12 MB\n")); err == nil {
		t.Fatal("unknown unit: want an error")
	}
}

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (red dot) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 0 0\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 325*10*time.Millisecond {
		t.Fatalf("got %v, %v; want 3.25s", got, err)
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u s 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if s.RSSKiB <= 0 {
		t.Fatalf("own RSS = %d KiB", s.RSSKiB)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("a PID that does not exist: want an error")
	}
}
